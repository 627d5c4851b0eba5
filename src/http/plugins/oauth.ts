import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeyStore } from '../../oauth/keys.js';
import { defaultGrants, type GrantHandler } from '../../oauth/grants/index.js';
import type { LoginRedirectHook } from '../login-flow.js';
import { looksLikeJwt, OPAQUE_ACCESS_PREFIX, verifyAccessTokenJwt, verifyOpaqueToken, type OAuthDeps } from '../../oauth/tokens.js';
import { sessionOf } from '../../sessions/browser-session.js';
import { sessionSecretOf } from '../session-cookie.js';
import { setHotCacheTtl } from '../../oauth/hot-cache.js';
import { purgeExpired } from '../../oauth/purge.js';
import { StandingGrants } from '../../oauth/standing-grants.js';
import { loadSubject } from '../../principals/load.js';
import type { Verification } from '../../principals/principal.js';
import { bearerToken, type Authenticator } from './auth.js';

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuthDeps & {
      /** Grant types of the token endpoint, by grant_type. */
      grants: Map<string, GrantHandler>;
      /** The grant each client_credentials client and each service-account key issues its tokens under. */
      standingGrants: StandingGrants;
    };
    /** Consulted after the email step of the hosted login, in order; see LoginRedirectHook. */
    loginRedirectHooks: LoginRedirectHook[];
    /** The browser session cookie as a credential (validate route, /api/v3 from the browser). */
    authenticateSession(request: FastifyRequest): Promise<Verification | undefined>;
  }
}

/** OAuth state of the app, and the authenticators for JWT and opaque access tokens and the session cookie. */
export default fp(async function oauth(app: FastifyInstance) {
  const { prisma } = app.db;
  const keys = new KeyStore(prisma, app.masterKey);
  setHotCacheTtl(app.config.CLIENT_CACHE_SECONDS);
  const standingGrants = new StandingGrants(app.db.pool);
  app.subscribeInvalidations(standingGrants);
  app.decorate('oauth', { prisma, keys, issuer: app.config.PUBLIC_URL, grants: defaultGrants(), standingGrants });
  app.decorate('loginRedirectHooks', [] as LoginRedirectHook[]);

  const jwtAuthenticator: Authenticator = async (request) => {
    const token = bearerToken(request);
    if (!token || !looksLikeJwt(token)) return undefined;
    const check = await verifyAccessTokenJwt(app.oauth, token);
    if (!check.ok) return check;
    const v = await loadSubject(prisma, check.claims.tenant_id, check.claims.sub, 'jwt', check.claims.jti);
    if (v.ok) {
      v.principal.expiresAt = new Date(check.claims.exp * 1000);
      v.principal.grantId = check.claims.gid;
    }
    return v;
  };

  const opaqueAuthenticator: Authenticator = async (request) => {
    const token = bearerToken(request);
    if (!token || !token.startsWith(OPAQUE_ACCESS_PREFIX)) return undefined;
    const check = await verifyOpaqueToken(prisma, token, 'access');
    if (!check.ok) return check;
    const subjectId = check.grant.userId ?? check.grant.serviceAccountId;
    if (!subjectId) return { ok: false, reason: 'unknown' };
    const v = await loadSubject(prisma, check.token.tenantId, subjectId, 'opaque', check.token.id);
    if (v.ok) {
      v.principal.expiresAt = check.token.expiresAt;
      v.principal.grantId = check.grant.id;
    }
    return v;
  };

  app.decorate('authenticateSession', async (request: FastifyRequest): Promise<Verification | undefined> => {
    const check = await sessionOf(prisma, sessionSecretOf(request), app.config);
    if (!check) return undefined;
    if (!check.ok) return check;
    const s = check.session;
    const v = await loadSubject(prisma, s.tenantId, s.userId, 'session', s.id);
    // Valid until the absolute timeout, or the idle timeout counted from the last recorded
    // use (at most a minute old), whichever comes first: a cached answer never outlives it.
    if (v.ok) v.principal.expiresAt = new Date(Math.min(s.expiresAt.getTime(), Date.now() + (app.config.SESSION_IDLE_SECONDS - 60) * 1000));
    return v;
  });

  // The cookie counts only when no Authorization header names another credential.
  const sessionAuthenticator: Authenticator = async (request) => (request.headers.authorization ? undefined : app.authenticateSession(request));

  app.authenticators.push(jwtAuthenticator, opaqueAuthenticator, sessionAuthenticator);

  // Housekeeping: expired codes, tokens and sessions are deleted every 15 minutes.
  const timer = setInterval(() => {
    purgeExpired(prisma).catch((err) => app.log.warn({ err: { message: (err as Error).message } }, 'purging expired OAuth records failed'));
  }, 15 * 60_000);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
});
