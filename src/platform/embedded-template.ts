// A new embedded database starts from a template made at build time: PostgreSQL's initdb and the
// migrations, run once by `npm run build` (and in the image), instead of on every first start, where
// they were most of its time (initdb alone several seconds of WebAssembly). The template is the data
// directory of a freshly migrated database, recorded with the PGlite version and the migrations it
// holds; a first start copies it only when both still match what is installed, and otherwise runs
// initdb and the migrations as before. It holds no secret: the master key and the bootstrap come after.
// A directory, not a tarball: copying files costs no memory, where PGlite's tar loader held four
// copies of the 40 MB at once (the first start's RSS grew by 150 MiB).
import { createRequire } from 'node:module';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from './db.js';
import { listMigrations, migrate, migrationsDir } from './migrate.js';

interface TemplateManifest {
  pglite: string;
  migrations: { name: string; checksum: string }[];
}

const DATA = 'pgdata';
const MANIFEST = 'manifest.json';

// dist/embedded-db of the package, whether this runs compiled (dist/src/platform) or from src/ with tsx.
export const templateDir = path.join(
  ['../..', '../../..'].map((p) => path.resolve(import.meta.dirname, p)).find((p) => existsSync(path.join(p, 'package.json'))) ?? '.',
  'dist',
  'embedded-db',
);

function pgliteVersion(): string {
  // The package's exports hide its package.json; walk up from its entry point.
  let dir = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the version of @electric-sql/pglite');
    dir = up;
  }
}

function currentManifest(dir: string): TemplateManifest {
  return { pglite: pgliteVersion(), migrations: listMigrations(dir).map(({ name, checksum }) => ({ name, checksum })) };
}

function readManifest(dir: string): TemplateManifest | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as TemplateManifest;
  } catch {
    return undefined;
  }
}

/**
 * The template's data directory, when it was made by this PGlite and its migrations are the first ones
 * on disk, unmodified (migrate() applies any later ones); otherwise undefined.
 */
export function embeddedTemplate(dir = templateDir, migrations = migrationsDir): string | undefined {
  const made = readManifest(dir);
  if (!made || !existsSync(path.join(dir, DATA, 'PG_VERSION'))) return undefined;
  const now = currentManifest(migrations);
  if (made.pglite !== now.pglite || made.migrations.length > now.migrations.length) return undefined;
  if (made.migrations.some((m, i) => m.name !== now.migrations[i]!.name || m.checksum !== now.migrations[i]!.checksum)) return undefined;
  return path.join(dir, DATA);
}

/**
 * PostgreSQL made its files for its own user only, but the image builds the template as root and runs
 * the server as another user, which must be able to copy it; it holds no secret. (A database made from
 * it is private again: its directory is 0700.)
 */
function readableByAll(p: string) {
  const isDir = statSync(p).isDirectory();
  chmodSync(p, isDir ? 0o755 : 0o644);
  if (isDir) for (const name of readdirSync(p)) readableByAll(path.join(p, name));
}

/** Writes the template unless an up-to-date one is there; returns whether it wrote one. */
export async function writeEmbeddedTemplate(dir = templateDir, migrations = migrationsDir): Promise<boolean> {
  const want = currentManifest(migrations);
  if (JSON.stringify(readManifest(dir)) === JSON.stringify(want) && existsSync(path.join(dir, DATA, 'PG_VERSION'))) return false;
  // The old manifest goes first and the new one comes last: a build killed halfway leaves no manifest
  // that vouches for a data directory it did not describe.
  rmSync(path.join(dir, MANIFEST), { force: true });
  const work = path.join(dir, 'work');
  rmSync(work, { recursive: true, force: true });
  const db = await openDatabase({ dataDir: work });
  try {
    await migrate(db.pool, migrations);
  } finally {
    // Closing shuts PostgreSQL down cleanly: the copy starts without recovering from the WAL.
    await db.close();
  }
  readableByAll(path.join(work, DATA));
  chmodSync(dir, 0o755);
  rmSync(path.join(dir, DATA), { recursive: true, force: true });
  renameSync(path.join(work, DATA), path.join(dir, DATA));
  rmSync(work, { recursive: true, force: true });
  writeFileSync(path.join(dir, `${MANIFEST}.tmp`), JSON.stringify(want));
  renameSync(path.join(dir, `${MANIFEST}.tmp`), path.join(dir, MANIFEST));
  return true;
}
