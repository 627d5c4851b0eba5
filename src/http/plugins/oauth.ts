import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeyStore } from '../../oauth/keys.js';
import { defaultGrants, type GrantHandler } from '../../oauth/grants/index.js';
import type { LoginRedirectHook } from '../login-flow.js';
import type { OAuthDeps } from '../../oauth/tokens.js';
import { verifySession } from '../../sessions/credentials.js';
import { sessionSecretOf } from '../session-cookie.js';
import { setHotCacheTtl } from '../../oauth/hot-cache.js';
import { purgeExpired } from '../../oauth/purge.js';
import { DpopVerifier } from '../../oauth/dpop.js';
import { ClientKeys } from '../../oauth/client-keys.js';
import { allowList } from '../../platform/net.js';
import { StandingGrants } from '../../oauth/standing-grants.js';
import type { Verification } from '../../principals/principal.js';

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuthDeps & {
      /** Grant types of the token endpoint, by grant_type. */
      grants: Map<string, GrantHandler>;
      /** The grant each client_credentials client and each service-account key issues its tokens under. */
      standingGrants: StandingGrants;
      /** Checks DPoP proofs at the token endpoint and for bound tokens at the resource routes. */
      dpop: DpopVerifier;
      /** Clients' public keys (registered, or fetched from their jwks_uri): assertions and request objects. */
      clientKeys: ClientKeys;
      /** Opens the sealed secrets of client_secret_jwt clients. */
      masterKey: Buffer;
    };
    /** Consulted after the email step of the hosted login, in order; see LoginRedirectHook. */
    loginRedirectHooks: LoginRedirectHook[];
    /** The browser session cookie as a credential (validate route, /api/v3 from the browser). */
    authenticateSession(request: FastifyRequest): Promise<Verification | undefined>;
  }
}

/** OAuth state of the app, and the browser session cookie as a credential. */
export default fp(async function oauth(app: FastifyInstance) {
  const { prisma } = app.db;
  const keys = new KeyStore(prisma, app.masterKey);
  setHotCacheTtl(app.config.CLIENT_CACHE_SECONDS);
  const standingGrants = new StandingGrants(app.db.pool);
  app.subscribeInvalidations(standingGrants);
  app.decorate('oauth', {
    prisma,
    keys,
    issuer: app.config.PUBLIC_URL,
    grants: defaultGrants(),
    standingGrants,
    dpop: new DpopVerifier(app.db.pool, app.masterKey),
    clientKeys: new ClientKeys({
      allow: allowList(app.config.CLIENT_JWKS_ALLOW_CIDRS),
      timeoutMs: app.config.CLIENT_JWKS_TIMEOUT_MS,
      maxBytes: app.config.CLIENT_JWKS_MAX_BYTES,
      cacheSeconds: app.config.CLIENT_JWKS_CACHE_SECONDS,
      refetchSeconds: app.config.CLIENT_JWKS_REFETCH_SECONDS,
    }),
    masterKey: app.masterKey,
  });
  app.decorate('loginRedirectHooks', [] as LoginRedirectHook[]);

  app.decorate('authenticateSession', (request: FastifyRequest): Promise<Verification | undefined> =>
    verifySession(prisma, sessionSecretOf(request), app.config),
  );

  // Housekeeping: expired codes, tokens and sessions are deleted every 15 minutes.
  const timer = setInterval(() => {
    purgeExpired(prisma).catch((err) => app.log.warn({ err: { message: (err as Error).message } }, 'purging expired OAuth records failed'));
  }, 15 * 60_000);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
});
