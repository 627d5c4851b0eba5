import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { auditEventAttributes, listAuditEvents } from '../../audit/query.js';
import { auditEventAttributes as attributesSchema, auditFilter, auditSearch, type AuditFilter } from '../../audit/schemas.js';
import { errors, jsonApi, listDocument, listSchema, pageQuery, resource, resourceSchema, sendJsonApi, skipTake, type PageQuery } from '../jsonapi.js';

const eventResource = resourceSchema('audit-events', attributesSchema).meta({ id: 'AuditEvent' });
const tags = ['AuditService'];
const WHO =
  'Readable by holders of the `audit-view` feature role and tenant-admins, for their own tenant; a skylight-admin reads every tenant (or one: `tenantId`, or X-Forwarded-Tenant-Id). Newest first.';

export default async function auditEventRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();

  async function page(request: FastifyRequest, query: PageQuery, filter: AuditFilter) {
    const { skip, take } = skipTake(query);
    const ctx = { prisma: app.db.prisma, principal: request.principal!, tenantId: request.tenantId! };
    const { total, exact, rows } = await listAuditEvents(ctx, filter, skip, take);
    return { total, lowerBound: !exact, data: rows.map((e) => resource('audit-events', e.id, auditEventAttributes(e))) };
  }

  r.get(
    '/api/v3/audit-events',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'ListAuditEvents',
        summary: 'List audit events',
        description: `${WHO} Filters are query parameters and combine with AND; \`from\` is inclusive, \`to\` exclusive.`,
        querystring: pageQuery.extend(auditFilter.shape),
        response: { 200: jsonApi('A page of the matching audit events', listSchema(eventResource)), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { page: n, pageSize, ...filter } = request.query;
      const { total, lowerBound, data } = await page(request, { page: n, pageSize }, filter);
      return sendJsonApi(reply, 200, listDocument(request, request.query, total, data, {}, { lowerBound }));
    },
  );

  r.post(
    '/api/v3/audit-events/search',
    {
      config: { auth: 'user', cacheNeutral: true },
      schema: {
        tags,
        operationId: 'SearchAuditEvents',
        summary: 'Search audit events',
        description: `${WHO} The criteria of the list, in the body; they combine with AND.`,
        querystring: pageQuery,
        body: auditSearch,
        response: { 200: jsonApi('A page of the matching audit events', listSchema(eventResource)), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const criteria = request.body.data;
      const { total, lowerBound, data } = await page(request, request.query, criteria);
      return sendJsonApi(reply, 200, listDocument(request, request.query, total, data, criteria, { lowerBound }));
    },
  );
}
