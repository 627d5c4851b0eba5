import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import { compactVerify } from 'jose';
import { errorHandler } from '../errors.js';
import { parseAuthorizeRequest, issueCode, redirectWith, sealAuthRequest } from '../../oauth/authorize.js';
import { authenticateClient, clientCredentialsOf } from '../../oauth/client-auth.js';
import { OAuthError, invalidClient, invalidRequest, unauthorizedClient, unsupportedGrantType } from '../../oauth/errors.js';
import { hasScope } from '../../oauth/scopes.js';
import { userClaims } from '../../oauth/subject.js';
import {
  hashToken,
  looksLikeJwt,
  OPAQUE_ACCESS_PREFIX,
  REFRESH_PREFIX,
  revokeGrant,
  ROLES_CLAIM,
  rolesClaim,
  verifyAccessTokenJwt,
  verifyOpaqueToken,
} from '../../oauth/tokens.js';
import { loadSubject } from '../../principals/load.js';
import { endSession, sessionOf } from '../../sessions/browser-session.js';
import { messagePage } from '../../ui/pages.js';
import { clearSessionCookie, sessionSecretOf } from '../session-cookie.js';
import { tenantFromHost } from '../tenant-host.js';

const hide = { hide: true };
const minute = 60_000;

/** Form parameters as single strings; a repeated parameter is refused (RFC 6749 3.1, 3.2). */
function formParams(body: unknown): Record<string, string> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object') throw invalidRequest('The body must be application/x-www-form-urlencoded');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (Array.isArray(v)) throw invalidRequest(`${k} is repeated`);
    if (typeof v !== 'string') throw invalidRequest(`${k} must be a string`);
    if (v !== '') out[k] = v;
  }
  return out;
}

function requireForm(request: FastifyRequest) {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) throw invalidRequest('The body must be application/x-www-form-urlencoded');
}

function bearerOf(request: FastifyRequest, params: Record<string, string>): string | undefined {
  const h = request.headers.authorization;
  const m = h && /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : params.access_token;
}

