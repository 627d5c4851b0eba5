import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal, Verification } from '../../principals/principal.js';
import { isAdminOf, isSkylightAdmin, SKYLIGHT_ADMIN } from '../../principals/principal.js';
import { verifyPat } from '../../principals/verify-pat.js';
import { looksLikePat } from '../../principals/pat.js';
import { loadSubject } from '../../principals/load.js';
import { forbidden, notFound, unauthorized } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import { addressIn } from '../../platform/net.js';
import { CredentialCache } from '../../sessions/credential-cache.js';

/**
 * Who may call a route, as in the auth column of pca-api.md:
 * none = anonymous; user = any principal of the tenant; admin = tenant-admin of
 * the tenant or skylight-admin; sky = skylight-admin only.
 */
export type AuthLevel = 'none' | 'user' | 'admin' | 'sky';

/**
 * A credential kind plugs in here. It returns undefined when the request does not
 * carry its kind of credential, so the next authenticator is tried.
 */
export type Authenticator = (request: FastifyRequest) => Promise<Verification | undefined>;

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
    authenticators: Authenticator[];
    /**
     * Authenticates the request with the registered authenticators; undefined when it carries
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
    /** Feeds another cache from the same invalidation channel: each notification's tags, and whether it is listened to. */
    subscribeInvalidations(subscriber: InvalidationSubscriber): void;
    /** Every /api route with its auth level, for the route-table tests and audits. */
    routeTable: { method: string; url: string; auth: AuthLevel }[];
  }
}

export interface InvalidationSubscriber {
  invalidate(tags: string[]): void;
  /** Called on every change of state, and when notifications may have been missed: forget everything. */
  setListening(listening: boolean): void;
}

/** Longest a successful change waits for its own invalidation marker (normally 1–3 ms). */
const BARRIER_MS = 200;

export function bearerToken(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
  return m ? m[1] : '';
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export default fp(async function auth(app: FastifyInstance) {
  const { prisma } = app.db;

  app.decorate('isTrustedProxy', (request: FastifyRequest) => addressIn(app.config.trustedProxies, request.socket.remoteAddress));

  const patAuthenticator: Authenticator = async (request) => {
    const token = bearerToken(request);
    if (token === undefined || !looksLikePat(token)) return undefined;
    return verifyPat(prisma, token);
  };

  // A trusted proxy that has already authenticated the caller forwards its identity.
  const proxyAuthenticator: Authenticator = async (request) => {
    if (request.headers.authorization || !app.isTrustedProxy(request)) return undefined;
    const userId = single(request.headers['x-forwarded-user-id']);
    const tenantId = single(request.headers['x-forwarded-tenant-id']);
    if (!userId || !tenantId) return undefined;
    return loadSubject(prisma, tenantId, userId, 'proxy', `proxy:${request.socket.remoteAddress}`);
  };

  app.decorate('authenticators', [patAuthenticator, proxyAuthenticator]);

  const cache = new CredentialCache({ max: app.config.CREDENTIAL_CACHE_SIZE, maxTtlMs: app.config.CREDENTIAL_CACHE_TTL_SECONDS * 1000 });
  app.decorate('credentialCache', cache);
  // Until the listener runs, and whenever it is down, nothing is served from the cache.
  cache.enabled = false;
  // Barriers of this instance waiting for their own marker (see below).
  const barriers = new Map<string, () => void>();
  const subscribers: InvalidationSubscriber[] = [];
  let listening = false;
  const unlisten = await app.db.listen(
    'iam_invalidate',
    (payload) => {
      if (payload.startsWith('sync:')) return barriers.get(payload)?.();
      const tags = payload.split(' ');
      cache.invalidate(tags);
      for (const s of subscribers) s.invalidate(tags);
    },
    (now) => {
      listening = now;
      forgetAll(); // messages may have been missed while not listening
      cache.enabled = listening && app.config.CREDENTIAL_CACHE_SIZE > 0;
      if (!listening) app.log.warn('cache invalidation channel lost; verifying every credential against the database');
    },
  );
  function forgetAll() {
    cache.clear();
    for (const s of subscribers) s.setListening(listening); // which forgets everything too
  }
  app.decorate('subscribeInvalidations', (subscriber: InvalidationSubscriber) => {
    subscribers.push(subscriber);
    subscriber.setListening(listening);
  });
  app.addHook('onClose', async () => unlisten());

  /*
   * Read-your-writes on this instance. Triggers notify at commit, but the notification
   * reaches the listener a moment later; a client that revokes a credential and at once
   * presents it here must already be refused. So, before a successful change answers, a
   * marker is notified and awaited: notifications arrive in commit order, hence once the
   * marker is back every invalidation of that change has been applied. (The embedded
   * database delivers notifications before the query returns: nothing to wait for.)
   */
  async function awaitInvalidations(): Promise<void> {
    if (app.db.kind !== 'server' || !listening) return;
    const marker = `sync:${randomUUID()}`;
    let timer: NodeJS.Timeout | undefined;
    // Bounded: a slow or unreachable database must not hold a finished change's answer
    // back; if the marker is late, forgetting every cache is just as safe.
    const deadline = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), BARRIER_MS)));
    const arrived = new Promise<boolean>((resolve) => barriers.set(marker, () => resolve(true)));
    app.db.pool.query('SELECT pg_notify($1, $2)', ['iam_invalidate', marker]).catch(() => {});
    const confirmed = await Promise.race([arrived, deadline]);
    clearTimeout(timer);
    barriers.delete(marker);
    if (!confirmed) forgetAll();
  }
  if (app.db.kind === 'server') {
    app.addHook('onSend', async (request, reply) => {
      if (!request.settleInvalidations) {
        if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS' || reply.statusCode >= 400) return;
        if (request.routeOptions.config.cacheNeutral) return;
      }
      await awaitInvalidations();
    });
  }

  async function verify(request: FastifyRequest): Promise<Verification | undefined> {
    for (const a of app.authenticators) {
      const v = await a(request);
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
    return token ? app.cachedVerification('b', token, () => verify(request)) : verify(request);
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
      if (!isUuid(named) || !(await prisma.tenant.findUnique({ where: { id: named }, select: { id: true } }))) {
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
