// A short-lived in-process cache for the token endpoint's lookups (client, service account).
// Changes made through this instance invalidate it at once; other instances see them within
// CLIENT_CACHE_SECONDS (0 disables it). The proxy-validation cache with cross-instance
// invalidation (LISTEN/NOTIFY) can replace it.

interface Entry<T> {
  value: T;
  until: number;
}

export class HotCache<T> {
  private entries = new Map<string, Entry<T>>();
  constructor(private readonly ttlMs: () => number, private readonly max = 10_000) {}

  async get(key: string, load: () => Promise<T>): Promise<T> {
    const ttl = this.ttlMs();
    if (ttl <= 0) return load();
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.value;
    const value = await load();
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { value, until: now + ttl });
    return value;
  }

  delete(key: string) {
    this.entries.delete(key);
  }

  clear() {
    this.entries.clear();
  }
}

let ttlSeconds = 0;
/** Set from the configuration when the app starts. */
export function setHotCacheTtl(seconds: number) {
  ttlSeconds = seconds;
}
const ttl = () => ttlSeconds * 1000;

/** Pools are per database, so several apps in one process (tests) never share entries. */
const byPool = new WeakMap<object, { clients: HotCache<unknown>; subjects: HotCache<unknown> }>();
const all = new Set<{ clients: HotCache<unknown>; subjects: HotCache<unknown> }>();

export function cachesOf(pool: object) {
  let c = byPool.get(pool);
  if (!c) {
    c = { clients: new HotCache<unknown>(ttl), subjects: new HotCache<unknown>(ttl) };
    byPool.set(pool, c);
    all.add(c);
  }
  return c;
}

/** Called when an application changes (update, delete, secret rotation). */
export function forgetClient(clientId: string) {
  for (const c of all) c.clients.delete(clientId);
}
