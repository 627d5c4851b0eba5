import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contextOf } from '../context.js';
import { isAdminOf } from '../../principals/principal.js';
import {
  addGroupMembers,
  createGroup,
  deleteGroup,
  findGroup,
  groupAttributes,
  groupMembers,
  removeGroupMember,
  searchGroups,
  updateGroup,
} from '../../groups/service.js';
import { groupAttributes as attributesSchema, groupCreate, groupSearch, groupUpdate } from '../../groups/schemas.js';
import { notFound } from '../../platform/errors.js';
import { userAttributes } from '../../users/service.js';
import { bulkBody, bulkResult, userAttributes as userAttributesSchema } from '../../users/schemas.js';
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

const groupResource = resourceSchema('usergroups', attributesSchema).meta({ id: 'Usergroup' });
const userResource = resourceSchema('users', userAttributesSchema);
const idParams = z.object({ id: z.string().max(64) });
const tags = ['UsergroupService'];

export default async function usergroupRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const toResource = (g: Parameters<typeof groupAttributes>[0]) => resource('usergroups', g.id, groupAttributes(g));

  r.post(
    '/api/v3/usergroups',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'CreateUsergroup',
        summary: 'Create a user group',
        description: access([WHO.admin, WHO.policy]),
        body: inputDocument('usergroups', groupCreate),
        response: { 201: jsonApi('The new group', documentSchema(groupResource)), ...errors(400, 401, 403, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const g = await createGroup(contextOf(request), request.body.data.attributes);
      reply.header('location', `/api/v3/usergroups/${g.id}`);
      return sendJsonApi(reply, 201, { data: toResource(g) });
    },
  );

  r.post(
    '/api/v3/usergroups/search',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'SearchUsergroups',
        summary: 'Search user groups',
        description: access([WHO.admin], 'Criteria: `name` (case-insensitive substring), `userId` (exact: groups the user belongs to).'),
        querystring: pageQuery,
        body: groupSearch,
        response: { 200: jsonApi('A page of the matching groups', listSchema(groupResource)), ...errors(400, 401, 403, 413, 415) },
      },
    },
    async (request, reply) => {
      const { skip, take } = skipTake(request.query);
      const criteria = request.body.data;
      const { total, rows } = await searchGroups(app.db.prisma, request.tenantId!, criteria, skip, take);
      return sendJsonApi(reply, 200, listDocument(request, request.query, total, rows.map(toResource), criteria));
    },
  );

  r.get(
    '/api/v3/usergroups/:id',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'GetUsergroup',
        summary: 'Get a user group',
        description: access(['Tenant-admins of the tenant and skylight-admins, and members of the group; to anyone else it does not exist (404).']),
        params: idParams,
        response: { 200: jsonApi('The group', documentSchema(groupResource)), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const member = p.tenantId === request.tenantId && p.groups.includes(request.params.id);
      // Non-members learn nothing about the group, not even that it exists.
      if (!member && !isAdminOf(p, request.tenantId!)) throw notFound('Usergroup');
      return sendJsonApi(reply, 200, { data: toResource(await findGroup(app.db.prisma, request.tenantId!, request.params.id)) });
    },
  );

  r.patch(
    '/api/v3/usergroups/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'UpdateUsergroup',
        summary: 'Update a user group',
        description: access([WHO.admin, WHO.policy]),
        params: idParams,
        body: inputDocument('usergroups', groupUpdate),
        response: { 200: jsonApi('The updated group', documentSchema(groupResource)), ...errors(400, 401, 403, 404, 409, 413, 415) },
      },
    },
    async (request, reply) =>
      sendJsonApi(reply, 200, { data: toResource(await updateGroup(contextOf(request), request.params.id, request.body.data.attributes)) }),
  );

  r.delete(
    '/api/v3/usergroups/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'DeleteUsergroup',
        summary: 'Delete a user group',
        description: access([WHO.admin, WHO.policy]),
        params: idParams,
        response: { 204: noContent('Deleted'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deleteGroup(contextOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  r.get(
    '/api/v3/usergroups/:id/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'GetUsergroupUsers',
        summary: 'List the members of a user group',
        description: access([WHO.admin]),
        params: idParams,
        querystring: pageQuery,
        response: { 200: jsonApi("A page of the group's members", listSchema(userResource)), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { skip, take } = skipTake(request.query);
      const { total, rows } = await groupMembers(app.db.prisma, request.tenantId!, request.params.id, skip, take);
      return sendJsonApi(
        reply,
        200,
        listDocument(
          request,
          request.query,
          total,
          rows.map((u) => resource('users', u.id, userAttributes(u))),
        ),
      );
    },
  );

  r.post(
    '/api/v3/usergroups/:id/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'AddUsergroupUsers',
        summary: 'Add users to a user group',
        description: access(
          [WHO.admin, WHO.policy],
          'Adds users in bulk. 200 with `errors: []` when all were added; otherwise one error per failed item (`source.pointer` `/data/N`), the others being added.',
        ),
        params: idParams,
        body: bulkBody('users'),
        response: { 200: jsonApi('Added, or one error per item that was not', bulkResult), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const errs = await addGroupMembers(
        contextOf(request),
        request.params.id,
        request.body.data.map((d) => d.id),
      );
      return sendJsonApi(reply, 200, { errors: errs });
    },
  );

  r.delete(
    '/api/v3/usergroups/:id/users/:userId',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'RemoveUsergroupUser',
        summary: 'Remove a user from a user group',
        description: access([WHO.admin, WHO.policy]),
        params: z.object({ id: z.string().max(64), userId: z.string().max(64) }),
        response: { 204: noContent('Removed'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await removeGroupMember(contextOf(request), request.params.id, request.params.userId);
      return reply.code(204).send(null);
    },
  );
}
