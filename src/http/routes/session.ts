import type { FastifyInstance, FastifyReply } from 'fastify';
import { acrOf } from '../../oauth/acr.js';
import type { Principal, Verification } from '../../principals/principal.js';
import { setChallenge } from '../errors.js';
import { access, plainText } from '../jsonapi.js';
import { bearerToken } from '../plugins/auth.js';
import { SESSION_COOKIE } from '../session-cookie.js';

// Header values must be visible ASCII; anything else is percent-encoded so that a
// username can never break (or inject into) the proxy's header block.
const SAFE = /^[\x20-\x7e]*$/;
const headerValue = (v: string) => (SAFE.test(v) ? v : encodeURIComponent(v));

export function setIdentityHeaders(reply: FastifyReply, p: Principal, withGroups = true) {
  reply.header('x-forwarded-user-id', p.subjectId);
  reply.header('x-forwarded-user-username', headerValue(p.username));
  reply.header('x-forwarded-user-roles', headerValue(p.roles.join(',')));
  if (withGroups) reply.header('x-forwarded-usergroups', p.groups.join(','));
  reply.header('x-forwarded-tenant-id', p.tenantId);
  // A browser session also says how its user signed in, for upstreams that want two factors.
  if (p.authentication) {
    reply.header('x-forwarded-user-amr', p.authentication.amr.join(','));
    reply.header('x-forwarded-user-acr', acrOf(p.authentication.amr));
    reply.header('x-forwarded-user-auth-time', String(Math.floor(p.authentication.authTime.getTime() / 1000)));
  }
}

/** 200 with identity headers, 401 for a missing or unknown credential, 403 for a known but unusable one. */
export function answerValidation(reply: FastifyReply, v: Verification | undefined, withGroups = true) {
  reply.header('cache-control', 'no-store');
  if (!v) return setChallenge(reply.code(401)).type('text/plain').send('Unauthorized: no credential');
  if (!v.ok) {
    return v.reason === 'unknown'
      ? setChallenge(reply.code(401)).type('text/plain').send('Unauthorized')
      : reply
          .code(403)
          .type('text/plain')
          .send(`Forbidden: ${v.reason.replace('_', ' ')}`);
  }
  setIdentityHeaders(reply, v.principal, withGroups);
  return reply.code(200).type('text/plain').send('OK');
}

const responses = {
  200: plainText('OK; identity in the X-Forwarded-* response headers'),
  401: plainText('No credential, or an unknown one'),
  403: plainText('A known credential that is expired, revoked, locked, or whose tenant is disabled'),
};

export default async function sessionRoutes(app: FastifyInstance) {
  app.get(
    '/api/v3/session/validate',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['SessionService'],
        operationId: 'ValidateSession',
        summary: 'Validate a session cookie for a reverse proxy',
        description: access(
          ['No credential of its own: the route judges the session cookie it is sent.'],
          'Validates the browser session cookie for a reverse proxy; 200 sets X-Forwarded-User-Id, -User-Username, -User-Roles, -Usergroups and -Tenant-Id, and how the user signed in: X-Forwarded-User-Amr (comma-separated RFC 8176 methods), -User-Acr and -User-Auth-Time (seconds since the epoch).',
        ),
        response: responses,
      },
    },
    async (request, reply) => {
      // Only the cookie counts here: a bearer token or forwarded identity header must not stand in for it.
      const secret = request.cookies?.[SESSION_COOKIE];
      if (!secret) return answerValidation(reply, undefined);
      return answerValidation(reply, await app.cachedVerification('s', secret, () => app.authenticateSession(request)));
    },
  );

  // Called by reverse proxies on every request: authenticates itself, answers from the
  // credential cache when it can.
  app.get(
    '/api/v3/session/validate-token',
    {
      config: { auth: 'none', proxiedRequest: true },
      schema: {
        tags: ['SessionService'],
        operationId: 'ValidateToken',
        summary: 'Validate a bearer token for a reverse proxy',
        description: access(
          ['No credential of its own: the route judges the bearer token it is sent.'],
          'Validates `Authorization: Bearer` (PAT, JWT or opaque access token), or `Authorization: DPoP` with a `DPoP` proof for a DPoP-bound token (of the request a trusted proxy forwards), for a reverse proxy; 200 sets X-Forwarded-User-Id, -User-Username, -User-Roles, -Usergroups and -Tenant-Id.',
        ),
        response: responses,
      },
    },
    async (request, reply) => {
      const token = bearerToken(request);
      if (!token) return answerValidation(reply, undefined);
      return answerValidation(reply, await app.authenticate(request, token));
    },
  );
}
