import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { argon2Params } from '../../platform/passwords.js';
import { groupAttributes } from '../../groups/service.js';
import { groupAttributes as groupAttributesSchema } from '../../groups/schemas.js';
import { contextOf } from '../context.js';
import { setPasswordUrl } from './set-password.js';
import {
  addUserRoles,
  createUser,
  deleteUser,
  getUser,
  removeUserRole,
  searchUsers,
  updateUser,
  userAttributes,
  userGroups,
  userRoles,
} from '../../users/service.js';
import { bulkBody, bulkResult, userAttributes as attributesSchema, userCreate, userRoleAttributes, userSearch, userUpdate } from '../../users/schemas.js';
import { requireAdminOrSelf } from '../plugins/auth.js';
import { UserCountCache } from '../../users/count-cache.js';
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

const userResource = resourceSchema('users', attributesSchema).meta({ id: 'User' });
const groupResource = resourceSchema('usergroups', groupAttributesSchema);
const userRoleResource = resourceSchema('roles', userRoleAttributes).meta({ id: 'UserRole' });
// Ids are UUIDs; the bound keeps junk out of queries, and anything else is a 404.
const idParams = z.object({ id: z.string().max(64) });
const tags = ['UserService'];

const createdMeta = z.object({
  invitation: z.enum(['mailed', 'link', 'mail_failed']).optional(),
  setPasswordUrl: z.string().optional().describe('one-time set-password link, returned only when SMTP is not configured'),
});

