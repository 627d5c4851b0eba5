import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/platform/db.js';
import { migrate } from '../../src/platform/migrate.js';

/**
 * A fresh, migrated database for one test file: a new database on the server named
 * by TEST_DATABASE_URL (dropped afterwards), or an embedded one: a copy of the run's
 * template in a temporary directory (removed on close), in memory when unmigrated.
 */
export async function freshDatabase(opts: { migrated?: boolean } = {}): Promise<Database> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  // The run's template (test/global-setup.ts), for a migrated embedded database.
  const template = opts.migrated === false ? undefined : process.env.TEST_EMBEDDED_TEMPLATE;
  let db: Database;
  if (serverUrl) {
    const scratch = await scratchDatabase(serverUrl, 'iam_test');
    db = closingAlso(await openDatabase({ url: scratch.url, poolMax: 5 }), scratch.drop);
  } else if (template) {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'iam-test-db-'));
    db = closingAlso(await openDatabase({ dataDir, template: () => template }), () => rmSync(dataDir, { recursive: true, force: true }));
  } else db = await openDatabase({});
  if (opts.migrated !== false) await migrate(db.pool);
  return db;
}

/** `db`, whose close also disposes of what held it (a scratch database, a temporary directory). */
function closingAlso(db: Database, dispose: () => unknown): Database {
  return {
    ...db,
    async close() {
      await db.close();
      await dispose();
    },
  };
}

/** A new, empty database on the PostgreSQL server at `serverUrl`, for one test (a server process, several instances). */
export async function scratchDatabase(serverUrl: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = '/' + name;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}
