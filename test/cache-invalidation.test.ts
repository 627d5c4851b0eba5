// Every cache of the PKI listens on the shared invalidation channel: a change made through
// one instance (or straight in the database) reaches another instance's OCSP answers, CRL
// and verified client certificates within a second.
import { writeFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/platform/db.js';
import { startInstances, type Instances } from './helpers/instances.js';
import { nodeCsr } from './helpers/csr.js';
import { serverReachable } from './helpers/net.js';
import { OPENSSL, openssl, workdir, type Workdir } from './helpers/openssl.js';

const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const haveServer = (await serverReachable(serverUrl)) && !!OPENSSL;
if (!haveServer) console.warn(`cache-invalidation.test: skipped, needs a PostgreSQL server at ${serverUrl} (TEST_DATABASE_URL) and openssl`);

let apps: FastifyInstance[] = [];
let dbs: Database[] = [];
let instances: Instances | undefined;
let pat: string;
let tenantId: string;
let w: Workdir;

beforeAll(async () => {
  if (!haveServer) return;
  w = workdir();
  instances = await startInstances(serverUrl, 2, { TRUSTED_PROXIES: '127.0.0.1', PKI_CA_KEY_TYPE: 'p256', PKI_VALIDATE_CACHE_SECONDS: '60' });
  ({ apps, dbs, pat, tenantId } = instances);
}, 60_000);

afterAll(async () => {
  await instances?.close();
  w?.remove();
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
