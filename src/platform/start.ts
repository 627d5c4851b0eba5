import pg from 'pg';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db.js';
import { embeddedTemplate } from './embedded-template.js';
import { migrate } from './migrate.js';

/** Opens the configured database (server or embedded under DATA_DIR) and applies migrations. */
export async function openMigratedDatabase(config: Config): Promise<{ db: Database; applied: string[] }> {
  const db = await openDatabase({
    url: config.DATABASE_URL,
    directUrl: config.DATABASE_DIRECT_URL,
    dataDir: config.DATA_DIR,
    poolMax: config.DB_POOL_MAX,
    queryTimeoutMs: config.DB_QUERY_TIMEOUT_MS,
    sharedBuffersMb: config.EMBEDDED_SHARED_BUFFERS_MB,
    template: embeddedTemplate,
  });
  // Migrations hold a session-level advisory lock, which a transaction pooler cannot keep.
  const direct = config.DATABASE_URL && config.DATABASE_DIRECT_URL ? new pg.Pool({ connectionString: config.DATABASE_DIRECT_URL, max: 1 }) : undefined;
  try {
    return { db, applied: await migrate(direct ?? db.pool) };
  } catch (err) {
    await db.close();
    throw err;
  } finally {
    await direct?.end();
  }
}