export default async function oauthRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await app.register(rateLimit, { global: false });
  const { prisma } = app.db;
  const deps = app.oauth;
  const iss = app.config.PUBLIC_URL;
  const limit = (max: number) => ({ rateLimit: { max, timeWindow: minute } });

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof OAuthError) {
      // RFC 6749 5.2: a failed Basic authentication is answered with its challenge.
      if (err.status === 401 && /^Basic/i.test(request.headers.authorization ?? '')) reply.header('www-authenticate', 'Basic realm="oauth"');
      return reply.code(err.status).header('cache-control', 'no-store').send({ error: err.error, error_description: err.description });
    }
    return errorHandler(err as never, request, reply);
  });

  app.get('/.well-known/openid-configuration', { schema: hide }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return {
      issuer: iss,
      authorization_endpoint: `${iss}/oauth/v2/authorize`,
      token_endpoint: `${iss}/oauth/v2/token`,
      introspection_endpoint: `${iss}/oauth/v2/introspect`,
      revocation_endpoint: `${iss}/oauth/v2/revoke`,
      userinfo_endpoint: `${iss}/oidc/v1/userinfo`,
      end_session_endpoint: `${iss}/oidc/v1/end_session`,
      jwks_uri: `${iss}/oauth/v2/keys`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: [...deps.grants.keys()],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access', 'urn:zitadel:iam:org:projects:roles', 'urn:zitadel:iam:org:project:id:zitadel:aud', 'urn:zitadel:iam:user:metadata'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      code_challenge_methods_supported: ['S256'],
      prompt_values_supported: ['none', 'login'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'amr', 'sid', 'at_hash', 'azp', 'name', 'given_name', 'family_name', 'preferred_username', 'email', 'email_verified', 'tenant_id', ROLES_CLAIM],
      authorization_response_iss_parameter_supported: true,
      request_parameter_supported: false,
      request_uri_parameter_supported: false,
      claims_parameter_supported: false,
    };
  });

  app.get('/oauth/v2/keys', { schema: hide }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return deps.keys.jwks();
  });

  app.get('/oauth/v2/authorize', { schema: hide, config: limit(app.config.RATE_LIMIT_AUTHORIZE) }, async (request, reply) => {
    const host = await tenantFromHost(request);
    const outcome = await parseAuthorizeRequest(prisma, iss, request.query as Record<string, unknown>, host?.id);
    if (outcome.kind === 'page') return messagePage(reply, 'Sign-in request refused', outcome.message, 400);
    if (outcome.kind === 'redirect') return reply.redirect(outcome.url, 302);
    const req = outcome.req;
    const prompts = req.prompt?.split(' ') ?? [];

    const s = await sessionOf(prisma, sessionSecretOf(request), app.config);
    if (s?.ok && s.session.tenantId === req.tenantId) {
      const tooOld = req.maxAge !== undefined && s.session.authTime.getTime() + req.maxAge * 1000 < Date.now();
      const subject = await loadSubject(prisma, s.session.tenantId, s.session.userId, 'session', s.session.id);
      if (subject.ok && !tooOld && !prompts.includes('login')) {
        const url = await issueCode(prisma, iss, req, { userId: s.session.userId, sessionId: s.session.id, authTime: s.session.authTime, amr: s.session.amr });
        return reply.header('cache-control', 'no-store').redirect(url, 302);
      }
    }
    if (prompts.includes('none')) {
      return reply.redirect(redirectWith(req.redirectUri, { error: 'login_required', error_description: 'The user must sign in', state: req.state, iss }), 302);
    }
    return reply.redirect(`/ui/login?r=${encodeURIComponent(sealAuthRequest(app.masterKey, { ...req, prompt: undefined }))}`, 302);
  });

  // Every grant revokes only on its error paths (code replay, refresh reuse), so a
  // successful answer has nothing to wait for.
  app.post('/oauth/v2/token', { schema: hide, config: { ...limit(app.config.RATE_LIMIT_TOKEN), cacheNeutral: true } }, async (request, reply) => {
    requireForm(request);
    const params = formParams(request.body);
    const grantType = params.grant_type;
    if (!grantType) throw invalidRequest('grant_type is required');
    const handler = deps.grants.get(grantType);
    const client = await authenticateClient(app.db, clientCredentialsOf(request.headers.authorization, params));
    if (!handler) throw unsupportedGrantType(`grant_type ${grantType} is not supported`);
    if (handler.requiresClient && !client) throw invalidClient('Client authentication is required');
    if (client && !client.grantTypes.includes(grantType)) throw unauthorizedClient(`The client may not use ${grantType}`);
    const tokens = await handler.handle({
      deps,
      pool: app.db.pool,
      standingGrants: deps.standingGrants,
      invalidated: () => {
        request.settleInvalidations = true;
      },
      params,
      client,
      now: new Date(),
    });
    return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(tokens);
  });

  app.post('/oauth/v2/introspect', { schema: hide, config: { ...limit(app.config.RATE_LIMIT_TOKEN), cacheNeutral: true } }, async (request, reply) => {
    requireForm(request);
    const params = formParams(request.body);
    const client = await authenticateClient(app.db, clientCredentialsOf(request.headers.authorization, params));
    // RFC 7662 2.1: the caller must authenticate; a public client's id proves nothing.
    if (!client || client.clientType !== 'confidential') throw invalidClient('Introspection requires an authenticated confidential client');
    if (!params.token) throw invalidRequest('token is required');
    reply.header('cache-control', 'no-store');
    const inactive = { active: false };
    const token = params.token;

    if (looksLikeJwt(token)) {
      const check = await verifyAccessTokenJwt(deps, token);
      if (!check.ok || check.claims.tenant_id !== client.tenantId) return inactive;
      const v = await loadSubject(prisma, check.claims.tenant_id, check.claims.sub, 'jwt', check.claims.jti);
      if (!v.ok) return inactive;
      const c = check.claims;
      return {
        active: true, token_type: 'Bearer', scope: c.scope, client_id: c.client_id, username: v.principal.username, sub: c.sub,
        aud: c.aud, iss: c.iss, exp: c.exp, iat: c.iat, nbf: c.nbf, jti: c.jti, tenant_id: c.tenant_id, roles: v.principal.roles,
      };
    }
    const kind = token.startsWith(REFRESH_PREFIX) ? 'refresh' : token.startsWith(OPAQUE_ACCESS_PREFIX) ? 'access' : undefined;
    if (!kind) return inactive;
    const check = await verifyOpaqueToken(prisma, token, kind);
    if (!check.ok || check.token.tenantId !== client.tenantId) return inactive;
    const row = await prisma.oAuthToken.findUnique({ where: { id: check.token.id }, select: { usedAt: true, createdAt: true } });
    if (row?.usedAt) return inactive;
    const subjectId = check.grant.userId ?? check.grant.serviceAccountId;
    const v = subjectId ? await loadSubject(prisma, check.token.tenantId, subjectId, 'opaque', check.token.id) : undefined;
    if (!v?.ok) return inactive;
    const owner = check.grant.applicationId ? await prisma.application.findUnique({ where: { id: check.grant.applicationId }, select: { clientId: true } }) : null;
    return {
      active: true, token_type: kind === 'access' ? 'Bearer' : 'refresh_token', scope: check.token.scope, client_id: owner?.clientId,
      username: v.principal.username, sub: subjectId, iss, exp: Math.floor(check.token.expiresAt.getTime() / 1000),
      iat: row ? Math.floor(row.createdAt.getTime() / 1000) : undefined, tenant_id: check.token.tenantId, roles: v.principal.roles,
    };
  });

  app.post('/oauth/v2/revoke', { schema: hide, config: limit(app.config.RATE_LIMIT_TOKEN) }, async (request, reply) => {
    requireForm(request);
    const params = formParams(request.body);
    const client = await authenticateClient(app.db, clientCredentialsOf(request.headers.authorization, params));
    if (!client) throw invalidClient('Client authentication is required');
    if (!params.token) throw invalidRequest('token is required');
    const token = params.token;
    const now = new Date();
    // RFC 7009 2.2: an unknown token, or one of another client, is answered 200 all the same.
    if (looksLikeJwt(token)) {
      const check = await verifyAccessTokenJwt(deps, token);
      if (check.ok && check.claims.client_id === client.clientId) {
        await prisma.revokedJwt.upsert({
          where: { jti: check.claims.jti },
          create: { jti: check.claims.jti, tenantId: check.claims.tenant_id, expiresAt: new Date(check.claims.exp * 1000) },
          update: {},
        });
      }
    } else if (token.startsWith(REFRESH_PREFIX) || token.startsWith(OPAQUE_ACCESS_PREFIX)) {
      const row = await prisma.oAuthToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { grant: { select: { applicationId: true } } } });
      if (row && row.grant.applicationId === client.id) {
        // Revoking a refresh token ends its whole grant (RFC 7009 2.1); an access token only itself.
        if (row.kind === 'refresh') await revokeGrant(prisma, row.grantId, 'revoked_by_client', now);
        else await prisma.oAuthToken.updateMany({ where: { id: row.id, revokedAt: null }, data: { revokedAt: now } });
      }
    }
    return reply.code(200).header('cache-control', 'no-store').send();
  });

  const userinfo = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = request.method === 'POST' && request.body && typeof request.body === 'object' ? formParams(request.body) : {};
    const token = bearerOf(request, params);
    const refuse = (error: string, description: string, status = 401) =>
      reply.code(status).header('www-authenticate', `Bearer error="${error}", error_description="${description}"`).send({ error, error_description: description });
    if (!token) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'invalid_token', error_description: 'An access token is required' });
    let tenantId: string, subjectId: string, scope: string;
    if (looksLikeJwt(token)) {
      const check = await verifyAccessTokenJwt(deps, token);
      if (!check.ok) return refuse('invalid_token', 'The access token is not valid');
      ({ tenant_id: tenantId, sub: subjectId } = check.claims);
      scope = check.claims.scope ?? '';
    } else if (token.startsWith(OPAQUE_ACCESS_PREFIX)) {
      const check = await verifyOpaqueToken(prisma, token, 'access');
      if (!check.ok || !check.grant.userId) return refuse('invalid_token', 'The access token is not valid');
      tenantId = check.token.tenantId;
      subjectId = check.grant.userId;
      scope = check.token.scope;
    } else return refuse('invalid_token', 'The access token is not valid');
    if (!hasScope(scope, 'openid')) return refuse('insufficient_scope', 'The openid scope is required', 403);
    const v = await loadSubject(prisma, tenantId, subjectId, 'jwt', 'userinfo');
    if (!v.ok || v.principal.kind !== 'user') return refuse('invalid_token', 'The access token is not valid');
    const claims: Record<string, unknown> = { sub: subjectId, tenant_id: tenantId, ...(await userClaims(prisma, tenantId, subjectId, scope)) };
    if (hasScope(scope, 'urn:zitadel:iam:org:projects:roles')) claims[ROLES_CLAIM] = rolesClaim(tenantId, v.principal.roles);
    return reply.header('cache-control', 'no-store').send(claims);
  };
  app.get('/oidc/v1/userinfo', { schema: hide }, userinfo);
  app.post('/oidc/v1/userinfo', { schema: hide }, userinfo);

  app.get('/oidc/v1/end_session', { schema: hide }, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const str = (n: string) => (typeof q[n] === 'string' && q[n] !== '' ? (q[n] as string) : undefined);
    const postLogout = str('post_logout_redirect_uri');
    let clientId = str('client_id');
    const hint = str('id_token_hint');
    if (hint) {
      // The hint may have expired; its signature and issuer still identify the client.
      try {
        const { payload } = await compactVerify(hint, async (h) => {
          const key = await deps.keys.verificationKey(h.kid, h.alg);
          if (!key) throw new Error('unknown key');
          return key;
        }, { algorithms: ['RS256', 'ES256'] });
        const claims = JSON.parse(new TextDecoder().decode(payload)) as { iss?: string; aud?: string | string[] };
        const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
        if (claims.iss !== iss || (clientId && aud !== clientId)) return messagePage(reply, 'Sign-out refused', 'The sign-out request is not valid.', 400);
        clientId = aud;
      } catch {
        return messagePage(reply, 'Sign-out refused', 'The sign-out request is not valid.', 400);
      }
    }
    let target: string | undefined;
    if (postLogout) {
      const client = clientId && clientId.length <= 200 ? await prisma.application.findUnique({ where: { clientId } }) : null;
      if (!client || !client.postLogoutRedirectUris.includes(postLogout)) {
        return messagePage(reply, 'Sign-out refused', 'The post-logout redirect URI is not registered for this application.', 400);
      }
      target = redirectWith(postLogout, { state: str('state') });
    }
    const s = await sessionOf(prisma, sessionSecretOf(request), app.config);
    if (s?.ok) {
      await endSession(prisma, s.session.id);
      const grants = await prisma.oAuthGrant.findMany({ where: { tenantId: s.session.tenantId, sessionId: s.session.id, revokedAt: null }, select: { id: true } });
      for (const g of grants) await revokeGrant(prisma, g.id, 'session_ended');
    }
    clearSessionCookie(reply, app.config);
    if (target) return reply.redirect(target, 302);
    return messagePage(reply, 'Signed out', 'You are signed out.');
  });
}
