// Soak: a mixed workload at a steady (open-loop) rate against the real server in a
// child process, for a configurable time. Reports, per interval and in total,
// throughput, errors, p50/p99 latency and the server's RSS (growth over time is a leak).
// Usage: SOAK_SECONDS=60 SOAK_RATE=100 npx tsx bench/soak.ts
//        (BENCH_DATABASE_URL=embedded for the embedded database; default: local PostgreSQL)
import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { freePort, startBenchServer, type BenchServer } from './server.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 30);
const RATE = Number(process.env.SOAK_RATE ?? 50); // requests per second
const INTERVAL = Number(process.env.SOAK_INTERVAL_SECONDS ?? 5);
const MAX_IN_FLIGHT = 200;

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);

// The soak drives logins from one address: the per-address login and token rate limits would refuse them.
const LIMITS = { RATE_LIMIT_LOGIN: '1000000', RATE_LIMIT_TOKEN: '1000000', RATE_LIMIT_AUTHORIZE: '1000000' };
const INSTANCES = Number(process.env.SOAK_INSTANCES ?? 1);

/** A round-robin HTTP proxy over the instances (as a load balancer would spread requests). */
function roundRobin(port: number, targets: string[]): Promise<Server> {
  let next = 0;
  const proxy = createServer((req, res) => {
    const target = new URL(req.url ?? '/', targets[next++ % targets.length]);
    const up = httpRequest(target, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  return new Promise((resolve) => proxy.listen(port, '127.0.0.1', () => resolve(proxy)));
}

// One instance, or several on one PostgreSQL database behind the round-robin, all with the proxy's URL as issuer.
let proxy: Server | undefined;
const instances: BenchServer[] = [];
let server: BenchServer;
if (INSTANCES > 1) {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const first = await startBenchServer({ ...LIMITS, PUBLIC_URL: publicUrl });
  instances.push(first);
  for (let i = 1; i < INSTANCES; i++) {
    instances.push(
      await startBenchServer({
        ...LIMITS,
        PUBLIC_URL: publicUrl,
        DATABASE_URL: first.databaseUrl!,
        MASTER_KEY: first.masterKey,
        BOOTSTRAP_ADMIN_PAT: first.pat,
      }),
    );
  }
  proxy = await roundRobin(
    port,
    instances.map((x) => x.base),
  );
  server = { ...first, base: publicUrl, stop: async () => {} };
} else {
  server = await startBenchServer(LIMITS);
  instances.push(server);
}
try {
  const api = async (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(server.base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) };
  };

  // Fixtures: a tenant, a service account with a PAT (the validate/read workload), another to manage PATs on.
  const tenant = await api('POST', '/api/v3/tenants', server.pat, { data: { type: 'tenants', attributes: { name: 'Soak', subdomain: 'soak' } } });
  if (tenant.status !== 201) throw new Error(`tenant: ${tenant.status} ${tenant.text}`);
  const tenantId = tenant.json().data.id as string;
  const th = { 'x-forwarded-tenant-id': tenantId };
  const reader = await api(
    'POST',
    '/api/v3/serviceaccounts?withPAT=true',
    server.pat,
    { name: 'reader', username: 'reader', roles: ['tenant-admin'], expirationDate: '2099-01-01T00:00:00Z' },
    th,
  );
  if (reader.status !== 201) throw new Error(`service account: ${reader.status} ${reader.text}`);
  const pat = reader.json().pat as string;
  const managed = reader.json().machineUserId as string;

  const ok = (status: number, expected: (s: number) => boolean) => (expected(status) ? (true as const) : status);

  // A user who signs in through the hosted login, and the tenant's AnalyticsUI client (public, PKCE).
  const PASSWORD = 'Soak-Password-2026';
  const signer = await api('POST', '/api/v3/users', pat, {
    data: { type: 'users', attributes: { username: 'soaker', email: 'soaker@soak.test', password: PASSWORD } },
  });
  if (signer.status !== 201) throw new Error(`user: ${signer.status} ${signer.text}`);
  const apps = (await api('GET', '/api/v3/applications?pageSize=100', pat)).json().data as { attributes: { name: string; clientId: string } }[];
  const clientId = apps.find((a) => a.attributes.name === 'AnalyticsUI')!.attributes.clientId;
  const redirectUri = 'https://soak.localhost/login';

  /** Authorization code + PKCE through the hosted login pages, then one refresh: what a frontend does. */
  async function loginAndRefresh(): Promise<true | number> {
    const jar = new Map<string, string>();
    const go = async (path: string, form?: Record<string, string>) => {
      const res = await fetch(server.base + path, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: form ? new URLSearchParams(form).toString() : undefined,
      });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair!.indexOf('=');
        jar.set(pair!.slice(0, i), pair!.slice(i + 1));
      }
      return res;
    };
    const field = (html: string, name: string) => (new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '').replace(/&amp;/g, '&');
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const authorize = await go(
      `/oauth/v2/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid offline_access', code_challenge: challenge, code_challenge_method: 'S256', state: 's' })}`,
    );
    if (authorize.status !== 302) return authorize.status;
    const emailPage = await go(authorize.headers.get('location')!);
    const emailHtml = await emailPage.text();
    const r = field(emailHtml, 'r');
    const passwordPage = await go('/ui/login', { csrf: field(emailHtml, 'csrf'), r, email: 'soaker@soak.test' });
    if (passwordPage.status !== 200) return passwordPage.status;
    const done = await go('/ui/login/password', { csrf: field(await passwordPage.text(), 'csrf'), r, email: 'soaker@soak.test', password: PASSWORD });
    const code = done.status === 303 ? new URL(done.headers.get('location')!).searchParams.get('code') : null;
    if (!code) return done.status;
    const token = (form: Record<string, string>) =>
      fetch(`${server.base}/oauth/v2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: clientId, ...form }).toString(),
      });
    const first = await token({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    if (first.status !== 200) return first.status;
    const refresh = (await first.json()).refresh_token as string | undefined;
    if (!refresh) return 0;
    return ok((await token({ grant_type: 'refresh_token', refresh_token: refresh })).status, (x) => x === 200);
  }

  /** true, or the failing status. */
  type Op = { name: string; weight: number; run: () => Promise<true | number> };
  const ops: Op[] = [
    { name: 'login + token + refresh', weight: 5, run: loginAndRefresh },
    {
      name: 'user create + update + delete',
      weight: 10,
      run: async () => {
        const name = `u-${randomBytes(5).toString('hex')}`;
        const c = await api('POST', '/api/v3/users', pat, { data: { type: 'users', attributes: { username: name, email: `${name}@soak.test` } } });
        if (c.status !== 201) return c.status;
        const id = c.json().data.id as string;
        const u = await api('PATCH', `/api/v3/users/${id}`, pat, { data: { attributes: { firstName: 'Soaked' } } });
        if (u.status !== 200) return u.status;
        return ok((await api('DELETE', `/api/v3/users/${id}`, pat)).status, (x) => x < 300);
      },
    },
    { name: 'validate-token (PAT)', weight: 35, run: async () => ok((await api('GET', '/api/v3/session/validate-token', pat)).status, (x) => x === 200) },
    { name: 'read tenant', weight: 15, run: async () => ok((await api('GET', `/api/v3/tenants/${tenantId}`, server.pat)).status, (x) => x === 200) },
    {
      name: 'search service accounts',
      weight: 10,
      run: async () => ok((await api('POST', '/api/v3/serviceaccounts/search', pat, { data: {} })).status, (x) => x === 200),
    },
    {
      name: 'PAT create + delete',
      weight: 15,
      run: async () => {
        const c = await api('POST', `/api/v3/serviceaccounts/${managed}/pats`, pat, { expirationDate: '2099-01-01T00:00:00Z' });
        if (c.status !== 201) return c.status;
        return ok((await api('DELETE', `/api/v3/serviceaccounts/${managed}/pats/${c.json().credentialId}`, pat)).status, (x) => x < 300);
      },
    },
    {
      name: 'service account create + delete',
      weight: 10,
      run: async () => {
        const name = `soak-${randomBytes(5).toString('hex')}`;
        const c = await api('POST', '/api/v3/serviceaccounts', pat, { name, username: name, roles: ['tenant-user'] });
        if (c.status !== 201) return c.status;
        return ok((await api('DELETE', `/api/v3/serviceaccounts/${c.json().machineUserId}`, pat)).status, (x) => x < 300);
      },
    },
  ];

  const bag = ops.flatMap((op) => Array(op.weight).fill(op) as Op[]);
  // Interleaved, so that every second carries the whole mix rather than bursts of one kind.
  for (let i = bag.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [bag[i], bag[j]] = [bag[j]!, bag[i]!];
  }
  console.log(
    `soak: ${RATE} op/s for ${SECONDS}s against ${server.databaseUrl ? 'PostgreSQL' : 'the embedded database'}; mix: ${ops.map((o) => `${o.name} ${o.weight}%`).join(', ')}`,
  );

  const rss0 = rssKiB(server.pid);
  let window: number[] = [];
  let all: number[] = [];
  let errors = 0;
  let windowErrors = 0;
  let inFlight = 0;
  let dropped = 0;
  const errorsByOp = new Map<string, number>();
  const rows: { t: number; ops: number; errors: number; p99: number; rss: number }[] = [];
  const started = Date.now();
  let issued = 0;
  const pending = new Set<Promise<void>>();

  const report = () => {
    const sorted = [...window].sort((a, b) => a - b);
    const row = {
      t: Math.round((Date.now() - started) / 1000),
      ops: window.length / INTERVAL,
      errors: windowErrors,
      p99: pct(sorted, 99),
      rss: rssKiB(server.pid),
    };
    rows.push(row);
    console.log(
      `  t=${String(row.t).padStart(4)}s  ${row.ops.toFixed(1).padStart(6)} op/s  errors ${row.errors}  p99 ${row.p99.toFixed(1)} ms  RSS ${(row.rss / 1024).toFixed(1)} MiB`,
    );
    all = all.concat(window);
    window = [];
    windowErrors = 0;
  };
  const reporter = setInterval(report, INTERVAL * 1000);

  // Open loop: operations are issued on schedule whether or not earlier ones finished.
  while (Date.now() - started < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * RATE);
    while (issued < due) {
      issued++;
      if (inFlight >= MAX_IN_FLIGHT) {
        dropped++;
        continue;
      }
      const op = bag[issued % bag.length]!;
      inFlight++;
      const t0 = performance.now();
      const p = op
        .run()
        .catch(() => 0)
        .then((result) => {
          window.push(performance.now() - t0);
          if (result !== true) {
            errors++;
            windowErrors++;
            const key = `${op.name} -> ${result || 'network error'}`;
            errorsByOp.set(key, (errorsByOp.get(key) ?? 0) + 1);
          }
        })
        .finally(() => {
          inFlight--;
          pending.delete(p);
        });
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  clearInterval(reporter);
  if (window.length) report();

  const sorted = all.sort((a, b) => a - b);
  const elapsed = (Date.now() - started) / 1000;
  const rss1 = rssKiB(server.pid);
  // Growth after warm-up: the first interval is excluded (JIT, caches, pools filling).
  const warm = rows.length > 2 ? rows[1]!.rss : rss0;
  console.log(
    `total: ${sorted.length} operations in ${elapsed.toFixed(1)}s = ${(sorted.length / elapsed).toFixed(1)} op/s (target ${RATE}); errors ${errors}${errors ? ' ' + JSON.stringify(Object.fromEntries(errorsByOp)) : ''}; not issued (over ${MAX_IN_FLIGHT} in flight) ${dropped}`,
  );
  console.log(`latency: p50 ${pct(sorted, 50).toFixed(1)} ms, p99 ${pct(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`);
  console.log(
    `server RSS: start ${(rss0 / 1024).toFixed(1)} MiB, after warm-up ${(warm / 1024).toFixed(1)} MiB, end ${(rss1 / 1024).toFixed(1)} MiB (growth after warm-up ${((rss1 - warm) / 1024).toFixed(1)} MiB)`,
  );
  if (instances.length > 1) {
    // Revocation through one instance, seen by the others (their caches warmed first).
    const created = await fetch(`${instances[0]!.base}/api/v3/serviceaccounts/${managed}/pats`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pat}`, 'content-type': 'application/json' },
      body: JSON.stringify({ expirationDate: '2099-01-01T00:00:00Z' }),
    }).then((r) => r.json());
    const probe = (base: string) =>
      fetch(`${base}/api/v3/session/validate-token`, { headers: { authorization: `Bearer ${created.pat}` } }).then((r) => r.status);
    for (const x of instances) await probe(x.base);
    const revokedAt = Date.now();
    await fetch(`${instances[0]!.base}/api/v3/serviceaccounts/${managed}/pats/${created.credentialId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${pat}` },
    });
    const delays: number[] = [];
    for (const x of instances.slice(1)) {
      while ((await probe(x.base)) === 200 && Date.now() - revokedAt < 5000) await new Promise((r) => setTimeout(r, 5));
      delays.push(Date.now() - revokedAt);
    }
    console.log(`${instances.length} instances behind a round-robin; revocation through one refused by the others after ${delays.join(', ')} ms`);
  }
  if (errors) process.exitCode = 1;
} finally {
  proxy?.close();
  for (const x of instances.reverse()) await x.stop();
}
