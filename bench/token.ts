// Token endpoint throughput, client_credentials with RS256 JWT access tokens: this server
// against node-oidc-provider configured with an equivalent client, in one run on this machine;
// then the same with DPoP-bound tokens (RFC 9449), each request carrying a fresh ES256 proof.
//   npx tsx bench/token.ts            (DURATION=10 CONNECTIONS=20 WARMUP=2; uses TEST_DATABASE_URL or
//                                      postgresql://postgres@127.0.0.1:5432/postgres when reachable,
//                                      else the embedded database)
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import autocannon from 'autocannon';
import pg from 'pg';
import Provider from 'oidc-provider';
import { buildApp } from '../src/http/app.js';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { loadConfig } from '../src/platform/config.js';
import { freshDatabase } from '../test/helpers/db.js';
import { freePort } from '../test/helpers/oauth.js';
import { hashClientSecret } from '../src/oauth/applications.js';

const DURATION = Number(process.env.DURATION ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 20);
const WARMUP = Number(process.env.WARMUP ?? 2);
const SECRET = 'b'.repeat(48);

async function serverReachable(url: string) {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * DPoP proofs for `url`, made before the round (with node:crypto, synchronously) so that the
 * client's signing does not load the process both servers share while they are measured.
 */
function dpopProofs(url: string, count: number, key: KeyObject): string[] {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const header = b64({ typ: 'dpop+jwt', alg: 'ES256', jwk });
  const iat = Math.floor(Date.now() / 1000);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const input = `${header}.${b64({ jti: randomUUID(), htm: 'POST', htu: url, iat })}`;
    out.push(`${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`);
  }
  return out;
}

async function run(name: string, url: string, authorization: string, dpop?: KeyObject, duration = DURATION) {
  // Enough proofs for the fastest server seen here, with room to spare; a proof is used once.
  const proofs = dpop ? dpopProofs(url, duration * 3000 + 1, dpop) : [];
  let next = 0;
  const probe = await fetch(url, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', ...(dpop ? { dpop: proofs[next++]! } : {}) },
    body: 'grant_type=client_credentials',
  });
  const body = (await probe.json()) as { access_token?: string; token_type?: string };
  if (probe.status !== 200 || !body.access_token?.includes('.')) throw new Error(`${name}: probe failed ${probe.status} ${JSON.stringify(body)}`);
  if (dpop && body.token_type !== 'DPoP') throw new Error(`${name}: the token is not DPoP-bound (${body.token_type})`);
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration,
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
    ...(dpop ? { requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, dpop: proofs[next++ % proofs.length]! } }) }] } : {}),
  });
  const ok = result['2xx'];
  const rps = ok / duration;
  console.log(
    `${name.padEnd(19)} ${rps.toFixed(0).padStart(6)} tokens/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  non-2xx ${result.non2xx} errors ${result.errors}`,
  );
  return rps;
}

async function ours(): Promise<{ url: string; auth: string; close(): Promise<void> }> {
  const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  if (await serverReachable(serverUrl)) process.env.TEST_DATABASE_URL = serverUrl;
  const db = await freshDatabase();
  console.log(`this server: ${db.kind} database`);
  const port = await freePort();
  const config = loadConfig({
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_TOKEN: '100000000',
    DB_POOL_MAX: '10',
    METRICS_ENABLED: 'false',
  });
  const app = await buildApp({ config, db, masterKey: randomBytes(32), logger: false });
  await app.ready();
  await bootstrap(db, config);
  const tenant = await db.prisma.tenant.create({ data: { name: 'bench' } });
  const sa = await db.prisma.serviceAccount.create({
    data: { tenantId: tenant.id, name: 'bench', username: 'bench', roles: { create: { roleName: 'tenant-admin' } } },
  });
  await db.prisma.application.create({
    data: {
      tenantId: tenant.id,
      name: 'bench',
      clientId: 'bench',
      clientType: 'confidential',
      clientSecretHash: hashClientSecret(SECRET),
      tokenEndpointAuthMethod: 'client_secret_basic',
      redirectUris: [],
      postLogoutRedirectUris: [],
      grantTypes: ['client_credentials'],
      serviceAccountId: sa.id,
    },
  });
  await app.listen({ port, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${port}/oauth/v2/token`,
    auth: 'Basic ' + Buffer.from(`bench:${SECRET}`).toString('base64'),
    async close() {
      await app.close();
      await db.close();
    },
  };
}

async function theirs(): Promise<{ url: string; auth: string; close(): Promise<void> }> {
  const port = await freePort();
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [
      {
        client_id: 'bench',
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...jwk, kid: 'bench', alg: 'RS256', use: 'sig' } as never] },
    features: {
      clientCredentials: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:bench:api',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'api', accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: 'RS256' } } }),
      },
    },
  });
  const server = provider.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${port}/token`,
    auth: 'Basic ' + Buffer.from(`bench:${SECRET}`).toString('base64'),
    async close() {
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const a = await ours();
const b = await theirs();
const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const ratios: string[] = [];
for (const dpop of [undefined, dpopKey]) {
  const label = dpop ? ' +DPoP' : '';
  console.log(`client_credentials, RS256 JWT access tokens${dpop ? ', DPoP-bound (ES256 proofs)' : ''}, ${CONNECTIONS} connections, ${DURATION} s per round`);
  // A short unmeasured round each first: the first requests of a process pay for JIT
  // compilation and for filling caches (client, account, standing grant), which a server
  // in service has long done; measured cold, the first round of either would be off.
  await run(`(warm-up) ours${label}`, a.url, a.auth, dpop, WARMUP);
  await run(`(warm-up) theirs${label}`, b.url, b.auth, dpop, WARMUP);
  // ABBA order, so that a change of load on a shared machine weighs on both alike.
  const ourRps: number[] = [];
  const theirRps: number[] = [];
  ourRps.push(await run(`this server${label}`, a.url, a.auth, dpop));
  theirRps.push(await run(`oidc-provider${label}`, b.url, b.auth, dpop));
  theirRps.push(await run(`oidc-provider${label}`, b.url, b.auth, dpop));
  ourRps.push(await run(`this server${label}`, a.url, a.auth, dpop));
  console.log(`mean: this server ${mean(ourRps).toFixed(0)} tokens/s, oidc-provider ${mean(theirRps).toFixed(0)} tokens/s`);
  ratios.push(`${dpop ? 'DPoP' : 'plain'} ${(mean(ourRps) / mean(theirRps)).toFixed(2)}x`);
}
console.log(`ratio (this server / oidc-provider): ${ratios.join(', ')}`);
await a.close();
await b.close();
process.exit(0);
