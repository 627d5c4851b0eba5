import { cpSync, mkdtempSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../src/platform/db.js';
import { listMigrations, migrate, migrationsApplied, migrationsDir, MigrationError } from '../src/platform/migrate.js';
import { freshDatabase } from './helpers/db.js';

let db: Database | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

function copyOfMigrations() {
  const dir = mkdtempSync(path.join(tmpdir(), 'migrations-'));
  cpSync(migrationsDir, dir, { recursive: true });
  return dir;
}

describe('migration runner', () => {
  it('applies every migration once and is idempotent', async () => {
    db = await freshDatabase({ migrated: false });
    expect(await migrate(db.pool)).toEqual(listMigrations().map((m) => m.name));
    expect(await migrate(db.pool)).toEqual([]);
    expect(await migrationsApplied(db.pool)).toBe(true);
  });

  it('applies a new migration in its own transaction and rolls back a failing one', async () => {
    db = await freshDatabase();
    const dir = copyOfMigrations();
    const good = path.join(dir, '29990101000000_extra');
    cpSync(path.join(dir, listMigrations()[0]!.name), good, { recursive: true });
    writeFileSync(path.join(good, 'migration.sql'), 'CREATE TABLE "Extra" (id int primary key);');
    expect(await migrate(db.pool, dir)).toEqual(['29990101000000_extra']);

    const bad = path.join(dir, '29990102000000_bad');
    cpSync(good, bad, { recursive: true });
    writeFileSync(path.join(bad, 'migration.sql'), 'CREATE TABLE "Half" (id int); SELECT no_such_function();');
    await expect(migrate(db.pool, dir)).rejects.toThrow(/29990102000000_bad failed/);
    const { rows } = await db.pool.query(`SELECT to_regclass('"Half"') AS t`);
    expect(rows[0].t).toBeNull();
  });

  it('refuses to start when an applied migration was modified', async () => {
    db = await freshDatabase();
    const dir = copyOfMigrations();
    appendFileSync(path.join(dir, listMigrations()[0]!.name, 'migration.sql'), '\n-- edited\n');
    await expect(migrate(db.pool, dir)).rejects.toBeInstanceOf(MigrationError);
  });

  it.runIf(process.env.TEST_DATABASE_URL)('serialises concurrent runners with an advisory lock', async () => {
    db = await freshDatabase({ migrated: false });
    const { openDatabase } = await import('../src/platform/db.js');
    const other = await openDatabase({ url: db.url, poolMax: 2 });
    try {
      const [a, b] = await Promise.all([migrate(db.pool), migrate(other.pool)]);
      expect([...a, ...b].sort()).toEqual(
        listMigrations()
          .map((m) => m.name)
          .sort(),
      );
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM "_prisma_migrations"`);
      expect(rows[0].n).toBe(listMigrations().length);
    } finally {
      await other.close();
    }
  });
});
