// Several instances on one PostgreSQL: they agree on one CA, and a revocation made
// through one is refused by the others' validate-cert and OCSP caches within a second.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/platform/db.js';
import { startInstances, type Instances } from './helpers/instances.js';
import { nodeCsr } from './helpers/csr.js';
import { serverReachable } from './helpers/net.js';

const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const haveServer = await serverReachable(serverUrl);
if (!haveServer) console.warn(`pki-instances.test: skipped, no PostgreSQL server at ${serverUrl} (set TEST_DATABASE_URL)`);

let apps: FastifyInstance[] = [];
let dbs: Database[] = [];
let instances: Instances | undefined;
let pat: string;

beforeAll(async () => {
  if (!haveServer) return;
  instances = await startInstances(serverUrl, 3, { TRUSTED_PROXIES: '127.0.0.1', PKI_CA_KEY_TYPE: 'p256' });
  ({ apps, dbs, pat } = instances);
}, 60_000);

afterAll(async () => {
  await instances?.close();
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
