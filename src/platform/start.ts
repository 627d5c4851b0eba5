import type { Config } from './config.js';
import { openDatabase, type Database } from './db.js';
import { migrate } from './migrate.js';

/** Opens the configured database (server or embedded under DATA_DIR) and applies migrations. */
export async function openMigratedDatabase(config: Config): Promise<{ db: Database; applied: string[] }> {
  const db = await openDatabase({
    url: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolMax: config.DB_POOL_MAX,
    queryTimeoutMs: config.DB_QUERY_TIMEOUT_MS,
  });
  try {
    return { db, applied: await migrate(db.pool) };
  } catch (err) {
    await db.close();
    throw err;
  }
}
