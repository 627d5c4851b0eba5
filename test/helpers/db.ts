import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/platform/db.js';
import { migrate } from '../../src/platform/migrate.js';

/**
 * A fresh, migrated database for one test file: a new database on the server named
 * by TEST_DATABASE_URL (dropped afterwards), or an in-memory embedded one.
 */
export async function freshDatabase(opts: { migrated?: boolean } = {}): Promise<Database> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  let db: Database;
  if (serverUrl) {
    const name = `iam_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
    const url = new URL(serverUrl);
    url.pathname = '/' + name;
    const inner = await openDatabase({ url: url.toString(), poolMax: 5 });
    db = {
      ...inner,
      async close() {
        await inner.close();
        const c = new pg.Client({ connectionString: serverUrl });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await c.end();
      },
    };
  } else {
    db = await openDatabase({});
  }
  if (opts.migrated !== false) await migrate(db.pool);
  return db;
}
