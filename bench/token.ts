// Token endpoint throughput, client_credentials with RS256 JWT access tokens: this server
// against node-oidc-provider configured with an equivalent client, in one run on this machine;
// then the same with DPoP-bound tokens (RFC 9449), each request carrying a fresh ES256 proof.
//   npx tsx bench/token.ts            (DURATION=10 CONNECTIONS=20 WARMUP=2; this server on a fresh
//                                      database of BENCH_DATABASE_URL, default the local PostgreSQL,
//                                      or the embedded one when it is "embedded")
//
// Each server runs in a process of its own and the load generator in this one: this server as
// `npm start` runs it (bench/server.ts: LOG_LEVEL=warn, metrics on, the token rate limit raised
// out of the way), oidc-provider and the floor (below) as this file with the argument
// `oidc-provider` or `floor`. When the servers and autocannon shared one event loop, the load
// generator's own work (about 0.1 ms of CPU per request) ran on the loop of the server it
// measured and slowed each by how much of its work was on that loop: the figures measured the
// sharing as much as the servers. Apart, each server has a process, as when deployed, and the
// same machine, client and load.
//
// Beside the throughput each round prints the CPU time the measured process spent per token
// (all its threads): the figure the machine's load moves least. Both servers sign on libuv's
// thread pool, and an RS256 signature alone takes about 0.3 ms of it here, so on a machine whose
// cores are all busy the ratio of throughputs tends to the inverse ratio of these CPU times. The
// floor shows in the same run the most a Node server can reach: a token endpoint on node:http and
// node:crypto that does nothing but check the secret and sign.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey, generateKeyPairSync, randomUUID, sign, timingSafeEqual, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import Provider from 'oidc-provider';
import { freePort, startBenchServer } from './server.js';

const DURATION = Number(process.env.DURATION ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 20);
const WARMUP = Number(process.env.WARMUP ?? 2);

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** oidc-provider with a client as this server registers it: client_secret_basic, client_credentials, RS256 JWT access tokens. */
async function servePeer(port: number, clientId: string, secret: string) {
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [
      {
        client_id: clientId,
        client_secret: secret,
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
  process.send!('listening');
}

const signAsync = promisify(sign);

/**
 * The floor: a token endpoint on node:http and node:crypto alone, which checks the secret (a
 * SHA-256, as this server does) and the grant type and signs a JWT of the same claims on the
 * thread pool, and nothing else (no routing, security headers, logging, metrics, rate limit,
 * revocation, audit). No Node server does less per token; its ratio to oidc-provider is the
 * most any of them can show on the machine of the run.
 */
async function serveFloor(port: number, clientId: string, secret: string) {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const secretHash = createHash('sha256').update(secret).digest();
  const header = b64({ alg: 'RS256', kid: 'floor', typ: 'at+jwt' });
  const issuer = `http://127.0.0.1:${port}`;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      const basic = /^Basic (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const decoded = Buffer.from(basic, 'base64').toString();
      const colon = decoded.indexOf(':');
      const given = createHash('sha256')
        .update(decoded.slice(colon + 1))
        .digest();
      if (form.get('grant_type') !== 'client_credentials' || colon < 0 || decoded.slice(0, colon) !== clientId || !timingSafeEqual(given, secretHash)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        return;
      }
      const iat = Math.floor(Date.now() / 1000);
      const input = `${header}.${b64({ client_id: clientId, scope: '', tenant_id: 'floor', roles: ['tenant-admin'], iss: issuer, sub: 'floor', aud: [clientId, issuer], iat, nbf: iat, exp: iat + 3600, jti: randomUUID() })}`;
      const signature = await signAsync('sha256', Buffer.from(input), key);
      res
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
        .end(JSON.stringify({ access_token: `${input}.${signature.toString('base64url')}`, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  server.listen(port, '127.0.0.1', () => process.send!('listening'));
}

if (process.argv[2] === 'oidc-provider' || process.argv[2] === 'floor') {
  await (process.argv[2] === 'floor' ? serveFloor : servePeer)(Number(process.argv[3]), process.argv[4]!, process.argv[5]!);
} else {
  // This server as `npm start` runs it: compiled (built first when a source changed), with its node flags.
  if (spawnSync(process.execPath, ['scripts/build-if-changed.mjs'], { stdio: 'inherit' }).status !== 0) process.exit(1);
  process.env.BENCH_COMPILED = '1';
  await main();
}

/**
 * DPoP proofs for `url`, made before the round (with node:crypto, synchronously) so that the
 * client's signing does not load the machine while a server is measured.
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

/** CPU seconds a process has used (user + system), on Linux; undefined elsewhere. */
function cpuSeconds(pid: number): number | undefined {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

interface Target {
  url: string;
  /** The server's process, whose CPU time per token is printed beside the throughput: the figure noise moves least. */
  pid: number;
}

async function run(name: string, { url, pid }: Target, authorization: string, dpop?: KeyObject, duration = DURATION) {
  // Enough proofs for the fastest server seen here, with room to spare; a proof is used once.
  const proofs = dpop ? dpopProofs(url, duration * 4000 + 1, dpop) : [];
  let next = 0;
  const probe = await fetch(url, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', ...(dpop ? { dpop: proofs[next++]! } : {}) },
    body: 'grant_type=client_credentials',
  });
  const body = (await probe.json()) as { access_token?: string; token_type?: string };
  if (probe.status !== 200 || !body.access_token?.includes('.')) throw new Error(`${name}: probe failed ${probe.status} ${JSON.stringify(body)}`);
  if (dpop && body.token_type !== 'DPoP') throw new Error(`${name}: the token is not DPoP-bound (${body.token_type})`);
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration,
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
    ...(dpop ? { requests: [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, dpop: proofs[next++ % proofs.length]! } }) }] } : {}),
  });
  const cpuAfter = cpuSeconds(pid);
  const ok = result['2xx'];
  const rps = ok / duration;
  const cpu = cpuBefore !== undefined && cpuAfter !== undefined && ok ? `  cpu ${(((cpuAfter - cpuBefore) * 1000) / ok).toFixed(2)} ms/token` : '';
  console.log(
    `${name.padEnd(19)} ${rps.toFixed(0).padStart(6)} tokens/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  non-2xx ${result.non2xx} errors ${result.errors}${cpu}`,
  );
  return rps;
}

