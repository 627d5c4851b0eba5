// Latency of the audit log's time-range query in a tenant with 1,000,000 events, side by
// side with user search on the same server. Run: npm run bench -- audit
// (BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres; BENCH_EVENTS,
// BENCH_USERS, BENCH_SECONDS, BENCH_CONCURRENCY). Creates and drops its own database.
// Prints p50/p95 per scenario; the audit queries should stay within user search's p95.
// The scenarios take turns (BENCH_ROUNDS rounds of BENCH_SECONDS / BENCH_ROUNDS each), so
// that a burst of load from elsewhere on the machine falls on all of them alike, not on
// whichever ran at the time; the ratio column is each p95 over user search's.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { buildApp } from '../src/http/app.js';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { loadConfig } from '../src/platform/config.js';
import { openDatabase } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { generatePat, hashPat } from '../src/principals/pat.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** The events span this many days, ending now. */
const DAYS = 90;
const serverUrl = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const dbName = `bench_audit_${process.pid}_${randomBytes(3).toString('hex')}`;

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * Events in bulk SQL, evenly over DAYS, with the mix a busy tenant writes: mostly logins
 * and token issuance, some admin writes, failed logins and a few other failures, 500 actors.
 */
async function seedEvents(c: pg.Client, tenantId: string, count: number) {
  const now = Date.now();
  await c.query(
    `INSERT INTO "AuditEvent" ("id", "tenantId", "actorKind", "actorId", "actorName", "clientAddress", "action", "targetType", "targetId",
                               "outcome", "details", "requestId", "createdAt")
     SELECT gen_random_uuid(), $1::uuid,
            CASE WHEN i % 7 = 0 THEN 'serviceaccount' ELSE 'user' END,
            'actor-' || (i % 500), 'name-' || (i % 500), '10.0.' || (i % 250) || '.' || (i % 200),
            (ARRAY['login.succeeded','token.issued','login.succeeded','token.issued','user.updated','login.failed','group.updated','pat.created'])[1 + i % 8],
            'user', 'target-' || (i % 5000),
            CASE WHEN i % 8 = 5 OR i % 40 = 0 THEN 'failure' ELSE 'success' END,
            '{}'::jsonb, md5(i::text), to_timestamp(($2::bigint - ($3::bigint * ($4::int - i)) / $4::int) / 1000.0)
     FROM generate_series(1, $4::int) AS i`,
    [tenantId, now, DAYS * 86400_000, count],
  );
}

async function seedUsers(c: pg.Client, tenantId: string) {
  await c.query(
    `INSERT INTO "User" ("id", "tenantId", "username", "email", "firstName", "lastName", "state", "createdAt", "updatedAt")
     SELECT gen_random_uuid(), $1::uuid, u, e, 'First', 'Last', 'active', now(), now()
     FROM (SELECT 'user' || lpad(i::text, 6, '0') AS u,
                  'user.' || i || '@' || (ARRAY['acme.test','globex.test','initech.test','umbrella.test','hooli.test'])[1 + i % 5] AS e
           FROM generate_series(1, $2::int) AS i) s`,
    [tenantId, USERS],
  );
}

function percentile(sorted: number[], p: number) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Scenario {
  name: string;
  method: 'GET' | 'POST';
  path: () => string;
  body?: () => unknown;
}

function client(base: string, token: string, tenantId: string, s: Scenario) {
  const headers = { authorization: `Bearer ${token}`, 'x-forwarded-tenant-id': tenantId, 'content-type': 'application/vnd.api+json' };
  return async () => {
    const start = performance.now();
    const res = await fetch(base + s.path(), { method: s.method, headers, body: s.body ? JSON.stringify(s.body()) : undefined });
    const text = await res.text();
    const ms = performance.now() - start;
    if (res.status !== 200) throw new Error(`${s.name}: ${res.status} ${text.slice(0, 200)}`);
    return { ms, total: (JSON.parse(text) as { meta?: { total?: number } }).meta?.total };
  };
}

/** CONCURRENCY clients issue one scenario's requests for `ms`; returns their latencies. */
async function load(once: () => Promise<{ ms: number }>, ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) latencies.push((await once()).ms);
    }),
  );
  return latencies;
}

