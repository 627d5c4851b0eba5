// The database goes away under load and comes back: every request in between is a
// bounded-time 503 with a JSON:API error body (never a 500, never a hang), readiness
// reports 503, the process survives, everything recovers without intervention, and
// no multi-row change is left half-applied. Run against a fresh database on the
// PostgreSQL server and against the embedded database, each reached through a TCP
// proxy this test cuts (the shared server itself is never stopped).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { loadConfig } from '../src/platform/config.js';
import { openDatabase, type Database } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { TEST_ENV, call } from './helpers/app.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { captureErrorBodies, testLogger } from './helpers/log-capture.js';
import { serverReachable } from './helpers/net.js';
import { scratchDatabase } from './helpers/db.js';

const SERVER = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
/** Longest any single request may take while the database is gone. */
const BOUND_MS = 8_000;
/** DB_QUERY_TIMEOUT_MS for the test: shorter than the default so that a partition resolves quickly. */
const QUERY_TIMEOUT_MS = 3_000;

interface Rig {
  app: FastifyInstance;
  /** A second instance on the same database: revocations reach it only through NOTIFY. */
  peer: FastifyInstance;
  db: Database;
  proxy: TcpProxy;
  pat: string;
  tenantId: string;
  /** A direct (unproxied) connection for checks after recovery; server only. */
  direct?: pg.Client;
  close(): Promise<void>;
}

async function rig(kind: 'server' | 'embedded'): Promise<Rig> {
  let db: Database;
  let proxy!: TcpProxy;
  let direct: pg.Client | undefined;
  let drop = async () => {};
  if (kind === 'server') {
    const scratch = await scratchDatabase(SERVER, 'iam_faults');
    const u = new URL(scratch.url);
    // A client, not a pool: its end() waits until the connection is closed, so the
    // forced DROP DATABASE that follows never terminates it mid-close.
    direct = new pg.Client({ connectionString: u.toString() });
    await direct.connect();
    proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
    u.hostname = '127.0.0.1';
    u.port = String(proxy.port);
    db = await openDatabase({ url: u.toString(), poolMax: 5, queryTimeoutMs: QUERY_TIMEOUT_MS });
    drop = async () => {
      await direct!.end();
      await scratch.drop();
    };
  } else {
    db = await openDatabase({
      queryTimeoutMs: QUERY_TIMEOUT_MS,
      through: async (host, port) => {
        proxy = await startTcpProxy(host, port);
        return `127.0.0.1:${proxy.port}`;
      },
    });
  }
  await migrate(db.pool);
  const config = loadConfig({ ...TEST_ENV });
  const app = await buildApp({ config, db, masterKey: randomBytes(32), logger: testLogger() });
  captureErrorBodies(app);
  await app.ready();
  const peer = await buildApp({ config, db, masterKey: randomBytes(32), logger: testLogger() });
  await peer.ready();
  const boot = await bootstrap(db, config);
  const tenant = await call(app, boot!.pat, 'POST', '/api/v3/tenants', { data: { type: 'tenants', attributes: { name: 'Faults', subdomain: 'faults' } } });
  expect(tenant.statusCode).toBe(201);
  return {
    app,
    peer,
    db,
    proxy,
    pat: boot!.pat!,
    tenantId: tenant.json().data.id,
    ...(direct ? { direct } : {}),
    async close() {
      await app.close();
      await peer.close();
      await db.close();
      await proxy.close();
      await drop();
    },
  };
}

interface Outcome {
  op: string;
  /** When the request was sent (epoch ms). */
  started: number;
  status: number;
  ms: number;
  body: string;
  contentType: string;
}

