// Several instances on one PostgreSQL: they agree on one CA, and a revocation made
// through one is refused by the others' validate-cert and OCSP caches within a second.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { buildApp } from '../src/http/app.js';
import { loadConfig } from '../src/platform/config.js';
import { openDatabase, type Database } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { generatePat, hashPat } from '../src/principals/pat.js';
import { TEST_ENV } from './helpers/app.js';
import { nodeCsr } from './helpers/csr.js';
import { serverReachable } from './helpers/net.js';

const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const haveServer = await serverReachable(serverUrl);
if (!haveServer) console.warn(`pki-instances.test: skipped, no PostgreSQL server at ${serverUrl} (set TEST_DATABASE_URL)`);

const dbName = `iam_test_pki_${process.pid}_${randomBytes(3).toString('hex')}`;
const apps: FastifyInstance[] = [];
const dbs: Database[] = [];
let pat: string;

beforeAll(async () => {
  if (!haveServer) return;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = '/' + dbName;
  const config = loadConfig({ ...TEST_ENV, TRUSTED_PROXIES: '127.0.0.1', PKI_CA_KEY_TYPE: 'p256' });
  const masterKey = randomBytes(32);
  for (let i = 0; i < 3; i++) {
    const db = await openDatabase({ url: url.toString(), poolMax: 3 });
    if (i === 0) await migrate(db.pool);
    dbs.push(db);
    const app = await buildApp({ config, db, masterKey, logger: false });
    await app.ready();
    apps.push(app);
  }
  await bootstrap(dbs[0]!, config);
  const tenant = await dbs[0]!.prisma.tenant.create({ data: { name: 'Tenant' } });
  pat = generatePat();
  await dbs[0]!.prisma.serviceAccount.create({
    data: {
      tenantId: tenant.id,
      name: 'adm',
      username: 'adm',
      usernameLower: 'adm',
      roles: { create: [{ roleName: 'tenant-admin' }] },
      pats: { create: { tokenHash: hashPat(pat), expiresAt: new Date(Date.now() + 3600_000) } },
    },
  });
}, 60_000);

afterAll(async () => {
  for (const app of apps) await app.close();
  for (const db of dbs) await db.close();
  if (!haveServer) return;
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await c.end();
});

(haveServer ? describe : describe.skip)('several instances on one database', () => {
  it('concurrent first starts agree on one CA', async () => {
    const pems = await Promise.all(apps.map((a) => a.pki.caPem()));
    expect(new Set(pems).size).toBe(1);
    expect(await dbs[0]!.prisma.pkiAuthority.count()).toBe(1);
  });

  it('a revocation through one instance is refused by the others within 1 s', async () => {
    const signed = await apps[0]!.inject({
      method: 'POST',
      url: '/api/v3/certs/sign?format=pem&requestedUsername=dev',
      headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/pkcs10' },
      payload: nodeCsr(),
    });
    expect(signed.statusCode, signed.body).toBe(200);
    const header = { 'x-ssl-client-cert': encodeURIComponent(signed.body) };
    const validate = (app: FastifyInstance) => app.inject({ method: 'GET', url: '/api/v3/session/validate-cert', headers: header });
    // Caches are in use (the LISTEN connection is up), so only a notification can make them forget.
    for (const app of apps) expect(app.pki.cachesLive).toBe(true);
    // Warm every instance's cache with a 200.
    for (const app of apps) expect((await validate(app)).statusCode).toBe(200);
    const serial = BigInt('0x' + new (await import('node:crypto')).X509Certificate(signed.body).serialNumber).toString();
    const rev = await apps[0]!.inject({
      method: 'POST',
      url: `/api/v3/certs/${serial}/revoke`,
      headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/json' },
      payload: { reason: 'KeyCompromise' },
    });
    expect(rev.statusCode).toBe(200);
    const started = Date.now();
    for (const app of apps.slice(1)) {
      let status = 0;
      while (Date.now() - started < 1000) {
        status = (await validate(app)).statusCode;
        if (status === 403) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(status).toBe(403);
    }
  });
});
