// The token endpoint's lookups (client, service account with its roles), kept in memory
// for CLIENT_CACHE_SECONDS (0 disables it). Changes made through this instance forget an
// entry at once (forgetClient); subscribed to the invalidation channel (subscribeHotCaches),
// every instance also forgets it when the database notifies its tags ("client:<clientId>",
// "subject:<id>", "tenant:<id>"). The lifetime alone keeps entries correct, so they are
// served while the channel is down too.
import { Cache } from '../platform/cache.js';
import type { Invalidation } from '../platform/invalidation.js';

const MAX_ENTRIES = 10_000;

class HotCache<T> {
  /** Boxed, so that "not found" is remembered too. */
  readonly cache = new Cache<{ value: T }>({ max: MAX_ENTRIES, needsChannel: false });

  constructor(
    private readonly ttlMs: () => number,
    private readonly tagsOf: (key: string, value: T) => string[],
  ) {}

  async get(key: string, load: () => Promise<T>): Promise<T> {
    const ttl = this.ttlMs();
    if (ttl <= 0) return load();
    const hit = this.cache.get(key);
    if (hit) return hit.value;
    const since = this.cache.generation;
    const value = await load();
    this.cache.set(key, { value }, this.tagsOf(key, value), since, ttl);
    return value;
  }

  delete(key: string) {
    this.cache.delete(key);
  }

  clear() {
    this.cache.clear();
  }
}

let ttlSeconds = 0;
/** Set from the configuration when the app starts. */
export function setHotCacheTtl(seconds: number) {
  ttlSeconds = seconds;
}
const ttl = () => ttlSeconds * 1000;

type Caches = { clients: HotCache<unknown>; subjects: HotCache<unknown> };

/** Pools are per database, so several apps in one process (tests) never share entries. */
const byPool = new WeakMap<object, Caches>();
const all = new Set<Caches>();

export function cachesOf(pool: object): Caches {
  let c = byPool.get(pool);
  if (!c) {
    c = {
      // Keyed by client id; the row carries its tenant.
      clients: new HotCache<unknown>(ttl, (clientId, row) => {
        const tenantId = (row as { tenantId?: string } | undefined)?.tenantId;
        return tenantId ? [`client:${clientId}`, `tenant:${tenantId}`] : [`client:${clientId}`];
      }),
      // Keyed by "<tenant id>:<service account id>".
      subjects: new HotCache<unknown>(ttl, (key) => {
        const [tenantId, subjectId] = key.split(':');
        return [`subject:${subjectId}`, `tenant:${tenantId}`];
      }),
    };
    byPool.set(pool, c);
    all.add(c);
  }
  return c;
}

/** Feeds the hot caches of a database from its invalidation channel. Returns an unsubscribe. */
export function subscribeHotCaches(pool: object, invalidation: Invalidation): () => void {
  const c = cachesOf(pool);
  const off = [invalidation.subscribe(c.clients.cache), invalidation.subscribe(c.subjects.cache)];
  return () => off.forEach((f) => f());
}

/** Called when an application changes (update, delete, secret rotation). */
export function forgetClient(clientId: string) {
  for (const c of all) c.clients.delete(clientId);
}
