import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../principals/principal.js';

/**
 * Verified credentials, by a hash of the credential, each kept no longer than the
 * credential itself lives. Entries carry tags (credential, subject, tenant, groups)
 * so that a change anywhere evicts exactly the principals it affects.
 */
export class CredentialCache {
  private readonly lru: LRUCache<string, { principal: Principal; tags: string[] }>;
  private readonly byTag = new Map<string, Set<string>>();
  /** Off while cross-instance invalidation is down: then every lookup goes to the database. */
  enabled = true;
  /**
   * Bumped by every invalidation. A verification that started before an invalidation
   * of one of its tags may have read the old state, so its result is not cached (see set()).
   */
  generation = 0;
  /** Recent invalidations as [generation, tags], oldest first, for that check. */
  private recent: [number, Set<string> | 'all'][] = [];
  private static readonly RECENT = 1024;

  constructor(opts: { max: number; maxTtlMs: number }) {
    this.maxTtlMs = opts.maxTtlMs;
    this.lru = new LRUCache({
      max: opts.max,
      ttlAutopurge: false,
      dispose: (value, key) => {
        for (const tag of value.tags) {
          const keys = this.byTag.get(tag);
          keys?.delete(key);
          if (keys?.size === 0) this.byTag.delete(tag);
        }
      },
    });
  }

  private readonly maxTtlMs: number;

  static key(kind: string, credential: string): string {
    // Hashed so that the cache never holds credentials in the clear (one-shot hash():
    // half the cost of a Hash object, on the proxies' hot path).
    return kind + hash('sha256', credential, 'base64url');
  }

  static tagsOf(p: Principal): string[] {
    const tags = [`cred:${p.credentialId}`, `subject:${p.subjectId}`, `tenant:${p.tenantId}`, ...p.groups.map((g) => `group:${g}`)];
    if (p.grantId) tags.push(`grant:${p.grantId}`);
    return tags;
  }

  get(key: string): Principal | undefined {
    if (!this.enabled) return undefined;
    return this.lru.get(key)?.principal;
  }

  /** Caches a principal verified from the database since `generation` was read. */
  set(key: string, principal: Principal, generation: number, now = Date.now()) {
    if (!this.enabled) return;
    const tags = CredentialCache.tagsOf(principal);
    if (this.invalidatedSince(generation, tags)) return;
    const ttl = Math.min(this.maxTtlMs, principal.expiresAt ? principal.expiresAt.getTime() - now : this.maxTtlMs);
    if (ttl <= 0) return;
    this.lru.set(key, { principal, tags }, { ttl });
    for (const tag of tags) {
      let keys = this.byTag.get(tag);
      if (!keys) this.byTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  private invalidatedSince(generation: number, tags: string[]): boolean {
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
    if (this.recent.length > CredentialCache.RECENT) this.recent.splice(0, this.recent.length - CredentialCache.RECENT);
  }

  invalidate(tags: Iterable<string>) {
    const list = [...tags];
    this.record(new Set(list));
    for (const tag of list) {
      const keys = this.byTag.get(tag);
      if (!keys) continue;
      for (const key of [...keys]) this.lru.delete(key);
    }
  }

  clear() {
    this.record('all');
    this.lru.clear();
    this.byTag.clear();
  }

  get size() {
    return this.lru.size;
  }
}
