import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { Cache } from '../platform/cache.js';
import type { InvalidationSubscriber } from '../platform/invalidation.js';
import { invalidGrant } from './errors.js';

/**
 * Standing grants: client_credentials and JWT-bearer tokens have no authorization of their
 * own to revoke, yet they must die with what they were issued through. Each client (an
 * application with the service account it is bound to) and each service-account key has one
 * long-lived OAuthGrant (`standing`) that all its tokens name: a JWT's gid claim, an opaque
 * token's grantId. Deleting the application, key or account deletes the grant through
 * cascading foreign keys (rebinding the application, a trigger); the grant's row is checked
 * when a token is verified, and its trigger evicts cached principals on every instance.
 *
 * One grant per client or key rather than one per token: the token endpoint's hot path
 * finds it in memory, and writes nothing more than it did.
 */
export type StandingFor =
  | { tenantId: string; serviceAccountId: string; applicationId: string; keyId?: undefined }
  | { tenantId: string; serviceAccountId: string; keyId: string; applicationId?: undefined };

/**
 * Finds (or makes) the standing grant of a client or key, remembering its id under the tag
 * of its invalidation notification (`grant:<id>`, on update of revokedAt or deletion). A
 * stale id could only make tokens fail, never outlive what issued them.
 */
export class StandingGrants implements InvalidationSubscriber {
  private readonly ids = new Cache<string>({ max: 10_000 });

  constructor(private readonly pool: pg.Pool) {}

  private static keyOf(f: StandingFor): string {
    return f.keyId ? `k:${f.tenantId}:${f.keyId}:${f.serviceAccountId}` : `a:${f.tenantId}:${f.applicationId}:${f.serviceAccountId}`;
  }

  async idFor(f: StandingFor): Promise<string> {
    const key = StandingGrants.keyOf(f);
    const hit = this.ids.get(key);
    if (hit) return hit;
    const since = this.ids.generation;
    const id = (await this.find(f)) ?? (await this.create(f));
    this.ids.set(key, id, [`grant:${id}`], since);
    return id;
  }

  private async find(f: StandingFor): Promise<string | undefined> {
    const { rows } = f.keyId
      ? await this.pool.query<{ id: string }>(
          `SELECT id FROM "OAuthGrant"
            WHERE "tenantId" = $1 AND "keyId" = $2 AND "serviceAccountId" = $3 AND standing AND "revokedAt" IS NULL
            ORDER BY "createdAt" LIMIT 1`,
          [f.tenantId, f.keyId, f.serviceAccountId],
        )
      : await this.pool.query<{ id: string }>(
          `SELECT id FROM "OAuthGrant"
            WHERE "tenantId" = $1 AND "serviceAccountId" = $2 AND "applicationId" = $3 AND standing AND "revokedAt" IS NULL
            ORDER BY "createdAt" LIMIT 1`,
          [f.tenantId, f.serviceAccountId, f.applicationId],
        );
    return rows[0]?.id;
  }

  // Two first requests at once may each make one: both are valid, and both go with their client or key.
  private async create(f: StandingFor): Promise<string> {
    const id = randomUUID();
    let made: number | null;
    try {
      ({ rowCount: made } = f.keyId
        ? await this.pool.query(
            `INSERT INTO "OAuthGrant" (id, "tenantId", "keyId", "serviceAccountId", scope, amr, standing)
             VALUES ($1, $2, $3, $4, '', '{}', true)`,
            [id, f.tenantId, f.keyId, f.serviceAccountId],
          )
        : // Only for the application's current binding: an instance that still holds the client
          // as it was before a rebinding (hot cache) must not give the old account a new grant.
          await this.pool.query(
            `INSERT INTO "OAuthGrant" (id, "tenantId", "applicationId", "serviceAccountId", scope, amr, standing)
             SELECT $1, a."tenantId", a.id, a."serviceAccountId", '', '{}', true
               FROM "Application" a
              WHERE a."tenantId" = $2 AND a.id = $3 AND a."serviceAccountId" = $4 AND 'client_credentials' = ANY (a."grantTypes")`,
            [id, f.tenantId, f.applicationId, f.serviceAccountId],
          ));
    } catch (err) {
      // The key or account was deleted since it was authenticated.
      if ((err as { code?: string }).code === '23503') throw invalidGrant('The key or service account is gone');
      throw err;
    }
    if (!made) throw invalidGrant('The client is gone or no longer bound to this service account');
    return id;
  }

  invalidate(tags: string[]) {
    this.ids.invalidate(tags);
  }

  setListening(listening: boolean) {
    this.ids.setListening(listening);
  }
}
