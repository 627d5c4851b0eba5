// Proxy hot path: autocannon (50 connections) against liveness and the validate routes,
// in one run on one server. The routes take turns in ROUNDS rounds (default 5) of
// seconds/ROUNDS each, so that drift of the machine (the load generator shares its two
// cores) hits every route alike; prints the median req/s, p50 and p99 of each route and
// the median of its per-round throughput ratio to liveness. Targets: ratio >= 0.8, p99 <= 10 ms.
//   npm run bench -- validate [seconds per route, default 10]
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import autocannon from 'autocannon';
import { importPKCS8, SignJWT } from 'jose';
import { startBenchServer } from './server.js';

const duration = Number(process.argv[2] ?? 10);
const rounds = Number(process.env.ROUNDS ?? 5);
const PASSWORD = 'Bench-Password-123';
const server = await startBenchServer({ BOOTSTRAP_ADMIN_USERNAME: 'admin@bench.test', BOOTSTRAP_ADMIN_PASSWORD: PASSWORD, BASE_DOMAIN: 'bench.test' });
const api = (path: string, init: RequestInit = {}) =>
  fetch(server.base + path, { ...init, headers: { authorization: `Bearer ${server.pat}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

/** A JWT access token through the JWT-bearer grant of a service account key, as a script gets one. */
async function jwtAccessToken(): Promise<string> {
  const sa = await (
    await api('/api/v3/serviceaccounts?roles=tenant-user', {
      method: 'POST',
      body: JSON.stringify({ accessTokenType: 'Jwt', name: 'bench', username: 'bench' }),
    })
  ).json();
  const key = await (
    await api(`/api/v3/serviceaccounts/${sa.machineUserId}/keys`, { method: 'POST', body: JSON.stringify({ expirationDate: '2099-01-01T00:00:00Z' }) })
  ).json();
  const file = JSON.parse(Buffer.from(key.key, 'base64').toString());
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: file.keyId })
    .setIssuer(file.userId)
    .setSubject(file.userId)
    .setAudience(server.base)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .setJti(randomUUID())
    .sign(await importPKCS8(file.key, 'RS256'));
  const res = await fetch(`${server.base}/oauth/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
  });
  return (await res.json()).access_token;
}

/** A browser session cookie, by signing the bootstrap admin in through the hosted login pages. */
async function sessionCookie(): Promise<string> {
  const tenants = await (await api('/api/v3/tenants')).json();
  const operator = tenants.data.find((t: { attributes: { isOperator: boolean } }) => t.attributes.isOperator);
  await api('/api/v3/onboarding/tenant-identity', {
    method: 'PUT',
    body: JSON.stringify({ data: { attributes: { tenantId: operator.id, subdomain: 'ops', name: 'Operator' } } }),
  });
  const jar = new Map<string, string>();
  // fetch() may not set Host, which names the tenant here: plain node:http does.
  const send = (method: string, path: string, body?: Record<string, string>) =>
    new Promise<string>((resolve, reject) => {
      const payload = body ? new URLSearchParams(body).toString() : undefined;
      const req = request(
        server.base + path,
        {
          method,
          headers: {
            host: 'ops.bench.test',
            cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
            ...(payload ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          for (const c of res.headers['set-cookie'] ?? []) {
            const [pair] = c.split(';');
            const i = pair!.indexOf('=');
            jar.set(pair!.slice(0, i), pair!.slice(i + 1));
          }
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
  const page = await send('GET', '/ui/login');
  const step = await send('POST', '/ui/login', { csrf: field(page, 'csrf'), email: 'admin@bench.test' });
  await send('POST', '/ui/login/password', { csrf: field(step, 'csrf'), email: 'admin@bench.test', password: PASSWORD });
  const session = jar.get('iam_session');
  if (!session) throw new Error('hosted login did not set a session cookie');
  return `iam_session=${session}`;
}

async function run(url: string, headers: Record<string, string>, seconds: number) {
  const r = await autocannon({ url, headers, connections: 50, duration: seconds });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const jwt = await jwtAccessToken();
  const cookie = await sessionCookie();
  const routes: [string, string, Record<string, string>][] = [
    ['liveness', `${server.base}/api/v3/health/liveness`, {}],
    ['validate-token (JWT)', `${server.base}/api/v3/session/validate-token`, { authorization: `Bearer ${jwt}` }],
    ['validate-token (PAT)', `${server.base}/api/v3/session/validate-token`, { authorization: `Bearer ${server.pat}` }],
    ['validate (session cookie)', `${server.base}/api/v3/session/validate`, { cookie }],
  ];
  // Warm-up, so the figures are not JIT and connection set-up.
  for (const [, url, headers] of routes) await autocannon({ url, headers, connections: 10, duration: 1 });
  const results = routes.map(() => [] as { rps: number; p50: number; p99: number }[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, [, url, headers]] of routes.entries()) results[i]!.push(await run(url, headers, Math.max(1, Math.round(duration / rounds))));
  }
  console.log(`\n${rounds} rounds of ${Math.max(1, Math.round(duration / rounds))} s per route, 50 connections; medians`);
  console.log(`${'route'.padEnd(28)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'ratio'.padStart(6)}`);
  for (const [i, [title]] of routes.entries()) {
    const rs = results[i]!;
    const ratio = median(rs.map((r, round) => r.rps / results[0]![round]!.rps));
    console.log(
      `${title.padEnd(28)} ${median(rs.map((r) => r.rps))
        .toFixed(0)
        .padStart(9)} ${String(median(rs.map((r) => r.p50))).padStart(7)} ${String(median(rs.map((r) => r.p99))).padStart(7)} ${ratio.toFixed(2).padStart(6)}`,
    );
  }
} finally {
  await server.stop();
}