async function main() {
  await admin(`CREATE DATABASE "${dbName}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const db = await openDatabase({ url: url.toString(), poolMax: 10 });
  try {
    await migrate(db.pool);
    const config = loadConfig({ DATABASE_URL: url.toString(), LOG_LEVEL: 'silent', PUBLIC_URL: 'http://127.0.0.1' });
    const app = await buildApp({ config, db, masterKey: randomBytes(32), logger: false });
    await bootstrap(db, config);
    const tenant = await db.prisma.tenant.create({ data: { name: 'Bench' } });
    const neighbour = await db.prisma.tenant.create({ data: { name: 'Neighbour' } });
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
    const t0 = Date.now();
    // Its own connection: the pool's query timeout is for requests, not bulk loads.
    const seeder = new pg.Client({ connectionString: url.toString() });
    await seeder.connect();
    await seedEvents(seeder, tenant.id, EVENTS);
    // Another tenant's history shares the table and its indexes.
    await seedEvents(seeder, neighbour.id, Math.round(EVENTS / 5));
    await seedUsers(seeder, tenant.id);
    await seeder.query('VACUUM ANALYZE');
    // The load's dirty pages are written now, not by the checkpointer during the first scenarios.
    await seeder.query('CHECKPOINT');
    await seeder.end();
    console.log(
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${cpus().length} CPUs`,
    );
    console.log(
      `seeded ${EVENTS} audit events over ${DAYS} days (+${Math.round(EVENTS / 5)} in another tenant) and ${USERS} users in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `${CONCURRENCY} concurrent clients, ${DURATION_MS / 1000} s per scenario in ${ROUNDS} turns`,
    );

    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    let n = 0;
    const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    // A window that moves between requests, so that no two read the same rows.
    const day = () => {
      const start = 86400_000 * (1 + (n++ % (DAYS - 2)));
      return `from=${iso(start)}&to=${iso(start - 86400_000)}`;
    };
    const scenarios: Scenario[] = [
      { name: 'audit: one day, page 1', method: 'GET', path: () => `/api/v3/audit-events?${day()}` },
      { name: 'audit: one day, page 200', method: 'GET', path: () => `/api/v3/audit-events?${day()}&page=200` },
      { name: 'audit: one week, page 1', method: 'GET', path: () => `/api/v3/audit-events?from=${iso(7 * 86400_000 * (1 + (n++ % 10)))}&pageSize=25` },
      { name: 'audit: one day, failed logins', method: 'GET', path: () => `/api/v3/audit-events?${day()}&action=login.failed&outcome=failure` },
      { name: 'audit: one actor, all time', method: 'GET', path: () => `/api/v3/audit-events?actorId=actor-${n++ % 500}` },
      { name: 'audit: one target, all time', method: 'GET', path: () => `/api/v3/audit-events?targetId=target-${n++ % 5000}` },
      { name: 'audit: everything, page 1', method: 'GET', path: () => '/api/v3/audit-events' },
      {
        name: 'users: search by email substring',
        method: 'POST',
        path: () => '/api/v3/users/search',
        body: () => ({ data: { email: `.${1000 + (n++ % 9000)}@` } }),
      },
      { name: 'users: list page 1', method: 'GET', path: () => '/api/v3/users' },
    ];
    const runs = scenarios.map((s) => ({ s, once: client(base, pat, tenant.id, s), matches: undefined as number | undefined, latencies: [] as number[] }));
    for (const r of runs) {
      r.matches = (await r.once()).total;
      for (let i = 0; i < 30; i++) await r.once();
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of runs) r.latencies.push(...(await load(r.once, DURATION_MS / ROUNDS)));
    }
    const p95 = (r: (typeof runs)[number]) => percentile(r.latencies, 95);
    const userSearch = runs.find((r) => r.s.name.startsWith('users: search'))!;
    for (const r of runs) r.latencies.sort((a, b) => a - b);
    console.log('scenario'.padEnd(36), 'matches'.padStart(8), 'reqs'.padStart(7), 'p50 ms'.padStart(8), 'p95 ms'.padStart(8), 'p95/search'.padStart(11));
    for (const r of runs) {
      console.log(
        r.s.name.padEnd(36),
        String(r.matches ?? '-').padStart(8),
        String(r.latencies.length).padStart(7),
        percentile(r.latencies, 50).toFixed(1).padStart(8),
        p95(r).toFixed(1).padStart(8),
        (p95(r) / p95(userSearch)).toFixed(2).padStart(11),
      );
    }
    await app.close();
  } finally {
    await db.close();
    await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
