// Deployments often put PgBouncer in transaction mode in front of PostgreSQL. Queries and
// transactions go through it; LISTEN and the migrations' session lock cannot, so they take
// DATABASE_DIRECT_URL. Two instances behind the pooler keep each other's caches honest.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { buildApp } from '../src/http/app.js';
import { loadConfig } from '../src/platform/config.js';
import { type Database } from '../src/platform/db.js';
import { openMigratedDatabase } from '../src/platform/start.js';
import { bearer, call, TEST_ENV } from './helpers/app.js';
import { scratchDatabase } from './helpers/db.js';
import { testLogger } from './helpers/log-capture.js';
import { freePort } from './helpers/net.js';

const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));
const SERVER = process.env.TEST_DATABASE_URL;

async function startPgBouncer(server: URL): Promise<{ port: number; proc: ChildProcess; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgbouncer-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    `[databases]
* = host=${server.hostname} port=${server.port || 5432} user=${decodeURIComponent(server.username) || 'postgres'}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 200
default_pool_size = 8
ignore_startup_parameters = extra_float_digits,options
logfile = ${dir}/pgbouncer.log
`,
  );
  // PgBouncer refuses to run as root.
  const proc = spawn(PGBOUNCER!, [path.join(dir, 'pgbouncer.ini')], { stdio: 'ignore', ...(process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}) });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return { port, proc, dir };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('pgbouncer did not start');
}

describe.runIf(SERVER)('instances behind PgBouncer in transaction mode', () => {
  const apps: { app: FastifyInstance; db: Database }[] = [];
  let bouncer: Awaited<ReturnType<typeof startPgBouncer>>;
  let drop: () => Promise<void>;
  let pat = '';
  let tenantId = '';

  beforeAll(async () => {
    if (!PGBOUNCER) throw new Error('pgbouncer is not installed (Debian package pgbouncer); .ci/run installs it');
    const scratch = await scratchDatabase(SERVER!, 'iam_bouncer');
    drop = scratch.drop;
    const direct = new URL(scratch.url);
    bouncer = await startPgBouncer(direct);
    const pooled = new URL(scratch.url);
    pooled.hostname = '127.0.0.1';
    pooled.port = String(bouncer.port);
    const config = loadConfig({ ...TEST_ENV, DATABASE_URL: pooled.toString(), DATABASE_DIRECT_URL: direct.toString() });
    const masterKey = randomBytes(32);
    for (let i = 0; i < 2; i++) {
      const { db } = await openMigratedDatabase(config);
      const app = await buildApp({ config, db, masterKey, logger: testLogger() });
      await app.ready();
      apps.push({ app, db });
    }
    const boot = await bootstrap(apps[0]!.db, config);
    pat = boot!.pat!;
    tenantId = boot!.tenantId;
  }, 120_000);
  afterAll(async () => {
    for (const a of apps) {
      await a.app.close();
      await a.db.close();
    }
    bouncer?.proc.kill();
    await drop?.();
    if (bouncer) rmSync(bouncer.dir, { recursive: true, force: true });
  });

  it('migrates once through the direct connection, and serves transactions through the pooler', async () => {
    const [a, b] = apps.map((x) => x.app) as [FastifyInstance, FastifyInstance];
    const created = await call(a, pat, 'POST', '/api/v3/usergroups', { data: { type: 'usergroups', attributes: { name: 'Behind The Pooler' } } });
    expect(created.statusCode).toBe(201);
    const again = await call(b, pat, 'POST', '/api/v3/usergroups', { data: { type: 'usergroups', attributes: { name: 'behind the pooler' } } });
    expect(again.statusCode).toBe(409);
    const rows = await apps[0]!.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM "_prisma_migrations"');
    expect(Number(rows.rows[0]!.n)).toBeGreaterThan(10);
  });

  it('carries a revocation through one instance to the cache of the other within 1 s', async () => {
    const [a, b] = apps.map((x) => x.app) as [FastifyInstance, FastifyInstance];
    const sa = await a.inject({
      method: 'POST',
      url: '/api/v3/serviceaccounts?withPAT=true',
      headers: { ...bearer(pat), 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'Pooled', username: 'pooled', roles: ['tenant-user'], expirationDate: new Date(Date.now() + 86400_000).toISOString() }),
    });
    expect(sa.statusCode, sa.body).toBe(201);
    const { pat: token, machineUserId } = sa.json() as { pat: string; machineUserId: string };
    const validate = () => b.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(token) }).then((r) => r.statusCode);
    for (let i = 0; i < 3; i++) expect(await validate()).toBe(200);
    const revokedAt = Date.now();
    await apps[0]!.db.pool.query('DELETE FROM "PersonalAccessToken" WHERE "tenantId" = $1 AND "serviceAccountId" = $2', [tenantId, machineUserId]);
    while ((await validate()) === 200 && Date.now() - revokedAt < 1000) await new Promise((r) => setTimeout(r, 5));
    expect(await validate()).toBe(401);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
  });
});
