// Latency of user search and listing over HTTP against PostgreSQL with 100,000 users
// in one tenant. Run: npx tsx bench/users.ts   (BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres)
// Creates and drops its own database. Prints p50/p95 per scenario; the target is p95 <= 25 ms.
// Totals are cached between requests (src/users/count-cache.ts); USER_COUNT_CACHE_SIZE=0 counts every time.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { buildApp } from '../src/http/app.js';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { loadConfig } from '../src/platform/config.js';
import { openDatabase } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { generatePat, hashPat } from '../src/principals/pat.js';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const serverUrl = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const dbName = `bench_users_${process.pid}_${randomBytes(3).toString('hex')}`;

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Seeds users in SQL; ids are uuid v7-shaped and ascend with creation time, like the service's. */
async function seed(pool: pg.Pool, tenantId: string) {
  const t0 = Date.now();
  await pool.query(
    `INSERT INTO "User" ("id", "tenantId", "username", "email", "firstName", "lastName", "state", "createdAt", "updatedAt")
     SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12))::uuid,
            $1::uuid, u, e, f, l, CASE WHEN i % 50 = 0 THEN 'inactive' ELSE 'active' END, ts, ts
     FROM (
       SELECT i, lpad(to_hex($2::bigint + i), 12, '0') AS h, md5(i::text) AS r,
              'user' || lpad(i::text, 6, '0') AS u,
              (ARRAY['john','jane','mike','pam','dwight','oscar','kevin','angela'])[1 + i % 8] || '.' || i || '@' ||
              (ARRAY['acme.test','globex.test','initech.test','umbrella.test','hooli.test'])[1 + i % 5] AS e,
              (ARRAY['John','Jane','Mike','Pam','Dwight','Oscar','Kevin','Angela'])[1 + i % 8] AS f,
              (ARRAY['Doe','Scott','Beesly','Schrute','Martinez','Malone','Martin','Halpert','Bernard','Howard'])[1 + i % 10] AS l,
              to_timestamp(($2::bigint + i) / 1000.0) AS ts
       FROM generate_series(1, $3::int) AS i
     ) s`,
    [tenantId, Date.now() - USERS - 1000, USERS],
  );
  // Everyone is tenant-user; 1 in 100 is tenant-contributor directly, and a group of 500 grants it too.
  await pool.query(
    `INSERT INTO "RoleAssignment" ("id", "tenantId", "roleName", "userId") SELECT gen_random_uuid(), $1, 'tenant-user', id FROM "User" WHERE "tenantId" = $1`,
    [tenantId],
  );
  await pool.query(
    `INSERT INTO "RoleAssignment" ("id", "tenantId", "roleName", "userId")
     SELECT gen_random_uuid(), $1, 'tenant-contributor', id FROM "User" WHERE "tenantId" = $1 AND "username" LIKE '%00'`,
    [tenantId],
  );
  const { rows } = await pool.query(
    `INSERT INTO "UserGroup" ("id", "tenantId", "name", "updatedAt") VALUES (gen_random_uuid(), $1, 'Contributors', now()) RETURNING id`,
    [tenantId],
  );
  const groupId = rows[0].id;
  await pool.query(`INSERT INTO "RoleAssignment" ("id", "tenantId", "roleName", "groupId") VALUES (gen_random_uuid(), $1, 'tenant-contributor', $2)`, [
    tenantId,
    groupId,
  ]);
  await pool.query(
    `INSERT INTO "GroupMembership" ("tenantId", "groupId", "userId") SELECT $1, $2, id FROM "User" WHERE "tenantId" = $1 AND "username" LIKE '%7' ORDER BY id LIMIT 500`,
    [tenantId, groupId],
  );
  await pool.query('VACUUM ANALYZE');
  return Date.now() - t0;
}

interface Scenario {
  name: string;
  method: 'GET' | 'POST';
  path: string | (() => string);
  body?: () => unknown;
}

function percentile(sorted: number[], p: number) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measure(base: string, token: string, tenantId: string, s: Scenario) {
  const headers = { authorization: `Bearer ${token}`, 'x-forwarded-tenant-id': tenantId, 'content-type': 'application/vnd.api+json' };
  const once = async () => {
    const path = typeof s.path === 'function' ? s.path() : s.path;
    const start = performance.now();
    const res = await fetch(base + path, { method: s.method, headers, body: s.body ? JSON.stringify(s.body()) : undefined });
    const text = await res.text();
    const ms = performance.now() - start;
    if (res.status !== 200) throw new Error(`${s.name}: ${res.status} ${text.slice(0, 200)}`);
    const doc = text.startsWith('{') ? (JSON.parse(text) as { meta?: { total?: number } }) : undefined;
    return { ms, total: doc?.meta?.total };
  };
  const first = await once();
  for (let i = 0; i < 30; i++) await once();
  const latencies: number[] = [];
  const end = Date.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) latencies.push((await once()).ms);
    }),
  );
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), matches: first.total };
}

