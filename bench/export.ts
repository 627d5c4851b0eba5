// Export/import at scale: a tenant of BENCH_USERS users (100,000 by default) with a group
// holding all of them, exported with the CLI to a file, imported from it into an empty
// database, and imported again (nothing changes). Each phase runs as the CLI does
// (`npm run cli -- export|import`, compiled), in its own process, so that its peak RSS is
// its own. Usage: npm run bench -- export [users]
// The databases are on the PostgreSQL server of TEST_DATABASE_URL (default 127.0.0.1:5432).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { hashPassword } from '../src/platform/passwords.js';
import { scratchDatabase } from '../test/helpers/db.js';

const USERS = Number(process.argv[2] ?? process.env.BENCH_USERS ?? 100_000);
const SERVER = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

if (spawnSync(process.execPath, ['scripts/build-if-changed.mjs'], { stdio: 'inherit' }).status !== 0) process.exit(1);

const source = await scratchDatabase(SERVER, 'iam_bench_export');
const target = await scratchDatabase(SERVER, 'iam_bench_import');
const dir = mkdtempSync(path.join(tmpdir(), 'iam-export-bench-'));
const file = path.join(dir, 'export.json');

try {
  const db = await openDatabase({ url: source.url, poolMax: 2 });
  await migrate(db.pool);
  const t0 = performance.now();
  // Every user has a password hash, as exported with --with-passwords (one hash for all: argon2 is slow by design).
  const hash = await hashPassword('Bench-Password-1!', { memoryCost: 8192, timeCost: 1, parallelism: 1 });
  const tenant = await db.prisma.tenant.create({ data: { name: 'Bench' } });
  const group = await db.prisma.userGroup.create({ data: { tenantId: tenant.id, name: 'All' } });
  // Seeded in SQL, in batches: one statement per 100,000 rows would outlast the query timeout.
  for (let from = 0; from < USERS; from += 10_000) {
    const to = Math.min(USERS, from + 10_000) - 1;
    await db.pool.query(
      `INSERT INTO "User" (id, "tenantId", username, email, "firstName", "lastName", state, "externalId", "passwordHash", "updatedAt")
       SELECT gen_random_uuid(), $1, 'user-' || i, 'user-' || i || '@bench.test', 'User', i::text, 'active', 'ext-' || i, $4, now()
       FROM generate_series($2::int, $3::int) AS i`,
      [tenant.id, from, to, hash],
    );
  }
  await db.pool.query(`INSERT INTO "GroupMembership" ("tenantId", "groupId", "userId") SELECT "tenantId", $2, id FROM "User" WHERE "tenantId" = $1`, [
    tenant.id,
    group.id,
  ]);
  await db.pool.query('ANALYZE'); // as autovacuum would have done on a database in use
  await db.close();
  await (await openDatabase({ url: target.url, poolMax: 1 })).close();
  console.log(`export/import benchmark: ${USERS} users in one tenant (seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s), PostgreSQL server`);

  const cli = (url: string, args: string[]) => phase(url, args);
  await report('export to a file', await cli(source.url, ['export', '--out', file, '--with-passwords']));
  console.log(`document size ${(statSync(file).size / 1e6).toFixed(1)} MB`);
  await report('import into an empty database', await cli(target.url, ['import', '--in', file]));
  await report('import again (nothing changes)', await cli(target.url, ['import', '--in', file]));
} finally {
  if (process.env.BENCH_KEEP_FILE) console.log(`kept ${file}`);
  else rmSync(dir, { recursive: true, force: true });
  await source.drop();
  await target.drop();
}

/** Runs the compiled CLI in its own process; returns its time and peak RSS (from GNU time). */
function phase(url: string, args: string[]): Promise<{ ms: number; peakKiB: number; code: number | null; out: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/time', ['-f', 'peak-rss-kib %M', process.execPath, 'dist/src/cli.js', ...args], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('close', (code) => {
      const peak = /peak-rss-kib (\d+)/.exec(err);
      if (code !== 0) console.error(err.slice(-2000));
      resolve({ ms: performance.now() - started, peakKiB: peak ? Number(peak[1]) : NaN, code, out });
    });
  });
}

async function report(label: string, r: Awaited<ReturnType<typeof phase>>) {
  let status = '';
  if (r.out.trim().startsWith('{')) {
    const orgs = (JSON.parse(r.out) as { orgs: { status: string; created: number; unchanged: number }[] }).orgs;
    status = `  (${orgs.map((o) => `${o.status}: ${o.created} created, ${o.unchanged} unchanged`).join('; ')})`;
  }
  console.log(
    `${label.padEnd(32)} ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${((USERS / r.ms) * 1000).toFixed(0).padStart(6)} users/s  peak RSS ${(r.peakKiB / 1024).toFixed(0).padStart(5)} MiB${r.code ? `  exit ${r.code}` : ''}${status}`,
  );
}
