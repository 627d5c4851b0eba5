import { LRUCache } from 'lru-cache';
import type { UserSearch } from './schemas.js';

/**
 * Totals of user lists and searches, so that paging through a result (and repeating a
 * search) does not count every match again: counting 100k users is most of a list's
 * time. Exact, not estimated: every change to a tenant's users, their roles or groups
 * notifies "users:<tenant>" (database triggers, so every code path does), which moves
 * that tenant to a new generation; entries are keyed by generation, so a count that
 * raced a change is stored under a generation no lookup uses any more. While
 * notifications may be missed (listener down), nothing is served from here.
 */
export class UserCountCache {
  private readonly lru: LRUCache<string, number>;
  private readonly generations = new Map<string, number>();
  private epoch = 0;
  private listening = false;

  constructor(private readonly max: number) {
    this.lru = new LRUCache({ max: Math.max(1, max), ttl: 10 * 60_000 });
  }

  /** The key for a count taken from now on; read it before counting. */
  key(tenantId: string, criteria: UserSearch): string | undefined {
    if (!this.listening || this.max === 0) return undefined;
    return `${this.epoch}:${tenantId}:${this.generations.get(tenantId) ?? 0}:${JSON.stringify(criteria, Object.keys(criteria).sort())}`;
  }

  get(key: string | undefined): number | undefined {
    return key === undefined ? undefined : this.lru.get(key);
  }

  set(key: string | undefined, total: number) {
    if (key !== undefined) this.lru.set(key, total);
  }

  /** Tags of one notification on the invalidation channel. */
  invalidate(tags: string[]) {
    for (const tag of tags) {
      if (!tag.startsWith('users:')) continue;
      const tenantId = tag.slice(6);
      this.generations.set(tenantId, (this.generations.get(tenantId) ?? 0) + 1);
    }
  }

  setListening(listening: boolean) {
    this.listening = listening;
    this.epoch++;
    this.generations.clear();
    this.lru.clear();
  }
}
