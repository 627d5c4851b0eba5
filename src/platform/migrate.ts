import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';

// From src/platform when run with tsx, or from dist/src/platform when compiled.
export const migrationsDir =
  ['../../prisma/migrations', '../../../prisma/migrations'].map((p) => path.resolve(import.meta.dirname, p)).find((p) => existsSync(p)) ??
  path.resolve('prisma/migrations');

// Any constant shared by every instance; serialises concurrent start-ups.
const LOCK_KEY = 727_001;

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export function listMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

// The table exactly as Prisma creates it, so `prisma migrate status` agrees with us.
const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export class MigrationError extends Error {}

/** Applies pending migrations under an advisory lock; returns the names applied. */
export async function migrate(pool: pg.Pool, dir = migrationsDir): Promise<string[]> {
  const migrations = listMigrations(dir);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query({ text: 'SELECT pg_advisory_lock($1)', values: [LOCK_KEY], query_timeout: 24 * 3600_000 } as pg.QueryConfig);
    await client.query(CREATE_TABLE);
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const done = new Map(rows.map((r) => [r.migration_name, r]));
    for (const m of migrations) {
      const row = done.get(m.name);
      if (row?.finished_at) {
        if (row.checksum !== m.checksum) {
          throw new MigrationError(`migration ${m.name} was modified after it was applied (checksum mismatch)`);
        }
        continue;
      }
      if (row) throw new MigrationError(`migration ${m.name} failed earlier; resolve it before starting`);
      const id = randomUUID();
      await client.query('BEGIN');
      try {
        // Exempt from the pool's per-query timeout: a migration may rewrite a large table.
        await client.query({ text: m.sql, query_timeout: 24 * 3600_000 } as pg.QueryConfig);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), now(), 1)`,
          [id, m.checksum, m.name],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    client.release();
  }
}

/** True when every migration on disk is recorded as applied. */
export async function migrationsApplied(pool: pg.Pool, expected = listMigrations().length): Promise<boolean> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`);
  return Number(rows[0]?.n) >= expected;
}