/** Mixed reads and multi-row writes through the API, from `workers` concurrent loops. */
function load(r: Rig, workers: number) {
  const outcomes: Outcome[] = [];
  let stop = false;
  const created: string[] = [];
  let deleted = 0;
  const tenantHeader = { 'x-forwarded-tenant-id': r.tenantId };
  type Res = { statusCode: number; body: string; headers: Record<string, unknown> };
  const ops: [string, () => Promise<Res | [string, Res]>][] = [
    ['read tenant', () => call(r.app, r.pat, 'GET', `/api/v3/tenants/${r.tenantId}`)],
    ['validate token', () => call(r.app, undefined, 'GET', '/api/v3/session/validate-token', undefined, { authorization: `Bearer ${r.pat}` })],
    ['search service accounts', () => call(r.app, r.pat, 'POST', '/api/v3/serviceaccounts/search', { data: {} }, tenantHeader)],
    [
      'create service account with PAT',
      async () => {
        const name = `sa-${randomBytes(5).toString('hex')}`;
        const res = await call(
          r.app,
          r.pat,
          'POST',
          '/api/v3/serviceaccounts?withPAT=true',
          { name, username: name, expirationDate: '2099-01-01T00:00:00Z', roles: ['tenant-user'] },
          tenantHeader,
        );
        if (res.statusCode === 201) created.push(res.json().machineUserId);
        return res;
      },
    ],
    [
      'delete service account',
      async () => {
        const id = created.shift();
        if (!id) return ['liveness', await call(r.app, r.pat, 'GET', '/api/v3/health/liveness')];
        const res = await call(r.app, r.pat, 'DELETE', `/api/v3/serviceaccounts/${id}`, undefined, tenantHeader);
        if (res.statusCode < 300) deleted++;
        return res;
      },
    ],
    [
      'create tenant',
      () => call(r.app, r.pat, 'POST', '/api/v3/tenants', { data: { type: 'tenants', attributes: { name: `T ${randomBytes(4).toString('hex')}` } } }),
    ],
  ];
  let i = 0;
  const loop = async () => {
    while (!stop) {
      const [name, run] = ops[i++ % ops.length]!;
      let op = name;
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const res = await Promise.race([
        run().then((x) => {
          if (!Array.isArray(x)) return x;
          op = x[0];
          return x[1];
        }),
        new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), BOUND_MS + 5000))),
      ]);
      clearTimeout(timer);
      outcomes.push(
        res
          ? { op, started, status: res.statusCode, ms: Date.now() - started, body: res.body, contentType: String(res.headers['content-type'] ?? '') }
          : { op, started, status: 0, ms: Date.now() - started, body: 'no answer', contentType: '' },
      );
    }
  };
  const running = Promise.all(Array.from({ length: workers }, loop));
  return {
    outcomes,
    /** Takes the outcomes recorded so far and starts a new batch. */
    take: () => outcomes.splice(0),
    deleted: () => deleted,
    stop: async () => {
      stop = true;
      await running;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectOnly(outcomes: Outcome[], allowed: (o: Outcome) => boolean, label: string) {
  const bad = outcomes.filter((o) => !allowed(o));
  expect(
    bad.map((o) => `${o.op}: ${o.status} in ${o.ms} ms ${o.body.slice(0, 200)}`),
    label,
  ).toEqual([]);
}

async function readiness(app: FastifyInstance) {
  const started = Date.now();
  const res = await app.inject({ method: 'GET', url: '/api/v3/health/readiness' });
  return { status: res.statusCode, ms: Date.now() - started, body: res.body };
}

async function recover(r: Rig): Promise<number> {
  const started = Date.now();
  while ((await readiness(r.app)).status !== 200) {
    if (Date.now() - started > 30_000) throw new Error('readiness did not recover within 30 s');
    await sleep(200);
  }
  return Date.now() - started;
}

/** Every multi-row change is complete: the rows a transaction writes together exist together. */
async function checkIntegrity(q: (sql: string) => Promise<{ rows: any[] }>) {
  const problems: string[] = [];
  const check = async (what: string, sql: string) => {
    const { rows } = await q(sql);
    if (rows.length) problems.push(`${what}: ${JSON.stringify(rows.slice(0, 3))}`);
  };
  await check(
    'service account without roles',
    `SELECT s.id FROM "ServiceAccount" s WHERE NOT EXISTS (SELECT 1 FROM "RoleAssignment" r WHERE r."serviceAccountId" = s.id)`,
  );
  await check(
    'service account without its creation audit event',
    `SELECT s.id FROM "ServiceAccount" s WHERE s.username LIKE 'sa-%' AND NOT EXISTS (SELECT 1 FROM "AuditEvent" a WHERE a.action = 'serviceaccount.created' AND a."targetId" = s.id::text)`,
  );
  await check(
    'PAT without its creation audit event',
    `SELECT p.id FROM "PersonalAccessToken" p JOIN "ServiceAccount" s ON s.id = p."serviceAccountId" WHERE s.username LIKE 'sa-%' AND NOT EXISTS (SELECT 1 FROM "AuditEvent" a WHERE a.action = 'serviceaccount.pat.created' AND a."targetId" = p.id::text)`,
  );
  await check(
    'service account created with PAT but without it',
    `SELECT s.id FROM "ServiceAccount" s WHERE s.username LIKE 'sa-%' AND NOT EXISTS (SELECT 1 FROM "PersonalAccessToken" p WHERE p."serviceAccountId" = s.id)`,
  );
  await check(
    'creation audit event without the service account (nor its deletion)',
    `SELECT a."targetId" FROM "AuditEvent" a WHERE a.action = 'serviceaccount.created' AND NOT EXISTS (SELECT 1 FROM "ServiceAccount" s WHERE s.id::text = a."targetId") AND NOT EXISTS (SELECT 1 FROM "AuditEvent" d WHERE d.action = 'serviceaccount.deleted' AND d."targetId" = a."targetId")`,
  );
  await check(
    'deleted service account still present',
    `SELECT a."targetId" FROM "AuditEvent" a WHERE a.action = 'serviceaccount.deleted' AND EXISTS (SELECT 1 FROM "ServiceAccount" s WHERE s.id::text = a."targetId")`,
  );
  await check(
    'tenant without its creation audit event',
    `SELECT t.id FROM "Tenant" t WHERE t.name LIKE 'T %' AND NOT EXISTS (SELECT 1 FROM "AuditEvent" a WHERE a.action = 'tenant.created' AND a."targetId" = t.id::text)`,
  );
  await check(
    'tenant creation audit event without the tenant',
    `SELECT a."targetId" FROM "AuditEvent" a WHERE a.action = 'tenant.created' AND NOT EXISTS (SELECT 1 FROM "Tenant" t WHERE t.id::text = a."targetId")`,
  );
  return problems;
}

const isUnavailable = (o: Outcome) => {
  if (o.status !== 503 || o.ms > BOUND_MS) return false;
  if (!o.contentType.startsWith('application/vnd.api+json')) return false;
  const body = JSON.parse(o.body);
  return body.errors?.[0]?.status === '503' && typeof body.errors[0].code === 'string';
};

const kinds: ('server' | 'embedded')[] = ['embedded'];
if (await serverReachable(SERVER)) kinds.unshift('server');
else console.warn(`db-faults: no PostgreSQL server at ${SERVER}; only the embedded database is tested`);

describe.each(kinds)('database faults (%s)', (kind) => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig(kind);
  });
  afterAll(() => r?.close());

  for (const mode of ['reset', 'blackhole'] as const) {
    it(`${mode}: 503 with a body while the database is gone, recovers by itself, nothing half-applied`, async () => {
      const l = load(r, 4);
      try {
        await scenario(l);
      } finally {
        r.proxy.restore();
        await l.stop();
      }
    }, 90_000);

    async function scenario(l: ReturnType<typeof load>) {
      await sleep(1500);
      const healthy = l.take();
      expectOnly(healthy, (o) => o.status >= 200 && o.status < 300, 'before the cut every request succeeds');
      expect(healthy.length).toBeGreaterThan(2);

      r.proxy.cut(mode);
      const cutAt = Date.now();
      await sleep(300);
      const ready = await readiness(r.app);
      expect(ready.status, ready.body).toBe(503);
      expect(ready.ms).toBeLessThan(5000);
      expect(JSON.parse(ready.body).errors[0].status).toBe('503');
      // Long enough for requests stuck on a partitioned connection to reach their bound.
      await sleep(mode === 'blackhole' ? QUERY_TIMEOUT_MS + 4000 : 2500);
      const during = l.take();
      expect(during.length).toBeGreaterThan(0);
      // A credential verified before the cut may still answer from the cache, and a request in
      // flight at the cut may have committed before it (however long its answer takes on a loaded
      // machine): 2xx is fine for those, 500 never.
      expectOnly(
        during,
        (o) => isUnavailable(o) || (o.status >= 200 && o.status < 300 && (o.started <= cutAt || o.op === 'validate token' || o.op === 'liveness')),
        'while the database is gone',
      );
      expect(during.filter((o) => o.status === 503).length).toBeGreaterThan(0);

      r.proxy.restore();
      const took = await recover(r);
      console.log(`${kind}/${mode}: ${healthy.length} requests before, ${during.length} during the cut, recovered ${took} ms after restore`);
      await sleep(1500);
      l.take(); // requests that straddled the recovery
      await sleep(1500);
      await l.stop();
      const after = l.take();
      expect(after.length).toBeGreaterThan(5);
      expectOnly(after, (o) => o.status >= 200 && o.status < 300, 'after recovery every request succeeds');
      expect(l.deleted(), 'the load deletes as well as creates').toBeGreaterThan(0);

      // The invalidation listener reconnected: a PAT revoked on one instance stops working on the other.
      const tenantHeader = { 'x-forwarded-tenant-id': r.tenantId };
      const name = `rv-${randomBytes(4).toString('hex')}`;
      const sa = await call(
        r.app,
        r.pat,
        'POST',
        '/api/v3/serviceaccounts?withPAT=true',
        { name, username: name, expirationDate: '2099-01-01T00:00:00Z', roles: ['tenant-user'] },
        tenantHeader,
      );
      expect(sa.statusCode, sa.body).toBe(201);
      const { pat, machineUserId, credentialId } = sa.json();
      const validate = () => call(r.peer, undefined, 'GET', '/api/v3/session/validate-token', undefined, { authorization: `Bearer ${pat}` });
      expect((await validate()).statusCode).toBe(200);
      expect((await validate()).statusCode).toBe(200); // now cached on the peer
      const revoked = await call(r.app, r.pat, 'DELETE', `/api/v3/serviceaccounts/${machineUserId}/pats/${credentialId}`, undefined, tenantHeader);
      expect(revoked.statusCode).toBeLessThan(300);
      const since = Date.now();
      while ((await validate()).statusCode !== 401) {
        expect(Date.now() - since, 'revocation reaches the other instance within 1 s').toBeLessThan(1000);
        await sleep(50);
      }

      const q = r.direct ? (sql: string) => r.direct!.query(sql) : (sql: string) => r.db.pool.query(sql);
      expect(await checkIntegrity(q)).toEqual([]);
    }
  }
});

