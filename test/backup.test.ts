// A backup of the embedded database while the server runs (POST /admin/v1/backup), restored by
// the CLI into an empty DATA_DIR: the copy holds what was written before it, and nothing after.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { buildApp } from '../src/http/app.js';
import { loadConfig } from '../src/platform/config.js';
import { openDatabase, type Database } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { call, seedServiceAccountPat, startTestApp, TEST_ENV } from './helpers/app.js';
import { runCli } from './helpers/cli.js';
import { testLogger } from './helpers/log-capture.js';

const source = mkdtempSync(path.join(tmpdir(), 'backup-source-'));
const target = mkdtempSync(path.join(tmpdir(), 'backup-target-'));
let db: Database;
let app: FastifyInstance;
let pat: string;

const tenantDoc = (name: string) => ({ data: { type: 'tenants', attributes: { name } } });
const backup = (token: string) => app.inject({ method: 'POST', url: '/admin/v1/backup', headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  db = await openDatabase({ dataDir: source });
  await migrate(db.pool);
  const config = loadConfig({ ...TEST_ENV, DATA_DIR: source });
  app = await buildApp({ config, db, masterKey: randomBytes(32), logger: testLogger() });
  await app.ready();
  pat = (await bootstrap(db, config))!.pat!;
}, 120_000);
afterAll(async () => {
  await app?.close();
  await db?.close();
});

describe('a backup of the embedded database', () => {
  let tarball: Buffer;

  it('is a gzip-compressed tar answered to skylight-admin, and an audit event', async () => {
    const before = await call(app, pat, 'POST', '/api/v3/tenants', tenantDoc('Before Backup'));
    expect(before.statusCode, before.body).toBe(201);
    const res = await backup(pat);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/gzip');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="iam-backup-[0-9TZ-]+\.tar\.gz"$/);
    tarball = res.rawPayload;
    expect(tarball.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const events = await db.prisma.auditEvent.findMany({ where: { action: 'instance.backed_up' } });
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toEqual({ bytes: tarball.length });
    // Written after the backup: not in the copy.
    expect((await call(app, pat, 'POST', '/api/v3/tenants', tenantDoc('After Backup'))).statusCode).toBe(201);
  }, 120_000);

  it('is refused to a tenant admin, with nothing written', async () => {
    const tenant = (await call(app, pat, 'POST', '/api/v3/tenants', tenantDoc('Other'))).json().data.id as string;
    const admin = (await seedServiceAccountPat({ app, db } as never, tenant, ['tenant-admin'])).pat;
    const res = await backup(admin);
    expect(res.statusCode, res.body).toBe(403);
    expect(await db.prisma.auditEvent.count({ where: { action: 'instance.backed_up' } })).toBe(1);
  });

  it('restores into an empty DATA_DIR with the CLI, as it was when taken', async () => {
    const file = path.join(target, '..', `${path.basename(target)}.tar.gz`);
    writeFileSync(file, tarball);
    const run = await runCli(target, 'restore', '--from', file);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`restored into ${target}`);
    const restored = await openDatabase({ dataDir: target });
    try {
      const names = (await restored.prisma.tenant.findMany({ select: { name: true } })).map((t) => t.name);
      expect(names).toContain('Before Backup');
      expect(names).not.toContain('After Backup');
    } finally {
      await restored.close();
    }
  }, 180_000);

  it('never overwrites a database: a second restore into the same DATA_DIR is refused', async () => {
    const file = path.join(target, '..', `${path.basename(target)}.tar.gz`);
    const run = await runCli(target, 'restore', '--from', file);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(`restore: ${target} already holds a database; restore into an empty DATA_DIR`);
  }, 120_000);
});

describe.runIf(process.env.TEST_DATABASE_URL)('on a PostgreSQL server', () => {
  it('answers 409 and points to pg_dump', async () => {
    const t = await startTestApp();
    try {
      const res = await t.app.inject({ method: 'POST', url: '/admin/v1/backup', headers: { authorization: `Bearer ${t.adminPat}` } });
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().errors[0].detail).toContain('pg_dump');
    } finally {
      await t.close();
    }
  }, 120_000);
});