async function main() {
  await admin(`CREATE DATABASE "${dbName}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const db = await openDatabase({ url: url.toString(), poolMax: 10 });
  try {
    await migrate(db.pool);
    const config = loadConfig({
      DATABASE_URL: url.toString(),
      LOG_LEVEL: 'silent',
      PUBLIC_URL: 'http://127.0.0.1',
      ARGON2_MEMORY_KIB: '8192',
      ARGON2_ITERATIONS: '1',
      // USER_COUNT_CACHE_SIZE=0 measures every request counting its matches afresh.
      ...(process.env.USER_COUNT_CACHE_SIZE ? { USER_COUNT_CACHE_SIZE: process.env.USER_COUNT_CACHE_SIZE } : {}),
    });
    const app = await buildApp({ config, db, masterKey: randomBytes(32), logger: false });
    await bootstrap(db, config);
    const tenant = await db.prisma.tenant.create({ data: { name: 'Bench' } });
    const pat = generatePat();
    await db.prisma.serviceAccount.create({
      data: {
        tenantId: tenant.id,
        name: 'bench',
        username: 'bench',
        roles: { create: { roleName: 'tenant-admin' } },
        pats: { create: { tokenHash: hashPat(pat), expiresAt: new Date(Date.now() + 3600_000) } },
      },
    });
    const seededMs = await seed(db.pool, tenant.id);
    const { loadavg } = await import('node:os');
    console.log(
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${(await import('node:os')).cpus().length} CPUs`,
    );
    console.log(
      `seeded ${USERS} users in ${(seededMs / 1000).toFixed(1)} s; ${CONCURRENCY} concurrent clients, ${DURATION_MS / 1000} s per scenario; count cache ${config.USER_COUNT_CACHE_SIZE ? 'on' : 'off'}`,
    );

    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const { rows } = await db.pool.query(`SELECT id FROM "User" WHERE "tenantId" = $1 ORDER BY random() LIMIT 1000`, [tenant.id]);
    const ids = rows.map((r) => r.id as string);
    let n = 0;
    const pick = <T>(xs: T[]) => xs[n++ % xs.length]!;
    const digits = ['4242', '1337', '99999', '31415', '2718', '55555', '12321', '8080'];

    const scenarios: Scenario[] = [
      // The floor: HTTP, routing and JSON with no database work, to read the others against.
      { name: 'baseline: liveness (no database)', method: 'GET', path: '/api/v3/health/liveness' },
      { name: 'search by email substring (few matches)', method: 'POST', path: '/api/v3/users/search', body: () => ({ data: { email: `.${pick(digits)}@` } }) },
      { name: 'search by email substring (20% match)', method: 'POST', path: '/api/v3/users/search', body: () => ({ data: { email: 'GLOBEX' } }) },
      { name: 'search by role (1.5% hold it)', method: 'POST', path: '/api/v3/users/search', body: () => ({ data: { role: 'tenant-contributor' } }) },
      { name: 'search by role (everyone holds it)', method: 'POST', path: '/api/v3/users/search', body: () => ({ data: { role: 'tenant-user' } }) },
      { name: 'list page 1', method: 'GET', path: '/api/v3/users?page=1&pageSize=25' },
      { name: 'list page 2000', method: 'GET', path: '/api/v3/users?page=2000&pageSize=25' },
      { name: 'get by id', method: 'GET', path: () => `/api/v3/users/${pick(ids)}` },
    ];
    console.log('scenario'.padEnd(42), 'matches'.padStart(8), 'reqs'.padStart(7), 'p50 ms'.padStart(8), 'p95 ms'.padStart(8), 'p99 ms'.padStart(8));
    for (const s of scenarios) {
      const r = await measure(base, pat, tenant.id, s);
      console.log(
        s.name.padEnd(42),
        String(r.matches ?? '-').padStart(8),
        String(r.requests).padStart(7),
        r.p50.toFixed(1).padStart(8),
        r.p95.toFixed(1).padStart(8),
        r.p99.toFixed(1).padStart(8),
      );
    }
    await app.close();
  } finally {
    await db.close();
    if (process.env.BENCH_KEEP_DB) console.log(`kept database ${dbName}`);
    else await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
