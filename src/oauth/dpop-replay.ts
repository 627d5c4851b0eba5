import type pg from 'pg';

interface Pending {
  jkt: string;
  jti: string;
  keepUntil: Date;
  settle: (firstUse: boolean) => void;
  fail: (error: unknown) => void;
}

/**
 * The jtis of accepted DPoP proofs, kept in the database so that a replay is refused on every
 * instance. The proofs checked in one turn of the event loop are recorded in one statement:
 * a round trip per proof would cost more than checking its signature.
 */
export class UsedProofs {
  private batch: Map<string, Pending> | undefined;

  constructor(private readonly pool: Pick<pg.Pool, 'query'>) {}

  /** Records the proof's jti; false when it was already recorded (a replay). */
  record(jkt: string, jti: string, keepUntil: Date): Promise<boolean> {
    if (!this.batch) {
      this.batch = new Map();
      setImmediate(() => void this.flush());
    }
    // A thumbprint has no space, so the pair's key is unambiguous.
    const key = `${jkt} ${jti}`;
    // The same proof twice in one batch: the later one is the replay.
    if (this.batch.has(key)) return Promise.resolve(false);
    return new Promise((settle, fail) => this.batch!.set(key, { jkt, jti, keepUntil, settle, fail }));
  }

  private async flush() {
    const batch = [...this.batch!.values()];
    this.batch = undefined;
    try {
      // Unnamed: a named (prepared) statement breaks behind PgBouncer in transaction mode.
      const { rows } = await this.pool.query<{ jkt: string; jti: string }>({
        text: `INSERT INTO "UsedDpopProof" (jkt, jti, "expiresAt")
               SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
               ON CONFLICT DO NOTHING RETURNING jkt, jti`,
        values: [batch.map((p) => p.jkt), batch.map((p) => p.jti), batch.map((p) => p.keepUntil)],
      });
      const recorded = new Set(rows.map((r) => `${r.jkt} ${r.jti}`));
      for (const p of batch) p.settle(recorded.has(`${p.jkt} ${p.jti}`));
    } catch (error) {
      for (const p of batch) p.fail(error);
    }
  }
}
