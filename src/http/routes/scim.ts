// SCIM 2.0 endpoint (RFC 7644) under /scim/v2. It lives outside /api: its own media
// type, its own error format and its own authentication rule (a tenant-admin's
// bearer credential; the tenant is the caller's own), all enforced in this plugin.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../platform/errors.js';
import { contextOf } from '../context.js';
import { access, WHO } from '../jsonapi.js';
import { mapError } from '../errors.js';
import { isAdminOf, TENANT_ADMIN } from '../../principals/principal.js';
import type { ScimContext } from '../../scim/context.js';
import { resourceTypes, schemas, serviceProviderConfig } from '../../scim/discovery.js';
import { ScimError, scimNotFound, type ScimType } from '../../scim/errors.js';
import { createGroup, deleteGroup, getGroup, listGroups, patchGroup, renderGroups, replaceGroup } from '../../scim/groups.js';
import { listResponse, projection, versionOf, type Projection } from '../../scim/resources.js';
import { createUser, deleteUser, getUser, listUsers, patchUser, renderUsers, replaceUser, type ListQuery } from '../../scim/users.js';

const SCIM_JSON = 'application/scim+json';
const tags = ['SCIM 2.0'];

const projectionQuery = z.object({
  attributes: z.string().max(2000).optional(),
  excludedAttributes: z.string().max(2000).optional(),
});
const listQuery = projectionQuery.extend({
  filter: z.string().max(4096).optional(),
  startIndex: z.coerce.number().int().optional(),
  count: z.coerce.number().int().optional(),
  sortBy: z.string().max(200).optional(),
  sortOrder: z.string().max(20).optional(),
});
const idParams = z.object({ id: z.string().max(200) });
const anyBody = z.unknown();

// The document's view of the answers. `send` writes them already serialized, so these schemas select no serializer's output.
const scimJson = (description: string, schema: z.ZodType = z.unknown()) => ({ description, content: { [SCIM_JSON]: { schema } } });
const scimError = z
  .object({
    schemas: z.array(z.literal('urn:ietf:params:scim:api:messages:2.0:Error')),
    status: z.string(),
    scimType: z.string().optional(),
    detail: z.string().optional(),
  })
  .meta({ id: 'ScimError' });
const SCIM_ERRORS: Record<number, string> = {
  400: 'Invalid request: filter, syntax or value (scimType names which)',
  401: 'No valid bearer credential',
  403: 'The caller is not a tenant-admin, or may not act on this target',
  404: "No such resource in the caller's tenant",
  409: 'A userName or displayName already taken (scimType uniqueness)',
  412: 'If-Match does not match the current version',
};
// Enforced by this plugin's onRequest hook; writes also go through the privilege policy.
const SCIM_CALLER = "Tenant-admins, with a bearer credential; the tenant is always the caller's own.";
const read = access([SCIM_CALLER]);
const write = access([SCIM_CALLER, WHO.policy]);
const scimErrors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, scimJson(SCIM_ERRORS[s]!, scimError)]));

function send(reply: FastifyReply, status: number, body: unknown) {
  return reply.code(status).type(SCIM_JSON).send(JSON.stringify(body));
}

// scimType (RFC 7644 §3.12) for the shared mapping's codes that have one.
const SCIM_TYPES: Partial<Record<string, ScimType>> = { invalid_json: 'invalidSyntax', invalid_value: 'invalidValue', conflict: 'uniqueness' };

function scimErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof ScimError) return send(reply, err.status, err.body());
  if (err instanceof AppError) {
    if (err.status === 401) reply.header('www-authenticate', 'Bearer realm="scim"');
    return send(reply, err.status, new ScimError(err.status, err.message).body());
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const detail = err.validation.map((v) => `${v.instancePath || err.validationContext}: ${v.message}`).join('; ');
    return send(reply, 400, new ScimError(400, detail, 'invalidValue').body());
  }
  // Everything else (Fastify's 4xx, values the database refuses, unique-index races, outages,
  // unknown errors) is mapped once, with the main error handler, then rendered as SCIM.
  // IdPs retry provisioning on 503, so an outage does not lose changes.
  const m = mapError(err, request);
  if (m.retryAfter) reply.header('retry-after', String(m.retryAfter));
  const scimType = err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'invalidSyntax' : SCIM_TYPES[m.code];
  return send(reply, m.status, new ScimError(m.status, m.detail ?? m.title, scimType).body());
}