export default async function userRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const argon2 = argon2Params(app.config);
  const counts = new UserCountCache(app.config.USER_COUNT_CACHE_SIZE);
  app.subscribeInvalidations(counts);
  const invitations = {
    setPasswordLink: (token: string) => setPasswordUrl(app.config.PUBLIC_URL, token),
    ttlMs: app.config.SET_PASSWORD_TOKEN_TTL_HOURS * 3600_000,
    smtpUrl: app.config.SMTP_URL,
    smtpFrom: app.config.SMTP_FROM ?? `no-reply@${app.config.BASE_DOMAIN}`,
  };
  const toResource = (u: Parameters<typeof userAttributes>[0]) => resource('users', u.id, userAttributes(u));

  r.post(
    '/api/v3/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'CreateUser',
        summary: 'Create a user',
        description: access(
          [WHO.admin, WHO.policy],
          'Without `password` the user is `initial` and invited: the one-time set-password link is mailed when SMTP is configured, otherwise returned once in `meta.setPasswordUrl`.',
        ),
        body: inputDocument('users', userCreate),
        response: {
          201: jsonApi('The new user; `meta` tells how the invitation went', z.object({ data: userResource, meta: createdMeta.optional() })),
          ...errors(400, 401, 403, 409, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const created = await createUser(contextOf(request), request.body.data.attributes, argon2, invitations);
      if (created.invitation === 'mail_failed') request.log.warn({ userId: created.user.id, err: created.mailError }, 'invitation mail failed');
      const meta = created.invitation
        ? { invitation: created.invitation, ...(created.setPasswordUrl ? { setPasswordUrl: created.setPasswordUrl } : {}) }
        : undefined;
      reply.header('location', `/api/v3/users/${created.user.id}`);
      return sendJsonApi(reply, 201, { data: toResource(created.user), ...(meta ? { meta } : {}) });
    },
  );

  r.get(
    '/api/v3/users',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'ListUsers',
        summary: 'List users',
        description: access([WHO.admin]),
        querystring: pageQuery,
        response: { 200: jsonApi('A page of the users', listSchema(userResource)), ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { skip, take } = skipTake(request.query);
      const { total, rows } = await searchUsers(app.db.prisma, request.tenantId!, {}, skip, take, counts);
      return sendJsonApi(reply, 200, listDocument(request, request.query, total, rows.map(toResource)));
    },
  );

  r.post(
    '/api/v3/users/search',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'SearchUsers',
        summary: 'Search users',
        description: access(
          [WHO.admin],
          'username, email, firstName, lastName: case-insensitive substring; role (held directly or through a group), usergroupId, state, idpId: exact. Criteria combine with AND.',
        ),
        querystring: pageQuery,
        body: userSearch,
        response: { 200: jsonApi('A page of the matching users', listSchema(userResource)), ...errors(400, 401, 403, 413, 415) },
      },
    },
    async (request, reply) => {
      const { skip, take } = skipTake(request.query);
      const criteria = request.body.data;
      const { total, rows } = await searchUsers(app.db.prisma, request.tenantId!, criteria, skip, take, counts);
      return sendJsonApi(reply, 200, listDocument(request, request.query, total, rows.map(toResource), criteria));
    },
  );

  r.get(
    '/api/v3/users/:id',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'GetUser',
        summary: 'Get a user',
        description: access([WHO.adminOrSelf('the user')]),
        params: idParams,
        response: { 200: jsonApi('The user', documentSchema(userResource)), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      requireAdminOrSelf(request, request.params.id);
      return sendJsonApi(reply, 200, { data: toResource(await getUser(app.db.prisma, request.tenantId!, request.params.id)) });
    },
  );

  r.patch(
    '/api/v3/users/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'UpdateUser',
        summary: 'Update a user',
        description: access(
          [WHO.admin, WHO.policy],
          'Setting `state` to `active` unlocks a locked user. `password` is write-only and must meet the tenant policy.',
        ),
        params: idParams,
        body: inputDocument('users', userUpdate),
        response: { 200: jsonApi('The updated user', documentSchema(userResource)), ...errors(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) =>
      sendJsonApi(reply, 200, { data: toResource(await updateUser(contextOf(request), request.params.id, request.body.data.attributes, argon2)) }),
  );

  r.delete(
    '/api/v3/users/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'DeleteUser',
        summary: 'Delete a user',
        description: access([WHO.admin, WHO.policy]),
        params: idParams,
        response: { 204: noContent('Deleted'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deleteUser(contextOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  r.get(
    '/api/v3/users/:id/usergroups',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'GetUserUsergroups',
        summary: "List a user's groups",
        description: access([WHO.adminOrSelf('the user')]),
        params: idParams,
        querystring: pageQuery,
        response: { 200: jsonApi("A page of the user's groups", listSchema(groupResource)), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      requireAdminOrSelf(request, request.params.id);
      const { skip, take } = skipTake(request.query);
      const { total, rows } = await userGroups(app.db.prisma, request.tenantId!, request.params.id, skip, take);
      return sendJsonApi(
        reply,
        200,
        listDocument(
          request,
          request.query,
          total,
          rows.map((g) => resource('usergroups', g.id, groupAttributes(g))),
        ),
      );
    },
  );

  r.get(
    '/api/v3/users/:id/roles',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'GetUserRoles',
        summary: "List a user's roles",
        description: access(
          [WHO.adminOrSelf('the user')],
          'Own and inherited roles: `direct` when assigned to the user, `inheritedFrom` the groups granting it.',
        ),
        params: idParams,
        querystring: pageQuery,
        response: { 200: jsonApi("A page of the user's roles, own and inherited", listSchema(userRoleResource)), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      requireAdminOrSelf(request, request.params.id);
      const all = await userRoles(app.db.prisma, request.tenantId!, request.params.id);
      const { skip, take } = skipTake(request.query);
      return sendJsonApi(
        reply,
        200,
        listDocument(
          request,
          request.query,
          all.length,
          all.slice(skip, skip + take).map((x) => resource('roles', x.name, x)),
        ),
      );
    },
  );

  r.post(
    '/api/v3/users/:id/roles',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'AddUserRoles',
        summary: 'Assign roles to a user',
        description: access(
          [WHO.admin, WHO.policy],
          'Adds roles by name in bulk. 200 with `errors: []` when all were added; otherwise one error per failed item (`source.pointer` `/data/N`), the others being added.',
        ),
        params: idParams,
        body: bulkBody('roles'),
        response: { 200: jsonApi('Added, or one error per item that was not', bulkResult), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const errs = await addUserRoles(
        contextOf(request),
        request.params.id,
        request.body.data.map((d) => d.id),
      );
      return sendJsonApi(reply, 200, { errors: errs });
    },
  );

  r.delete(
    '/api/v3/users/:id/roles/:roleName',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'RemoveUserRole',
        summary: 'Remove a role from a user',
        description: access([WHO.admin, WHO.policy]),
        params: z.object({ id: z.string().max(64), roleName: z.string().max(200) }),
        response: { 204: noContent('Removed'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await removeUserRole(contextOf(request), request.params.id, request.params.roleName);
      return reply.code(204).send(null);
    },
  );
}
