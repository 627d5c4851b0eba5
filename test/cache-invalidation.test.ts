// Every cache of the PKI listens on the shared invalidation channel: a change made through
// one instance (or straight in the database) reaches another instance's OCSP answers, CRL
// and verified client certificates within a second.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
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
import { OPENSSL, openssl, workdir, type Workdir } from './helpers/openssl.js';

const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const haveServer = (await serverReachable(serverUrl)) && !!OPENSSL;
if (!haveServer) console.warn(`cache-invalidation.test: skipped, needs a PostgreSQL server at ${serverUrl} (TEST_DATABASE_URL) and openssl`);

const dbName = `iam_test_cache_${process.pid}_${randomBytes(3).toString('hex')}`;
const apps: FastifyInstance[] = [];
const dbs: Database[] = [];
let pat: string;
let tenantId: string;
let w: Workdir;

beforeAll(async () => {
  if (!haveServer) return;
  w = workdir();
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = '/' + dbName;
  const config = loadConfig({ ...TEST_ENV, TRUSTED_PROXIES: '127.0.0.1', PKI_CA_KEY_TYPE: 'p256', PKI_VALIDATE_CACHE_SECONDS: '60' });
  const masterKey = randomBytes(32);
  for (let i = 0; i < 2; i++) {
    const db = await openDatabase({ url: url.toString(), poolMax: 3 });
    if (i === 0) await migrate(db.pool);
    dbs.push(db);
    const app = await buildApp({ config, db, masterKey, logger: false });
    await app.ready();
    apps.push(app);
  }
  await bootstrap(dbs[0]!, config);
  tenantId = (await dbs[0]!.prisma.tenant.create({ data: { name: 'Tenant' } })).id;
  pat = generatePat();
  await dbs[0]!.prisma.serviceAccount.create({
    data: {
      tenantId,
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
  w?.remove();
  if (!haveServer) return;
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await c.end();
});

async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + ms;
  do {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  } while (Date.now() < until);
  return false;
}

(haveServer ? describe : describe.skip)('PKI caches on the shared invalidation channel', () => {
  it("a revocation through one instance reaches the other's OCSP answers and CRL", async () => {
    const [a, b] = apps as [FastifyInstance, FastifyInstance];
    const signed = await a.inject({
      method: 'POST',
      url: '/api/v3/certs/sign?format=pem&requestedUsername=ocsp-dev',
      headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/pkcs10' },
      payload: nodeCsr(),
    });
    expect(signed.statusCode, signed.body).toBe(200);
    writeFileSync(w.file('dev.pem'), signed.body);
    writeFileSync(w.file('ca.pem'), await a.pki.caPem());
    const req = await openssl(['ocsp', '-issuer', w.file('ca.pem'), '-cert', w.file('dev.pem'), '-no_nonce', '-reqout', w.file('req.der')]);
    expect(req.code, req.stderr).toBe(0);
    const ocspStatus = async () => {
      const res = await b.inject({
        method: 'POST',
        url: '/api/v3/certs/ocsp',
        headers: { 'content-type': 'application/ocsp-request' },
        payload: w.read('req.der'),
      });
      writeFileSync(w.file('resp.der'), res.rawPayload);
      const text = await openssl(['ocsp', '-respin', w.file('resp.der'), '-issuer', w.file('ca.pem'), '-cert', w.file('dev.pem'), '-CAfile', w.file('ca.pem')]);
      return /: (good|revoked)/.exec(text.stdout)?.[1];
    };
    const serialHex = async () => {
      const res = await b.inject({ method: 'GET', url: '/api/v3/certs/crl' });
      writeFileSync(w.file('crl.der'), res.rawPayload);
      return (await openssl(['crl', '-inform', 'DER', '-in', w.file('crl.der'), '-noout', '-text'])).stdout;
    };
    // Cached on b: the answer, the status and the CRL.
    expect(await ocspStatus()).toBe('good');
    expect(await ocspStatus()).toBe('good');
    const serial = BigInt('0x' + new (await import('node:crypto')).X509Certificate(signed.body).serialNumber);
    const hex = serial.toString(16).toUpperCase();
    expect(await serialHex()).not.toContain(hex);

    const rev = await a.inject({
      method: 'POST',
      url: `/api/v3/certs/${serial}/revoke`,
      headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/json' },
      payload: { reason: 'KeyCompromise' },
    });
    expect(rev.statusCode).toBe(200);
    expect(await within(1000, async () => (await ocspStatus()) === 'revoked')).toBe(true);
    expect(await within(1000, async () => (await serialHex()).includes(hex.padStart(hex.length + (hex.length % 2), '0')))).toBe(true);
  });

  it("a role change in the database reaches the other instance's cached client-certificate verification", async () => {
    const [a, b] = apps as [FastifyInstance, FastifyInstance];
    const signed = await a.inject({
      method: 'POST',
      url: '/api/v3/certs/sign?format=pem&requestedUsername=roles-dev',
      headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/pkcs10' },
      payload: nodeCsr(),
    });
    expect(signed.statusCode, signed.body).toBe(200);
    const validate = () => b.inject({ method: 'GET', url: '/api/v3/session/validate-cert', headers: { 'x-ssl-client-cert': encodeURIComponent(signed.body) } });
    const roles = async () =>
      String((await validate()).headers['x-forwarded-user-roles'])
        .split(',')
        .sort();
    expect(await roles()).toEqual(['tenant-contributor']);
    expect(await roles()).toEqual(['tenant-contributor']); // cached
    const sa = await dbs[0]!.prisma.serviceAccount.findUniqueOrThrow({ where: { tenantId_usernameLower: { tenantId, usernameLower: 'roles-dev' } } });
    await dbs[0]!.prisma.roleAssignment.create({ data: { tenantId, serviceAccountId: sa.id, roleName: 'tenant-user' } });
    expect(await within(1000, async () => (await roles()).join(',') === 'tenant-contributor,tenant-user')).toBe(true);
  });
});