// The real server process (signal handlers, pool and listener wiring of src/server.ts),
// its database reached through the proxy: it survives the cut and recovers by itself.
describe.runIf(kinds.includes('server'))('database faults (server process)', () => {
  it('stays up, answers 503 while cut, and recovers', async () => {
    const { startBenchServer } = await import('../bench/server.js');
    const target = new URL(SERVER);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const via = new URL(SERVER);
    via.hostname = '127.0.0.1';
    via.port = String(proxy.port);
    const saved = process.env.BENCH_DATABASE_URL;
    process.env.BENCH_DATABASE_URL = via.toString();
    const server = await startBenchServer({ DB_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS) });
    try {
      const get = (path: string) =>
        fetch(server.base + path, { headers: { authorization: `Bearer ${server.pat}` }, signal: AbortSignal.timeout(BOUND_MS + 2000) }).then(
          async (r) => ({ status: r.status, body: await r.text() }),
          (e: Error) => ({ status: 0, body: e.message }),
        );
      expect((await get('/api/v3/tenants')).status).toBe(200);
      for (const mode of ['reset', 'blackhole'] as const) {
        proxy.cut(mode);
        const during = await Promise.all([get('/api/v3/tenants'), get('/api/v3/health/readiness'), get('/api/v3/tenants?page=2')]);
        for (const res of during) {
          expect(res.status, `${mode}: ${res.body}`).toBe(503);
          expect(JSON.parse(res.body).errors[0].status).toBe('503');
        }
        expect((await get('/api/v3/health/liveness')).status).toBe(200);
        proxy.restore();
        const since = Date.now();
        while ((await get('/api/v3/health/readiness')).status !== 200) {
          expect(Date.now() - since, 'recovers within 30 s').toBeLessThan(30_000);
          await sleep(200);
        }
        expect((await get('/api/v3/tenants')).status).toBe(200);
      }
    } finally {
      proxy.restore();
      await server.stop();
      await proxy.close();
      if (saved === undefined) delete process.env.BENCH_DATABASE_URL;
      else process.env.BENCH_DATABASE_URL = saved;
    }
  }, 120_000);
});

// Every connection busy for a moment (a burst, a slow query): writes wait like reads
// instead of failing first (Prisma's transaction maxWait was shorter than the pool's).
describe('database saturated for 3 s', () => {
  it('delays writes and reads alike; neither fails', async () => {
    const { startTestApp, createTenant } = await import('./helpers/app.js');
    const t = await startTestApp();
    try {
      const tenant = await createTenant(t, 'Saturated');
      const max = (t.db.pool as unknown as { options: { max: number } }).options.max;
      const held = await Promise.all(Array.from({ length: max }, () => t.db.pool.connect()));
      setTimeout(() => held.forEach((c) => c.release()), 3000);
      const [write, read] = await Promise.all([
        call(t.app, t.adminPat, 'POST', '/api/v3/tenants', { data: { type: 'tenants', attributes: { name: 'During a burst' } } }),
        call(t.app, t.adminPat, 'GET', `/api/v3/tenants/${tenant}`),
      ]);
      expect(read.statusCode, read.body).toBe(200);
      expect(write.statusCode, write.body).toBe(201);
    } finally {
      await t.close();
    }
  }, 60_000);
});
