import { LRUCache } from 'lru-cache';
import type { InvalidationSubscriber } from './invalidation.js';
import { cacheEvictionsTotal, cacheHitsTotal, cacheMissesTotal } from './metrics.js';

interface CacheOptions {
  /** Most entries held (least recently used go first); 0 disables the cache. */
  max: number;
  /** Default lifetime of an entry; absent: until evicted or invalidated. */
  ttlMs?: number;
  /**
   * Serve nothing while the invalidation channel is down (default). False only for a cache
   * whose entries are kept correct by their lifetime alone, the channel merely shortening it.
   */
  needsChannel?: boolean;
  /** Its label in the cache metrics (iam_cache_*_total); unnamed caches count as "other". */
  name?: string;
}

/** LRU disposal reasons, as the metrics name them. */
const DROPPED = { evict: 'capacity', expire: 'expired', delete: 'invalidated' } as const;

interface Entry<V> {
  value: V;
  tags: readonly string[];
}

/**
 * The one in-process cache: an LRU whose entries carry invalidation tags (see
 * platform/invalidation.ts), subscribed to the invalidation channel. A notification evicts
 * every entry carrying one of its tags; a lost channel empties the cache and turns it off.
 * (Subscribing tells the cache the channel's state at once; a cache never subscribed, as in
 * unit tests, serves until turned off.)
 *
 * Loads race with invalidations: a value read from the database before a change and stored
 * after the change's notification would outlive it. So a caller reads `generation` before
 * loading and passes it to set(), which refuses the value if one of its tags (or
 * everything) was invalidated meanwhile.
 */
export class Cache<V> implements InvalidationSubscriber {
  // lru-cache allocates arrays for `max` entries up front (a megabyte per 50,000): a cache
  // that is never used (no client certificates, say) never allocates them.
  private store: LRUCache<string, Entry<V>> | undefined;
  private readonly makeStore: () => LRUCache<string, Entry<V>>;
  private readonly byTag = new Map<string, Set<string>>();
  private readonly max: number;
  private readonly needsChannel: boolean;
  /** Whether the cache serves and stores. */
  enabled: boolean;
  /** Bumped by every invalidation; read it before loading a value to store (see set()). */
  generation = 0;
  /** Recent invalidations as [generation, tags], oldest first, for set()'s check. */
  private recent: [number, Set<string> | 'all'][] = [];
  private static readonly RECENT = 1024;
  // Bound once: an increment on the lookup path costs no label hashing.
  private readonly hits: { inc(): void };
  private readonly misses: { inc(): void };

  constructor(opts: CacheOptions) {
    this.max = opts.max;
    this.needsChannel = opts.needsChannel ?? true;
    this.enabled = opts.max > 0;
    const name = opts.name ?? 'other';
    this.hits = cacheHitsTotal.labels(name);
    this.misses = cacheMissesTotal.labels(name);
    const dropped = Object.fromEntries(Object.entries(DROPPED).map(([k, reason]) => [k, cacheEvictionsTotal.labels(name, reason)]));
    this.makeStore = () =>
      new LRUCache<string, Entry<V>>({
        max: Math.max(1, opts.max),
        ttl: opts.ttlMs,
        ttlAutopurge: false,
        dispose: (entry, key, reason) => {
          // A value replaced under its own key keeps its (new) tags in the index.
          if (reason === 'set') return;
          dropped[reason]?.inc();
          this.unindex(key, entry.tags);
        },
      });
  }

  get(key: string): V | undefined {
    const entry = this.enabled ? this.store?.get(key) : undefined;
    (entry ? this.hits : this.misses).inc();
    return entry?.value;
  }

  has(key: string): boolean {
    return this.enabled && this.store !== undefined && this.store.has(key);
  }

  /**
   * Stores a value loaded since `since` was read from `generation`, under its tags; refused
   * (false) when the cache is off, the lifetime is not positive, or one of the tags was
   * invalidated since.
   */
  set(key: string, value: V, tags: readonly string[], since: number, ttlMs?: number): boolean {
    if (!this.enabled) return false;
    if (ttlMs !== undefined && ttlMs <= 0) return false;
    if (this.invalidatedSince(since, tags)) return false;
    const lru = (this.store ??= this.makeStore());
    const previous = lru.peek(key, { allowStale: true });
    if (previous) this.unindex(key, previous.tags);
    lru.set(key, { value, tags }, ttlMs === undefined ? undefined : { ttl: ttlMs });
    for (const tag of tags) {
      let keys = this.byTag.get(tag);
      if (!keys) this.byTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
    return true;
  }

  /** The cached value, or one loaded (and stored, unless raced by an invalidation). */
  async getOrLoad(key: string, load: () => Promise<{ value: V; tags: readonly string[]; ttlMs?: number }>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const since = this.generation;
    const loaded = await load();
    this.set(key, loaded.value, loaded.tags, since, loaded.ttlMs);
    return loaded.value;
  }

  delete(key: string) {
    this.store?.delete(key);
  }

  invalidate(tags: Iterable<string>) {
    const list = [...tags];
    this.record(new Set(list));
    for (const tag of list) {
      const keys = this.byTag.get(tag);
      if (!keys) continue;
      for (const key of [...keys]) this.store?.delete(key);
    }
  }

  /** Forgets everything (and refuses values loaded before). */
  clear() {
    this.record('all');
    this.store?.clear();
    this.byTag.clear();
  }

  setListening(listening: boolean) {
    this.clear();
    this.enabled = this.max > 0 && (listening || !this.needsChannel);
  }

  get size() {
    return this.store?.size ?? 0;
  }

  private unindex(key: string, tags: readonly string[]) {
    for (const tag of tags) {
      const keys = this.byTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.byTag.delete(tag);
    }
  }

  private invalidatedSince(generation: number, tags: readonly string[]): boolean {
    if (generation === this.generation) return false;
    const oldest = this.recent[0];
    if (!oldest || oldest[0] > generation + 1) return true; // the log no longer reaches back that far
    for (const [gen, hit] of this.recent) {
      if (gen <= generation) continue;
      if (hit === 'all' || tags.some((t) => hit.has(t))) return true;
    }
    return false;
  }

  private record(hit: Set<string> | 'all') {
    this.recent.push([++this.generation, hit]);
    if (this.recent.length > Cache.RECENT) this.recent.splice(0, this.recent.length - Cache.RECENT);
  }
}
