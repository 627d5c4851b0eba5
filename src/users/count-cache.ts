import { Cache } from '../platform/cache.js';
import type { InvalidationSubscriber } from '../platform/invalidation.js';
import type { UserSearch } from './schemas.js';

/**
 * Totals of user lists and searches, so that paging through a result (and repeating a
 * search) does not count every match again: counting 100k users is most of a list's
 * time. Exact, not estimated: every change to a tenant's users, their roles or groups
 * notifies "users:<tenant>" (database triggers, so every code path does), which evicts
 * that tenant's totals; a count that raced such a change is not stored (the key carries
 * the cache generation it was taken at). While notifications may be missed (listener
 * down), nothing is served from here.
 */
export class UserCountCache implements InvalidationSubscriber {
  private readonly cache: Cache<number>;

  constructor(max: number) {
    this.cache = new Cache<number>({ max, ttlMs: 10 * 60_000 });
  }

  /** The key for a count taken from now on; read it before counting. */
  key(tenantId: string, criteria: UserSearch): string | undefined {
    if (!this.cache.enabled) return undefined;
    return `${this.cache.generation}:${tenantId}:${JSON.stringify(criteria, Object.keys(criteria).sort())}`;
  }

  get(key: string | undefined): number | undefined {
    return key === undefined ? undefined : this.cache.get(stored(key));
  }

  set(key: string | undefined, total: number) {
    if (key === undefined) return;
    const at = key.indexOf(':');
    const tenantId = key.slice(at + 1, key.indexOf(':', at + 1));
    this.cache.set(stored(key), total, [`users:${tenantId}`], Number(key.slice(0, at)));
  }

  /** Tags of one notification on the invalidation channel. */
  invalidate(tags: string[]) {
    this.cache.invalidate(tags);
  }

  setListening(listening: boolean) {
    this.cache.setListening(listening);
  }
}

/** The key without the generation it was taken at. */
function stored(key: string): string {
  return key.slice(key.indexOf(':') + 1);
}
