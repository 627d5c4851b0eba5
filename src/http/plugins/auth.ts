import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal, Verification } from '../../principals/principal.js';
import { isAdminOf, isSkylightAdmin, SKYLIGHT_ADMIN } from '../../principals/principal.js';
import { forbidden, notFound, unauthorized } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import { AUTHENTICATORS, bearerToken } from '../credentials.js';
import { tenantExists } from '../../tenants/lookup.js';
import { addressIn } from '../../platform/net.js';
import { startInvalidation, type Invalidation, type InvalidationSubscriber } from '../../platform/invalidation.js';
import { CredentialCache } from '../../sessions/credential-cache.js';
import { subscribeHotCaches } from '../../oauth/hot-cache.js';
import { checkSender } from '../sender-constraint.js';

/**
 * Who may call a route, as in the auth column of pca-api.md:
 * none = anonymous; user = any principal of the tenant; admin = tenant-admin of
 * the tenant or skylight-admin; sky = skylight-admin only.
 */
export type AuthLevel = 'none' | 'user' | 'admin' | 'sky';

// The credentials the API accepts, and their order, are listed in ../credentials.ts.
export { bearerToken } from '../credentials.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthLevel;
    /**
     * A non-GET route whose successful answers never revoke or change anything a cache
     * holds (OCSP, introspection, token issuance): answered without the read-your-writes
     * barrier (unless the handler sets request.settleInvalidations).
     */
    cacheNeutral?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** The tenant the operation acts on, decided from the credential and X-Forwarded-Tenant-Id. */
    tenantId?: string;
    /** Set by a handler that revoked something although it answers with an error: the barrier runs anyway. */
    settleInvalidations?: boolean;
  }
  interface FastifyInstance {
    /**
     * Authenticates the request with the authenticators of ../credentials.ts; undefined when it carries
     * no credential. `token`: its bearer token when the caller has already parsed it.
     */
    authenticate(request: FastifyRequest, token?: string): Promise<Verification | undefined>;
    /**
     * Verifies one credential through the credential cache: `verify` runs only on a miss,
     * and only a success is cached (until it expires or is invalidated).
     */
    cachedVerification(kind: string, credential: string, verify: () => Promise<Verification | undefined>): Promise<Verification | undefined>;
    isTrustedProxy(request: FastifyRequest): boolean;
    /** Verified bearer credentials, evicted on every instance by database NOTIFY. */
    credentialCache: CredentialCache;
    /** The one invalidation channel (LISTEN iam_invalidate) every cache of the app subscribes to. */
    invalidation: Invalidation;
    /** Feeds another cache from the same invalidation channel: each notification's tags, and whether it is listened to. */
    subscribeInvalidations(subscriber: InvalidationSubscriber): void;
    /** Every /api route with its auth level, for the route-table tests and audits. */
    routeTable: { method: string; url: string; auth: AuthLevel }[];
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export default fp(async function auth(app: FastifyInstance) {
  const { prisma } = app.db;

  app.decorate('isTrustedProxy', (request: FastifyRequest) => addressIn(app.config.trustedProxies, request.socket.remoteAddress));

  const invalidation = await startInvalidation(app.db, app.log);
  app.decorate('invalidation', invalidation);
  app.addHook('onClose', async () => invalidation.close());
  // Off until the listener runs, and whenever it is down: then nothing is served from the cache.
  const cache = new CredentialCache({ max: app.config.CREDENTIAL_CACHE_SIZE, maxTtlMs: app.config.CREDENTIAL_CACHE_TTL_SECONDS * 1000 });
  invalidation.subscribe(cache);
  // The token endpoint's client and service-account lookups forget what changes anywhere.
  subscribeHotCaches(app.db.pool, invalidation);
  app.decorate('credentialCache', cache);
  app.decorate('subscribeInvalidations', (subscriber: InvalidationSubscriber) => void invalidation.subscribe(subscriber));

  // Read-your-writes on this instance: a successful change answers only once its
  // invalidations have reached this instance's caches (see Invalidation.settle).
  if (app.db.kind === 'server') {
    app.addHook('onSend', async (request, reply) => {
      if (!request.settleInvalidations) {
        if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS' || reply.statusCode >= 400) return;
        if (request.routeOptions.config.cacheNeutral) return;
      }
      await invalidation.settle();
    });
  }

  async function verify(request: FastifyRequest): Promise<Verification | undefined> {
    for (const a of AUTHENTICATORS) {
      const v = await a(app, request);
      if (v) return v;
    }
    // A bearer token no authenticator recognised is a bad credential, not an absent one.
    if (request.headers.authorization !== undefined) return { ok: false, reason: 'unknown' } as const;
    return undefined;
  }

  app.decorate('cachedVerification', async (kind: string, credential: string, fn: () => Promise<Verification | undefined>) => {
    const key = CredentialCache.key(kind, credential);
    const hit = cache.get(key);
    if (hit) return { ok: true, principal: hit } as const;
    const generation = cache.generation;
    const v = await fn();
    if (v?.ok) cache.set(key, v.principal, generation);
    return v;
  });

  app.decorate('authenticate', async (request: FastifyRequest, token = bearerToken(request)) => {
    if (!token) return verify(request);
    const v = await app.cachedVerification('b', token, () => verify(request));
    return v && checkSender(app, request, token, v);
  });

  app.decorate('routeTable', []);
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/')) return;
    const auth = route.config?.auth;
    if (!auth) throw new Error(`route ${route.method} ${route.url} does not declare config.auth`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') app.routeTable.push({ method, url: route.url, auth });
  });

  app.addHook('onRequest', async (request) => {
    const level = request.routeOptions.config.auth ?? 'none';
    if (level === 'none') return;

    const v = await app.authenticate(request);
    if (!v) throw unauthorized();
    if (!v.ok) throw unauthorized(v.reason === 'unknown' ? 'The credential is not valid' : `The credential is ${v.reason.replace('_', ' ')}`);
    const principal = v.principal;
    request.principal = principal;

    const named = single(request.headers['x-forwarded-tenant-id'])?.trim();
    if (named && named !== principal.tenantId) {
      if (!isSkylightAdmin(principal)) throw forbidden('X-Forwarded-Tenant-Id names another tenant');
      if (!isUuid(named) || !(await tenantExists(prisma, named))) {
        throw notFound('Tenant');
      }
    }
    request.tenantId = named || principal.tenantId;

    const forwardedUser = single(request.headers['x-forwarded-user-id'])?.trim();
    if (forwardedUser && forwardedUser !== principal.subjectId && !app.isTrustedProxy(request)) {
      throw forbidden('X-Forwarded-User-Id does not match the authenticated caller');
    }

    if (level === 'sky' && !isSkylightAdmin(principal)) throw forbidden(`This operation requires the ${SKYLIGHT_ADMIN} role`);
    if (level === 'admin' && !isAdminOf(principal, request.tenantId)) throw forbidden('This operation requires the tenant-admin role');
  });
});

/** For routes whose auth is "admin, or the subject itself". */
export function requireAdminOrSelf(request: FastifyRequest, subjectId: string) {
  const p = request.principal!;
  if (p.subjectId === subjectId && p.tenantId === request.tenantId) return;
  if (!isAdminOf(p, request.tenantId!)) throw forbidden();
}