/** This server, with a service account and a confidential client bound to it, made through the API. */
async function ours() {
  const server = await startBenchServer({ RATE_LIMIT_TOKEN: '100000000' });
  console.log(`this server: ${server.databaseUrl ? 'PostgreSQL server' : 'embedded'} database`);
  const api = async (path: string, body: object) => {
    const res = await fetch(server.base + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.pat}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const sa = await api('/api/v3/serviceaccounts?roles=tenant-admin', { name: 'bench', username: 'bench' });
  const app = await api('/api/v3/applications', {
    data: {
      type: 'applications',
      attributes: { name: 'bench', clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId: sa.machineUserId },
    },
  });
  const { clientId, clientSecret } = app.data.attributes as { clientId: string; clientSecret: string };
  return { url: `${server.base}/oauth/v2/token`, pid: server.pid, clientId, clientSecret, close: () => server.stop() };
}

/** oidc-provider, or the floor, in a process of its own, with the same client id and secret. */
async function child(role: 'oidc-provider' | 'floor', clientId: string, secret: string) {
  const port = await freePort();
  const proc = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), role, String(port), clientId, secret], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise((resolve, reject) => {
    proc.once('message', resolve);
    proc.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/token`,
    pid: proc.pid!,
    async close() {
      proc.kill('SIGTERM');
      await new Promise((resolve) => proc.once('exit', resolve));
    },
  };
}

async function main() {
  const a = await ours();
  const b = await child('oidc-provider', a.clientId, a.clientSecret);
  const c = await child('floor', a.clientId, a.clientSecret);
  const auth = 'Basic ' + Buffer.from(`${a.clientId}:${a.clientSecret}`).toString('base64');
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const ratios: string[] = [];
  for (const dpop of [undefined, dpopKey]) {
    const label = dpop ? ' +DPoP' : '';
    console.log(`client_credentials, RS256 JWT access tokens${dpop ? ', DPoP-bound (ES256 proofs)' : ''}, ${CONNECTIONS} connections, ${DURATION} s per round`);
    // A short unmeasured round each first: the first requests of a process pay for JIT
    // compilation and for filling caches (client, account, standing grant), which a server
    // in service has long done; measured cold, the first round of either would be off.
    await run(`(warm-up) ours${label}`, a, auth, dpop, WARMUP);
    await run(`(warm-up) theirs${label}`, b, auth, dpop, WARMUP);
    // The floor has no DPoP: it runs with the plain requests only.
    const floor = dpop ? undefined : c;
    if (floor) await run('(warm-up) floor', floor, auth, dpop, WARMUP);
    // ABCCBA order, so that a change of load on a shared machine weighs on each alike.
    const ourRps: number[] = [];
    const theirRps: number[] = [];
    const floorRps: number[] = [];
    ourRps.push(await run(`this server${label}`, a, auth, dpop));
    theirRps.push(await run(`oidc-provider${label}`, b, auth, dpop));
    if (floor) {
      floorRps.push(await run('floor', floor, auth, dpop));
      floorRps.push(await run('floor', floor, auth, dpop));
    }
    theirRps.push(await run(`oidc-provider${label}`, b, auth, dpop));
    ourRps.push(await run(`this server${label}`, a, auth, dpop));
    console.log(
      `mean: this server ${mean(ourRps).toFixed(0)} tokens/s, oidc-provider ${mean(theirRps).toFixed(0)} tokens/s${floor ? `, floor ${mean(floorRps).toFixed(0)} tokens/s` : ''}`,
    );
    ratios.push(
      `${dpop ? 'DPoP' : 'plain'} ${(mean(ourRps) / mean(theirRps)).toFixed(2)}x${floor ? ` (floor ${(mean(floorRps) / mean(theirRps)).toFixed(2)}x)` : ''}`,
    );
  }
  console.log(`ratio (this server / oidc-provider): ${ratios.join(', ')}`);
  await a.close();
  await b.close();
  await c.close();
  process.exit(0);
}
