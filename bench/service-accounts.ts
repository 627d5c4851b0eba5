// Service-account credential figures: PAT-authenticated API reads over HTTP (autocannon),
// JWT-bearer assertion verification, and key generation. Prints figures; asserts nothing.
// Usage: npx tsx bench/service-accounts.ts   (TEST_DATABASE_URL=postgresql://... for a server)
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { importPKCS8, SignJWT } from 'jose';
import { call, createTenant, startTestApp } from '../test/helpers/app.js';
import { verifyKeyAssertion } from '../src/service-accounts/assertion.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const t = await startTestApp();
try {
  const tenant = await createTenant(t, 'Bench');
  const headers = { 'x-forwarded-tenant-id': tenant };
  const created = await call(
    t.app,
    t.adminPat,
    'POST',
    '/api/v3/serviceaccounts?withPAT=true',
    { name: 'bench', username: 'bench', roles: ['tenant-user'], expirationDate: '2099-01-01T00:00:00Z' },
    headers,
  );
  const { machineUserId, pat } = created.json();

  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  const result = await autocannon({
    url: `${address}/api/v3/serviceaccounts/self`,
    headers: { authorization: `Bearer ${pat}` },
    connections: 10,
    duration: DURATION,
  });
  console.log(`GET /api/v3/serviceaccounts/self with a PAT (${t.db.kind} database, 10 connections, ${DURATION}s):`);
  console.log(
    `  ${result.requests.average.toFixed(0)} req/s, latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}`,
  );

  const keyStart = performance.now();
  const KEYS = 10;
  let keyFile = '';
  for (let i = 0; i < KEYS; i++) {
    const res = await call(t.app, t.adminPat, 'POST', `/api/v3/serviceaccounts/${machineUserId}/keys`, { expirationDate: '2099-01-01T00:00:00Z' }, headers);
    keyFile = res.json().key;
  }
  console.log(`POST .../keys (RSA 2048): ${((performance.now() - keyStart) / KEYS).toFixed(1)} ms per key`);

  const file = JSON.parse(Buffer.from(keyFile, 'base64').toString());
  const privateKey = await importPKCS8(file.key, 'RS256');
  const N = 500;
  const assertions: string[] = [];
  for (let i = 0; i < N; i++) {
    assertions.push(
      await new SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'RS256', kid: file.keyId })
        .setIssuer(file.userId)
        .setSubject(file.userId)
        .setAudience(t.config.PUBLIC_URL)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey),
    );
  }
  const start = performance.now();
  let ok = 0;
  for (const a of assertions) if ((await verifyKeyAssertion(t.db.prisma, a, t.config.PUBLIC_URL)).ok) ok++;
  const ms = performance.now() - start;
  console.log(`verifyKeyAssertion (sequential, ${N} fresh assertions): ${(ms / N).toFixed(2)} ms each, ${((N / ms) * 1000).toFixed(0)}/s, ${ok} accepted`);
} finally {
  await t.close();
}
