import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { listUserSessions, revokeUserSessions } from '../../users/sessions.js';
import { contextOf } from '../context.js';
import { access, errors, jsonApi, listDocument, listSchema, noContent, pageQuery, resource, resourceSchema, sendJsonApi, skipTake, WHO } from '../jsonapi.js';

const sessionAttributes = z.object({
  createdAt: z.string().describe('when the user signed in'),
  lastSeenAt: z.string().describe('last use, to the minute'),
  expiresAt: z.string().describe('the absolute timeout'),
  amr: z.array(z.string()).describe('authentication methods (RFC 8176): pwd, ext...'),
  userAgent: z.string().nullable(),
  clientAddress: z.string().nullable(),
});
const sessionResource = resourceSchema('sessions', sessionAttributes).meta({ id: 'BrowserSession' });
const idParams = z.object({ id: z.string().max(64) });
const tags = ['UserService'];

/** A user's browser sessions, for administrators: list and revoke. */
export default async function userSessionRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/v3/users/:id/sessions',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'ListUserSessions',
        summary: "List a user's browser sessions",
        description: access([WHO.admin], 'Live sessions of the hosted login (not ended, not expired), most recently used first.'),
        params: idParams,
        querystring: pageQuery,
        response: { 200: jsonApi("A page of the user's sessions", listSchema(sessionResource)), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const all = await listUserSessions(app.db.prisma, request.tenantId!, request.params.id, app.config.SESSION_IDLE_SECONDS);
      const { skip, take } = skipTake(request.query);
      const data = all.slice(skip, skip + take).map((s) =>
        resource('sessions', s.id, {
          createdAt: s.createdAt.toISOString(),
          lastSeenAt: s.lastSeenAt.toISOString(),
          expiresAt: s.expiresAt.toISOString(),
          amr: s.amr,
          userAgent: s.userAgent,
          clientAddress: s.clientAddress,
        }),
      );
      return sendJsonApi(reply, 200, listDocument(request, request.query, all.length, data));
    },
  );

  r.delete(
    '/api/v3/users/:id/sessions',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'RevokeUserSessions',
        summary: "Sign a user out everywhere: revoke all of the user's sessions",
        description: access([WHO.admin, WHO.policy], 'Ends every browser session of the user and revokes the OAuth grants (refresh tokens) issued under them.'),
        params: idParams,
        response: { 204: noContent('Revoked (also when there was none)'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await revokeUserSessions(contextOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  r.delete(
    '/api/v3/users/:id/sessions/:sessionId',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'RevokeUserSession',
        summary: "Revoke one of a user's sessions",
        description: access([WHO.admin, WHO.policy], 'Ends the browser session and revokes the OAuth grants issued under it.'),
        params: z.object({ id: z.string().max(64), sessionId: z.string().max(64) }),
        response: { 204: noContent('Revoked'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await revokeUserSessions(contextOf(request), request.params.id, request.params.sessionId);
      return reply.code(204).send(null);
    },
  );
}
