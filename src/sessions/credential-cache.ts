import { hash } from 'node:crypto';
import { Cache } from '../platform/cache.js';
import type { InvalidationSubscriber } from '../platform/invalidation.js';
import type { Principal } from '../principals/principal.js';

/**
 * Verified credentials, by a hash of the credential, each kept no longer than the
 * credential itself lives. Entries carry tags (credential, subject, tenant, groups)
 * so that a change anywhere evicts exactly the principals it affects. Off while the
 * invalidation channel it is subscribed to is down: then every lookup goes to the database.
 */
export class CredentialCache implements InvalidationSubscriber {
  private readonly lru: Cache<Principal>;
  private readonly maxTtlMs: number;

  constructor(opts: { max: number; maxTtlMs: number }) {
    this.maxTtlMs = opts.maxTtlMs;
    this.lru = new Cache<Principal>({ max: opts.max, name: 'credentials' });
  }

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

  /** False while cross-instance invalidation is down (or the cache is sized 0). */
  get enabled(): boolean {
    return this.lru.enabled;
  }

  set enabled(on: boolean) {
    this.lru.enabled = on;
  }

  /**
   * Bumped by every invalidation. A verification that started before an invalidation
   * of one of its tags may have read the old state, so its result is not cached (see set()).
   */
  get generation(): number {
    return this.lru.generation;
  }

  get(key: string): Principal | undefined {
    return this.lru.get(key);
  }

  /** Caches a principal verified from the database since `generation` was read. */
  set(key: string, principal: Principal, generation: number, now = Date.now()) {
    const ttl = Math.min(this.maxTtlMs, principal.expiresAt ? principal.expiresAt.getTime() - now : this.maxTtlMs);
    this.lru.set(key, principal, CredentialCache.tagsOf(principal), generation, ttl);
  }

  invalidate(tags: string[]) {
    this.lru.invalidate(tags);
  }

  setListening(listening: boolean) {
    this.lru.setListening(listening);
  }

  clear() {
    this.lru.clear();
  }

  get size() {
    return this.lru.size;
  }
}
