import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contextOf } from '../context.js';
import { createRole, deleteRole, findRole, listFeatureRoles, listRoles, roleAttributes, updateRole } from '../../roles/service.js';
import { featureRoleAttributes, listRolesQuery, roleAttributes as attributesSchema, roleCreate, roleUpdate } from '../../roles/schemas.js';
import {
  access,
  documentSchema,
  errors,
  inputDocument,
  jsonApi,
  listDocument,
  listSchema,
  resource,
  resourceSchema,
  sendJsonApi,
  skipTake,
  WHO,
} from '../jsonapi.js';

const roleResource = resourceSchema('roles', attributesSchema).meta({ id: 'CustomRole' });
const featureRoleResource = resourceSchema('featureRoles', featureRoleAttributes).meta({ id: 'FeatureRole' });
const idParams = z.object({ id: z.string().max(128) });
const tags = ['RoleService'];

export default async function roleRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const toResource = (role: Parameters<typeof roleAttributes>[0]) => resource('roles', role.id, roleAttributes(role));

  r.get(
    '/api/v3/roles',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'ListRoles',
        summary: 'List custom roles',
        description: access(
          [WHO.admin],
          'Custom roles of the tenant. `NameFilter` is a regular expression (at most 200 characters; patterns with nested quantifiers are refused); `FeatureRolesFilter` is a comma-separated list of feature roles a role must all contain.',
        ),
        querystring: listRolesQuery,
        response: { 200: jsonApi('A page of the matching custom roles', listSchema(roleResource)), ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const featureRoles = q.FeatureRolesFilter?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const { total, rows } = await listRoles(app.db.prisma, request.tenantId!, { ...skipTake(q), nameFilter: q.NameFilter || undefined, featureRoles });
      const filters: Record<string, unknown> = {};
      if (q.NameFilter) filters.NameFilter = q.NameFilter;
      if (featureRoles?.length) filters.FeatureRolesFilter = featureRoles;
      return sendJsonApi(reply, 200, listDocument(request, q, total, rows.map(toResource), filters));
    },
  );

  r.get(
    '/api/v3/roles/feature-roles',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'ListFeatureRoles',
        summary: 'List the feature-role catalogue',
        description: access([WHO.anyone]),
        response: { 200: jsonApi('The feature-role catalogue', z.object({ data: z.array(featureRoleResource) })), ...errors(401, 403) },
      },
    },
    async (_request, reply) => {
      const rows = await listFeatureRoles(app.db.prisma);
      return sendJsonApi(reply, 200, { data: rows.map((f) => resource('featureRoles', f.name, f)) });
    },
  );

  r.post(
    '/api/v3/roles',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'CreateRole',
        summary: 'Create a custom role',
        description: access([WHO.admin, WHO.policy]),
        body: inputDocument('roles', roleCreate),
        response: { 201: jsonApi('The new custom role', documentSchema(roleResource)), ...errors(400, 401, 403, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const role = await createRole(contextOf(request), request.body.data.attributes);
      reply.header('location', `/api/v3/roles/${role.id}`);
      return sendJsonApi(reply, 201, { data: toResource(role) });
    },
  );

  r.get(
    '/api/v3/roles/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'GetRole',
        summary: 'Get a custom role',
        description: access([WHO.admin]),
        params: idParams,
        response: { 200: jsonApi('The custom role', documentSchema(roleResource)), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, { data: toResource(await findRole(app.db.prisma, request.tenantId!, request.params.id)) }),
  );

  r.patch(
    '/api/v3/roles/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'UpdateRole',
        summary: 'Update a custom role',
        description: access([WHO.admin, WHO.policy], "Renaming keeps the role's assignments to users, groups and service accounts."),
        params: idParams,
        body: inputDocument('roles', roleUpdate),
        response: { 200: jsonApi('The updated custom role', documentSchema(roleResource)), ...errors(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      sendJsonApi(reply, 200, { data: toResource(await updateRole(contextOf(request), request.params.id, request.body.data.attributes)) }),
  );

  r.delete(
    '/api/v3/roles/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'DeleteRole',
        summary: 'Delete a custom role',
        description: access([WHO.admin, WHO.policy], 'Deletes a custom role and removes it from every user, group and service account.'),
        params: idParams,
        response: { 200: jsonApi('Deleted (the answer the PCA API gives)', z.literal('Custom role successfully deleted')), ...errors(401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      await deleteRole(contextOf(request), request.params.id);
      return sendJsonApi(reply, 200, JSON.stringify('Custom role successfully deleted'));
    },
  );
}
