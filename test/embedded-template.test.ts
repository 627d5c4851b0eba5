// A new embedded database starts from the build's template (initdb and the migrations done once, at
// build time) only when the template matches what is installed; otherwise it is made as before.
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/platform/db.js';
import { embeddedTemplate, writeEmbeddedTemplate } from '../src/platform/embedded-template.js';
import { listMigrations, migrate, migrationsDir } from '../src/platform/migrate.js';

const scratch: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
};
afterAll(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

const all = listMigrations().map((m) => m.name);
// The template is made from every migration but the last, so one run covers both a template that is
// current and one that a later migration has overtaken.
let older: string;
let template: string;
beforeAll(async () => {
  older = tempDir('migrations-');
  cpSync(migrationsDir, older, { recursive: true });
  rmSync(path.join(older, all.at(-1)!), { recursive: true });
  template = tempDir('template-');
  expect(await writeEmbeddedTemplate(template, older)).toBe(true);
}, 120_000);

/** Opens a database in `dataDir` (from `template` when new), migrates it; `mark` leaves a table behind. */
async function startFrom(template: string | undefined, dataDir: string, opts: { migrations?: string; mark?: boolean } = {}) {
  let asked = 0;
  const db = await openDatabase({
    dataDir,
    template: () => {
      asked++;
      return template;
    },
  });
  try {
    const applied = await migrate(db.pool, opts.migrations ?? migrationsDir);
    const users = await db.prisma.user.count();
    const marked = (await db.pool.query(`SELECT to_regclass('left_behind') IS NOT NULL AS t`)).rows[0].t;
    if (opts.mark) await db.pool.query('CREATE TABLE left_behind (x int)');
    return { applied, asked, users, marked };
  } finally {
    await db.close();
  }
}

describe('the embedded database template', () => {
  it('is not written again while it is current', async () => {
    const made = statSync(path.join(template, 'pgdata', 'PG_VERSION')).mtimeMs;
    expect(await writeEmbeddedTemplate(template, older)).toBe(false);
    expect(statSync(path.join(template, 'pgdata', 'PG_VERSION')).mtimeMs).toBe(made);
  });

  it('gives a first start a migrated database, and is not consulted again once the database exists', async () => {
    const copy = embeddedTemplate(template, older);
    expect(copy).toBe(path.join(template, 'pgdata'));
    const dataDir = tempDir('data-');
    expect(await startFrom(copy, dataDir, { migrations: older, mark: true })).toEqual({ applied: [], asked: 1, users: 0, marked: false });
    expect(await startFrom(copy, dataDir, { migrations: older })).toEqual({ applied: [], asked: 0, users: 0, marked: true });
    // Each new database is a copy: what the first one wrote is not in the next.
    expect(await startFrom(copy, tempDir('data-'), { migrations: older })).toEqual({ applied: [], asked: 1, users: 0, marked: false });
  }, 120_000);

  it('replaces what a start killed during the copy left behind', async () => {
    const dataDir = tempDir('data-');
    mkdirSync(path.join(dataDir, 'pgdata.partial', 'base'), { recursive: true });
    writeFileSync(path.join(dataDir, 'pgdata.partial', 'PG_VERSION'), '17\n');
    mkdirSync(path.join(dataDir, 'pgdata'));
    expect(await startFrom(embeddedTemplate(template, older), dataDir, { migrations: older })).toEqual({ applied: [], asked: 1, users: 0, marked: false });
    expect(existsSync(path.join(dataDir, 'pgdata.partial'))).toBe(false);
  }, 120_000);

  it('serves a newer release whose migrations extend it: only the new one is applied', async () => {
    const copy = embeddedTemplate(template, migrationsDir);
    expect(copy).toBe(path.join(template, 'pgdata'));
    expect(await startFrom(copy, tempDir('data-'))).toEqual({ applied: [all.at(-1)], asked: 1, users: 0, marked: false });
  }, 120_000);

  it('is refused when one of its migrations was edited since, or when PGlite is another version', () => {
    const edited = tempDir('migrations-');
    cpSync(older, edited, { recursive: true });
    appendFileSync(path.join(edited, all[0]!, 'migration.sql'), '\n-- edited\n');
    expect(embeddedTemplate(template, edited)).toBeUndefined();

    const fewer = tempDir('migrations-');
    cpSync(older, fewer, { recursive: true });
    rmSync(path.join(fewer, all.at(-2)!), { recursive: true });
    expect(embeddedTemplate(template, fewer)).toBeUndefined();

    const otherVersion = tempDir('template-');
    cpSync(template, otherVersion, { recursive: true });
    const manifest = JSON.parse(readFileSync(path.join(otherVersion, 'manifest.json'), 'utf8'));
    writeFileSync(path.join(otherVersion, 'manifest.json'), JSON.stringify({ ...manifest, pglite: '0.0.1' }));
    expect(embeddedTemplate(otherVersion, older)).toBeUndefined();

    expect(embeddedTemplate(tempDir('template-'), older)).toBeUndefined();
  });

  it('is made without: a first start runs initdb and every migration', async () => {
    expect(await startFrom(undefined, tempDir('data-'))).toEqual({ applied: all, asked: 1, users: 0, marked: false });
  }, 120_000);
});
