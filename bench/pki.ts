// Benchmark of the certificate authority: OCSP responses/s (POST form, cached status;
// and with a nonce, i.e. signed per request) and SignCSR/s, with autocannon against
// a listening server on the embedded database (or DATABASE_URL when set).
//   npx tsx bench/pki.ts            BENCH_SECONDS=10 by default
import type autocannon from 'autocannon';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { buildApp } from '../src/http/app.js';
import { loadConfig } from '../src/platform/config.js';
import { openDatabase } from '../src/platform/db.js';
import { migrate } from '../src/platform/migrate.js';
import { generatePat, hashPat } from '../src/principals/pat.js';
import { OID, explicit, integer, nul, octets, oid, raw, seq, set, toDer, bits } from '../src/pki/der.js';
import { certInfo, name, publicKeyBits } from '../src/pki/x509.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', PUBLIC_URL: 'http://127.0.0.1', ARGON2_MEMORY_KIB: '8192', ARGON2_ITERATIONS: '1' });
const db = await openDatabase({ url: process.env.DATABASE_URL, poolMax: 10 });
await migrate(db.pool);
const app = await buildApp({ config, db, masterKey: randomBytes(32), logger: false });
await app.ready();
await bootstrap(db, config);
await app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

const tenant = await db.prisma.tenant.create({ data: { name: `bench-${randomBytes(3).toString('hex')}` } });
const pat = generatePat();
await db.prisma.serviceAccount.create({
  data: {
    tenantId: tenant.id,
    name: 'bench-admin',
    username: 'bench-admin',
    roles: { create: [{ roleName: 'tenant-admin' }] },
    pats: { create: { tokenHash: hashPat(pat), expiresAt: new Date(Date.now() + 3600_000) } },
  },
});

// A PKCS#10 request built and signed here (RSA-2048, SHA-256).
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = publicKey.export({ type: 'spki', format: 'der' });
const cri = toDer(seq([integer(0n), raw(name([[OID.commonName, 'bench-device']])), raw(spki), { ...set([]), tagClass: 0x80, type: 0 } as never]));
const csr = toDer(seq([raw(cri), seq([oid(OID.sha256WithRSA), nul()]), bits(sign('sha256', cri, privateKey))]));

const signUrl = `${base}/api/v3/certs/sign?requestedUsername=bench-device`;
const first = await fetch(signUrl, {
  method: 'POST',
  headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/pkcs10' },
  body: new Uint8Array(csr),
});
if (first.status !== 200) throw new Error(`SignCSR failed: ${first.status} ${await first.text()}`);
const leaf = certInfo(Buffer.from(await first.arrayBuffer()));
const caPem = await (await fetch(`${base}/api/v3/certs/ca`)).text();
const ca = certInfo(Buffer.from(caPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));

function ocspRequest(withNonce: boolean): Buffer {
  const h = (b: Buffer) => createHash('sha1').update(b).digest();
  const certId = seq([seq([oid(OID.sha1), nul()]), octets(h(ca.subject)), octets(h(publicKeyBits(ca.spki))), integer(leaf.serial)]);
  const nonce = seq([seq([oid(OID.ocspNonce), octets(toDer(octets(randomBytes(16))))])]);
  return toDer(seq([seq([seq([seq([certId])]), ...(withNonce ? [explicit(2, nonce)] : [])])]));
}

async function check(body: Buffer) {
  const res = await fetch(`${base}/api/v3/certs/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: new Uint8Array(body) });
  const der = Buffer.from(await res.arrayBuffer());
  // OCSPResponse { responseStatus successful(0), ... }
  if (res.status !== 200 || der.indexOf(Buffer.from([0x0a, 0x01, 0x00])) < 0 || der.indexOf(Buffer.from([0x0a, 0x01, 0x00])) > 6)
    throw new Error('OCSP check failed');
}

// autocannon runs in its own process so the load generator does not share the server's event loop.
// Its CLI reads bodies as UTF-8 (mangling DER), so the child uses the programmatic API with a Buffer.
const exec = promisify(execFile);
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon');
const CHILD = `
  const autocannon = require(process.argv[1]);
  const o = JSON.parse(process.argv[2]);
  o.body = Buffer.from(o.body, 'base64');
  autocannon(o).then((r) => process.stdout.write(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });
`;
async function run(title: string, opts: { url: string; method: string; connections: number; headers: Record<string, string>; body: Buffer }) {
  const o = { ...opts, duration: seconds, body: opts.body.toString('base64') };
  const { stdout } = await exec(process.execPath, ['-e', CHILD, AUTOCANNON, JSON.stringify(o)], { maxBuffer: 16 << 20 });
  const r = JSON.parse(stdout) as autocannon.Result;
  const non2xx = r.non2xx + r.errors;
  console.log(
    `${title.padEnd(34)} ${r.requests.average.toFixed(0).padStart(7)} req/s   p50 ${String(r.latency.p50).padStart(4)} ms   p99 ${String(r.latency.p99).padStart(4)} ms   (${r.requests.total} requests, ${non2xx} errors)`,
  );
  return r;
}

const cached = ocspRequest(false);
await check(cached);
await check(ocspRequest(true));

if (process.env.BENCH_MICRO) {
  for (const [label, body] of [
    ['cached', cached],
    ['nonce', ocspRequest(true)],
  ] as const) {
    const t0 = performance.now();
    for (let i = 0; i < 20000; i++) await app.pki.ocsp(body);
    console.log(`in-process ocsp() ${label}: ${(20000 / ((performance.now() - t0) / 1000)).toFixed(0)}/s`);
  }
}
console.log(`pki benchmark: ${seconds}s per run, ${db.kind} database, CA ${config.PKI_CA_KEY_TYPE}, node ${process.version}`);
await run('OCSP POST, cached status', {
  url: `${base}/api/v3/certs/ocsp`,
  method: 'POST',
  connections: 50,
  headers: { 'content-type': 'application/ocsp-request' },
  body: cached,
});
await run('OCSP POST, nonce (signed each time)', {
  url: `${base}/api/v3/certs/ocsp`,
  method: 'POST',
  connections: 50,
  headers: { 'content-type': 'application/ocsp-request' },
  body: ocspRequest(true),
});
await run('SignCSR (RSA-2048 CSR)', {
  url: signUrl,
  method: 'POST',
  connections: 10,
  headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/pkcs10' },
  body: csr,
});
const issued = await db.prisma.clientCertificate.count({ where: { tenantId: tenant.id } });
console.log(`certificates issued: ${issued}`);

await app.close();
await db.close();
