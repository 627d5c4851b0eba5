import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contextOf } from '../context.js';
import { createTenant, deleteTenant, findTenant, listTenants, tenantAttributes, updateTenant } from '../../tenants/service.js';
import { tenantAttributes as attributesSchema, tenantCreate, tenantUpdate } from '../../tenants/schemas.js';
import {
  access,
  documentSchema,
  errors,
  inputDocument,
  jsonApi,
  listDocument,
  listSchema,
  noContent,
  pageQuery,
  resource,
  resourceSchema,
  sendJsonApi,
  skipTake,
  WHO,
} from '../jsonapi.js';

const tenantResource = resourceSchema('tenants', attributesSchema).meta({ id: 'Tenant' });
const idParams = z.object({ id: z.string().max(64) });
const tags = ['Tenants (operator)'];

export default async function tenantRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const toResource = (t: Parameters<typeof tenantAttributes>[0]) => resource('tenants', t.id, tenantAttributes(t));

  r.get(
    '/api/v3/tenants',
    {
      config: { auth: 'sky' },
      schema: {
        tags,
        operationId: 'ListTenants',
        summary: 'List tenants',
        description: access([WHO.sky]),
        querystring: pageQuery,
        response: { 200: jsonApi('A page of the tenants', listSchema(tenantResource)), ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { skip, take } = skipTake(request.query);
      const { total, rows } = await listTenants(app.db.prisma, skip, take);
      return sendJsonApi(reply, 200, listDocument(request, request.query, total, rows.map(toResource)));
    },
  );

  r.post(
    '/api/v3/tenants',
    {
      config: { auth: 'sky' },
      schema: {
        tags,
        operationId: 'CreateTenant',
        summary: 'Create a tenant',
        description: access([WHO.sky]),
        body: inputDocument('tenants', tenantCreate),
        response: { 201: jsonApi('The new tenant', documentSchema(tenantResource)), ...errors(400, 401, 403, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const tenant = await createTenant(contextOf(request), request.body.data.attributes, app.config);
      reply.header('location', `/api/v3/tenants/${tenant.id}`);
      return sendJsonApi(reply, 201, { data: toResource(tenant) });
    },
  );

  r.get(
    '/api/v3/tenants/:id',
    {
      config: { auth: 'sky' },
      schema: {
        tags,
        operationId: 'GetTenant',
        summary: 'Get a tenant',
        description: access([WHO.sky]),
        params: idParams,
        response: { 200: jsonApi('The tenant', documentSchema(tenantResource)), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, { data: toResource(await findTenant(app.db.prisma, request.params.id)) }),
  );

  r.patch(
    '/api/v3/tenants/:id',
    {
      config: { auth: 'sky' },
      schema: {
        tags,
        operationId: 'UpdateTenant',
        summary: 'Update a tenant',
        description: access([WHO.sky]),
        params: idParams,
        body: inputDocument('tenants', tenantUpdate),
        response: { 200: jsonApi('The updated tenant', documentSchema(tenantResource)), ...errors(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const tenant = await updateTenant(contextOf(request), request.params.id, request.body.data.attributes, app.config);
      return sendJsonApi(reply, 200, { data: toResource(tenant) });
    },
  );

  r.delete(
    '/api/v3/tenants/:id',
    {
      config: { auth: 'sky' },
      schema: {
        tags,
        operationId: 'DeleteTenant',
        summary: 'Delete a tenant',
        description: access([WHO.sky]),
        params: idParams,
        response: { 204: noContent('Deleted'), ...errors(401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      await deleteTenant(contextOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
}