export default async function scimRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const base = `${app.config.PUBLIC_URL}/scim/v2`;
  const argon = { memoryCost: app.config.ARGON2_MEMORY_KIB, timeCost: app.config.ARGON2_ITERATIONS, parallelism: app.config.ARGON2_PARALLELISM };

  app.addContentTypeParser(SCIM_JSON, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  app.setErrorHandler(scimErrorHandler);
  app.setNotFoundHandler((request, reply) => send(reply, 404, scimNotFound(`Endpoint ${request.method} ${request.url.split('?')[0]}`).body()));

  app.addHook('onRequest', async (request) => {
    const v = await app.authenticate(request);
    if (!v) throw new AppError(401, 'unauthorized', 'Unauthorized', 'A bearer token is required');
    if (!v.ok) throw new AppError(401, 'unauthorized', 'Unauthorized', 'The credential is not valid');
    // The tenant is always the caller's own: SCIM has no way to name another one.
    if (!isAdminOf(v.principal, v.principal.tenantId)) throw new AppError(403, 'forbidden', 'Forbidden', `SCIM requires the ${TENANT_ADMIN} role`);
    request.principal = v.principal;
    request.tenantId = v.principal.tenantId;
  });

  const ctxOf = (request: FastifyRequest): ScimContext => ({ ...contextOf(request), base, argon });
  const ifMatch = (request: FastifyRequest) => {
    const h = request.headers['if-match'];
    return Array.isArray(h) ? h.join(',') : h;
  };
  const notModified = (request: FastifyRequest, version: string) => {
    const h = request.headers['if-none-match'];
    return typeof h === 'string' && h.split(',').some((v) => v.trim().replace(/^W\//, '') === version.replace(/^W\//, ''));
  };

  /** Search parameters from a POST .search body (RFC 7644 §3.4.3). */
  function searchBody(body: unknown): ListQuery & { attributes?: string; excludedAttributes?: string } {
    const parsed = z
      .object({
        schemas: z.array(z.string()).refine((s) => s.includes('urn:ietf:params:scim:api:messages:2.0:SearchRequest'), 'must contain the SearchRequest schema'),
        filter: z.string().max(4096).optional(),
        startIndex: z.number().int().optional(),
        count: z.number().int().optional(),
        sortBy: z.string().max(200).optional(),
        sortOrder: z.string().max(20).optional(),
        attributes: z.array(z.string()).optional(),
        excludedAttributes: z.array(z.string()).optional(),
      })
      .safeParse(body);
    if (!parsed.success) throw new ScimError(400, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), 'invalidSyntax');
    const { attributes, excludedAttributes, ...rest } = parsed.data;
    return { ...rest, attributes: attributes?.join(','), excludedAttributes: excludedAttributes?.join(',') };
  }

  for (const kind of ['Users', 'Groups'] as const) {
    const isUser = kind === 'Users';
    const list = isUser ? listUsers : listGroups;
    // The row is a User or a UserGroup according to `isUser`, which the type system cannot follow here.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const render = (ctx: ScimContext, row: any, p: Projection) => (isUser ? renderUsers(ctx, [row], p) : renderGroups(ctx, [row], p)).then((x) => x[0]);
    const respond = async (request: FastifyRequest, reply: FastifyReply, status: number, row: { id: string; updatedAt: Date }, p: Projection) => {
      reply.header('etag', versionOf(row));
      if (status === 201) reply.header('location', `${base}/${kind}/${row.id}`);
      return send(reply, status, await render(ctxOf(request), row, p));
    };
    const what = isUser ? 'User' : 'Group';

    r.get(
      `/${kind}`,
      {
        schema: {
          tags,
          summary: `List or filter ${kind}`,
          operationId: `Scim${kind}List`,
          description: read,
          querystring: listQuery,
          response: { 200: scimJson('A ListResponse'), ...scimErrors(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const q = request.query;
        return send(reply, 200, await list(ctxOf(request), q, projection(q.attributes, q.excludedAttributes)));
      },
    );

    r.post(
      `/${kind}/.search`,
      {
        schema: {
          tags,
          summary: `Search ${kind}`,
          operationId: `Scim${kind}Search`,
          description: read,
          body: anyBody,
          response: { 200: scimJson('A ListResponse'), ...scimErrors(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const q = searchBody(request.body);
        return send(reply, 200, await list(ctxOf(request), q, projection(q.attributes, q.excludedAttributes)));
      },
    );

    r.post(
      `/${kind}`,
      {
        schema: {
          tags,
          summary: `Create a ${what}`,
          operationId: `Scim${what}Create`,
          description: write,
          querystring: projectionQuery,
          body: anyBody,
          response: { 201: scimJson(`The new ${what}; ETag and Location in the headers`), ...scimErrors(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        const row = isUser ? await createUser(ctxOf(request), request.body) : await createGroup(ctxOf(request), request.body);
        return respond(request, reply, 201, row, projection(request.query.attributes, request.query.excludedAttributes));
      },
    );

    r.get(
      `/${kind}/:id`,
      {
        schema: {
          tags,
          summary: `Get a ${what}`,
          operationId: `Scim${what}Get`,
          description: read,
          params: idParams,
          querystring: projectionQuery,
          response: {
            200: scimJson(`The ${what}; its version in the ETag header`),
            304: z.null().describe('If-None-Match names the current version'),
            ...scimErrors(401, 403, 404),
          },
        },
      },
      async (request, reply) => {
        const row = isUser ? await getUser(ctxOf(request), request.params.id) : await getGroup(ctxOf(request), request.params.id);
        if (notModified(request, versionOf(row))) return reply.code(304).header('etag', versionOf(row)).send();
        return respond(request, reply, 200, row, projection(request.query.attributes, request.query.excludedAttributes));
      },
    );

    r.put(
      `/${kind}/:id`,
      {
        schema: {
          tags,
          summary: `Replace a ${what}`,
          operationId: `Scim${what}Replace`,
          description: write,
          params: idParams,
          querystring: projectionQuery,
          body: anyBody,
          response: { 200: scimJson(`The replaced ${what}`), ...scimErrors(400, 401, 403, 404, 409, 412) },
        },
      },
      async (request, reply) => {
        const ctx = ctxOf(request);
        const row = isUser
          ? await replaceUser(ctx, request.params.id, request.body, ifMatch(request))
          : await replaceGroup(ctx, request.params.id, request.body, ifMatch(request));
        return respond(request, reply, 200, row, projection(request.query.attributes, request.query.excludedAttributes));
      },
    );

    r.patch(
      `/${kind}/:id`,
      {
        schema: {
          tags,
          summary: `Modify a ${what}`,
          operationId: `Scim${what}Patch`,
          description: write,
          params: idParams,
          querystring: projectionQuery,
          body: anyBody,
          response: { 200: scimJson(`The modified ${what}`), ...scimErrors(400, 401, 403, 404, 409, 412) },
        },
      },
      async (request, reply) => {
        const ctx = ctxOf(request);
        const row = isUser
          ? await patchUser(ctx, request.params.id, request.body, ifMatch(request))
          : await patchGroup(ctx, request.params.id, request.body, ifMatch(request));
        return respond(request, reply, 200, row, projection(request.query.attributes, request.query.excludedAttributes));
      },
    );

    r.delete(
      `/${kind}/:id`,
      {
        schema: {
          tags,
          summary: `Delete a ${what}`,
          operationId: `Scim${what}Delete`,
          description: write,
          params: idParams,
          response: { 204: z.null().describe('Deleted'), ...scimErrors(401, 403, 404, 412) },
        },
      },
      async (request, reply) => {
        if (isUser) await deleteUser(ctxOf(request), request.params.id, ifMatch(request));
        else await deleteGroup(ctxOf(request), request.params.id, ifMatch(request));
        return reply.code(204).send(null);
      },
    );
  }

  // Advertised as unsupported in ServiceProviderConfig; RFC 7644 §3.11 and §3.7 ask for 501.
  for (const path of ['/Me', '/Bulk']) {
    r.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url: path,
      schema: { hide: true },
      handler: async () => {
        throw new ScimError(501, `${path.slice(1)} is not supported`);
      },
    });
  }

  r.get(
    '/ServiceProviderConfig',
    {
      schema: {
        tags,
        operationId: 'ScimServiceProviderConfig',
        summary: 'Get the service provider configuration',
        description: read,
        response: { 200: scimJson('What this service provider supports'), ...scimErrors(401, 403) },
      },
    },
    async (_request, reply) => send(reply, 200, serviceProviderConfig(base)),
  );

  r.get(
    '/ResourceTypes',
    {
      schema: {
        tags,
        operationId: 'ScimResourceTypes',
        summary: 'List the resource types',
        description: read,
        response: { 200: scimJson('A ListResponse of the resource types'), ...scimErrors(401, 403) },
      },
    },
    async (_request, reply) => {
      const all = resourceTypes(base);
      return send(reply, 200, listResponse(all.length, 1, all));
    },
  );
  r.get(
    '/ResourceTypes/:id',
    {
      schema: {
        tags,
        operationId: 'ScimResourceType',
        summary: 'Get a resource type',
        description: read,
        params: idParams,
        response: { 200: scimJson('The resource type'), ...scimErrors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const hit = resourceTypes(base).find((t) => t.id.toLowerCase() === request.params.id.toLowerCase());
      if (!hit) throw scimNotFound('ResourceType');
      return send(reply, 200, hit);
    },
  );

  r.get(
    '/Schemas',
    {
      schema: {
        tags,
        operationId: 'ScimSchemas',
        summary: 'List the schemas',
        description: read,
        response: { 200: scimJson('A ListResponse of the schemas'), ...scimErrors(401, 403) },
      },
    },
    async (_request, reply) => {
      const all = schemas(base);
      return send(reply, 200, listResponse(all.length, 1, all));
    },
  );
  r.get(
    '/Schemas/:id',
    {
      schema: {
        tags,
        operationId: 'ScimSchema',
        summary: 'Get a schema',
        description: read,
        params: idParams,
        response: { 200: scimJson('The schema'), ...scimErrors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const hit = schemas(base).find((s) => s.id.toLowerCase() === request.params.id.toLowerCase());
      if (!hit) throw scimNotFound('Schema');
      return send(reply, 200, hit);
    },
  );
}
