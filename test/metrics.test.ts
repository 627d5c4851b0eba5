// Who may read /metrics: loopback-only by default (the socket's peer, never a forwarded
// address), a bearer token with METRICS_TOKEN, or a separate listener with METRICS_LISTEN.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { closeMetrics, listenMetrics } from '../src/http/metrics.js';
import { loadConfig } from '../src/platform/config.js';
import { createTenant, seedServiceAccountPat, startTestApp, TEST_ENV, type TestApp } from './helpers/app.js';
import { freePort } from './helpers/net.js';
import { formField, seedUser } from './helpers/oauth.js';

const TOKEN = 'm3tr1cs-' + randomBytes(16).toString('hex');
let t: TestApp;
const others: FastifyInstance[] = [];

/** Another app on the same database, with extra configuration. */
async function appWith(env: Record<string, string>): Promise<FastifyInstance> {
  const app = await buildApp({ config: loadConfig({ ...TEST_ENV, ...env }), db: t.db, masterKey: randomBytes(32), logger: false });
  await app.ready();
  others.push(app);
  return app;
}

const metrics = (app: FastifyInstance, opts: Partial<InjectOptions> = {}) => app.inject({ method: 'GET', url: '/metrics', ...opts });

function expectRefused(res: Awaited<ReturnType<typeof metrics>>, status: number) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
  expect(res.json().errors[0].status).toBe(String(status));
  expect(res.body).not.toContain('http_requests_total');
}

beforeAll(async () => {
  t = await startTestApp({ TRUSTED_PROXIES: '10.0.0.1' });
}, 60_000);
afterAll(async () => {
  for (const app of others) await app.close();
  await t?.close();
});

describe('without METRICS_TOKEN or METRICS_LISTEN', () => {
  it('answers loopback peers (IPv4, IPv6, IPv4-mapped)', async () => {
    for (const remoteAddress of ['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1']) {
      const res = await metrics(t.app, { remoteAddress });
      expect(res.statusCode, remoteAddress).toBe(200);
      expect(res.body).toContain('http_requests_total');
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  it('refuses any other peer with 403', async () => {
    for (const remoteAddress of ['10.1.2.3', '192.168.1.10', '203.0.113.7', '::ffff:10.1.2.3', '2001:db8::1']) {
      expectRefused(await metrics(t.app, { remoteAddress }), 403);
    }
  });

  it('goes by the socket peer, not X-Forwarded-For, even from a trusted proxy', async () => {
    // 10.0.0.1 is a trusted proxy: request.ip would be the forwarded 127.0.0.1.
    expectRefused(await metrics(t.app, { remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '127.0.0.1' } }), 403);
    expectRefused(await metrics(t.app, { remoteAddress: '203.0.113.7', headers: { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' } }), 403);
  });

  it('refuses a request a proxy on the same host relayed', async () => {
    expectRefused(await metrics(t.app, { remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.7' } }), 403);
    expectRefused(await metrics(t.app, { remoteAddress: '127.0.0.1', headers: { forwarded: 'for=203.0.113.7' } }), 403);
    expectRefused(await metrics(t.app, { remoteAddress: '::1', headers: { 'x-real-ip': '203.0.113.7' } }), 403);
  });
});

describe('with METRICS_TOKEN', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await appWith({ METRICS_TOKEN: TOKEN });
  }, 60_000);

  it('requires the bearer token, from loopback too: 401 with a Bearer challenge', async () => {
    for (const authorization of [
      undefined,
      'Bearer wrong-token-wrong-token',
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      TOKEN,
      `Bearer`,
    ]) {
      const res = await metrics(app, { remoteAddress: '127.0.0.1', headers: authorization ? { authorization } : {} });
      expectRefused(res, 401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="metrics"/);
      expect(res.body).not.toContain(TOKEN);
    }
  });

  it('serves the metrics with the token, from any peer', async () => {
    for (const [remoteAddress, authorization] of [
      ['203.0.113.7', `Bearer ${TOKEN}`],
      ['127.0.0.1', `bearer ${TOKEN}`],
    ] as const) {
      const res = await metrics(app, { remoteAddress, headers: { authorization } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).toContain('http_requests_total');
    }
  });
});

describe('with METRICS_LISTEN', () => {
  it('serves the metrics on that address only; the API port answers 404', async () => {
    const app = await appWith({ METRICS_LISTEN: '127.0.0.1:0' });
    expectRefused(await metrics(app, { remoteAddress: '127.0.0.1' }), 404);
    const server = await listenMetrics(app);
    try {
      const base = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toContain('http_requests_total');
      expect((await fetch(`${base}/`)).status).toBe(404);
      expect((await fetch(`${base}/api/v3/health/liveness`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await closeMetrics(server);
    }
  });

  it('with METRICS_TOKEN as well, the separate listener requires the token', async () => {
    const app = await appWith({ METRICS_LISTEN: '127.0.0.1:0', METRICS_TOKEN: TOKEN });
    const server = await listenMetrics(app);
    try {
      const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/metrics`;
      const none = await fetch(url);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await fetch(url, { headers: { authorization: 'Bearer nope-nope-nope-nope' } })).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('http_requests_total');
    } finally {
      await closeMetrics(server);
    }
  });

  it('the server process listens on METRICS_LISTEN and not on the API port', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const dataDir = mkdtempSync(path.join(tmpdir(), 'iam-metrics-'));
    let out = '';
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: {
        ...process.env,
        DATA_DIR: dataDir,
        DATABASE_URL: '',
        MASTER_KEY: randomBytes(32).toString('hex'),
        PORT: String(port),
        METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    try {
      const started = Date.now();
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`server exited: ${out}`);
        if (
          await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break;
        if (Date.now() - started > 60_000) throw new Error(`metrics not listening within 60 s: ${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await fetch(`http://127.0.0.1:${port}/api/v3/health/liveness`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
      expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).toContain('http_requests_total');
    } finally {
      proc.kill('SIGTERM');
      if (proc.exitCode === null) await new Promise((resolve) => proc.once('exit', resolve));
      rmSync(dataDir, { recursive: true, force: true });
    }
    expect(proc.exitCode).toBe(0);
  }, 90_000);
});

describe('configuration', () => {
  it('validates METRICS_TOKEN and METRICS_LISTEN, never echoing the token', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'short-secret' })).toThrow(/^Invalid configuration: METRICS_TOKEN: .*<redacted>/);
    expect(() => loadConfig({ METRICS_TOKEN: 'has a space in it, too long' })).toThrow(/METRICS_TOKEN/);
    for (const bad of ['9464', 'localhost', ':9464', '127.0.0.1:99999', '::1:9464', '[nope]:9464', 'http://127.0.0.1:9464']) {
      expect(() => loadConfig({ METRICS_LISTEN: bad }), bad).toThrow(/^Invalid configuration: METRICS_LISTEN: must be host:port/);
    }
    expect(loadConfig({ METRICS_LISTEN: '0.0.0.0:9464' }).METRICS_LISTEN).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(loadConfig({ METRICS_LISTEN: '[::1]:9464' }).METRICS_LISTEN).toEqual({ host: '::1', port: 9464 });
    expect(loadConfig({ METRICS_LISTEN: 'metrics.internal:9464' }).METRICS_LISTEN).toEqual({ host: 'metrics.internal', port: 9464 });
    expect(loadConfig({}).METRICS_TOKEN).toBeUndefined();
  });
});

describe('operator metrics', () => {
  const OPERATOR_METRICS = [
    'iam_logins_total',
    'iam_login_failures_total',
    'iam_lockouts_total',
    'iam_logouts_total',
    'iam_tokens_issued_total',
    'iam_cache_hits_total',
    'iam_cache_misses_total',
    'iam_cache_evictions_total',
    'iam_invalidation_notifications_total',
    'iam_invalidation_listener_lost_total',
    'iam_invalidation_listening',
    'iam_invalidation_lag_seconds',
    'iam_ocsp_responses_total',
    'iam_db_query_duration_seconds',
  ];
  const scrape = async () => (await metrics(t.app, { remoteAddress: '127.0.0.1' })).body;
  /** The value of one series (`name{labels}`), 0 when absent. */
  const value = (body: string, series: string) =>
    Number(
      body
        .split('\n')
        .find((l) => l.startsWith(`${series} `))
        ?.split(' ')[1] ?? 0,
    );

  it('are exposed under the names the README documents', async () => {
    const body = await scrape();
    for (const name of OPERATOR_METRICS) expect(body, name).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
    expect(value(body, 'iam_invalidation_listening')).toBe(1);
  });

  it('count logins by method, failures by reason, lockouts, validate-cache hits and misses, OCSP answers', async () => {
    const tenant = await createTenant(t, 'Metrics', 'metrics');
    await t.db.prisma.tenant.update({ where: { id: tenant }, data: { lockoutMaxAttempts: 2 } });
    await seedUser(t, tenant, { email: 'mia@metrics.test', password: 'Correct-Horse-42' });
    const { pat } = await seedServiceAccountPat(t, tenant, ['tenant-user']);
    const before = await scrape();

    const login = async (password: string) => {
      const page = await t.app.inject({ method: 'GET', url: '/ui/login', headers: { host: 'metrics.iam.test' } });
      const csrf = page.cookies.find((c) => c.name === 'iam_csrf')!.value;
      return t.app.inject({
        method: 'POST',
        url: '/ui/login/password',
        headers: { host: 'metrics.iam.test', cookie: `iam_csrf=${csrf}`, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ csrf: formField(page.body, 'csrf')!, email: 'mia@metrics.test', password }).toString(),
      });
    };
    expect((await login('Correct-Horse-42')).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) expect((await login('wrong-horse-1')).statusCode).toBe(401);
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: { authorization: `Bearer ${pat}` } });
      expect(res.statusCode).toBe(200);
    }
    const ocsp = await t.app.inject({
      method: 'POST',
      url: '/api/v3/certs/ocsp',
      headers: { 'content-type': 'application/ocsp-request' },
      payload: Buffer.from('junk'),
    });
    expect(ocsp.statusCode).toBe(200);

    const after = await scrape();
    const grew = (series: string) => value(after, series) - value(before, series);
    expect(grew('iam_logins_total{method="pwd"}')).toBe(1);
    expect(grew('iam_login_failures_total{method="pwd",reason="bad_credentials"}')).toBe(2);
    expect(grew('iam_lockouts_total')).toBe(1);
    expect(grew('iam_cache_misses_total{cache="credentials"}')).toBeGreaterThanOrEqual(1);
    expect(grew('iam_cache_hits_total{cache="credentials"}')).toBeGreaterThanOrEqual(2);
    expect(grew('iam_ocsp_responses_total{status="malformed"}')).toBe(1);
    // The logins and the cache miss read the database; the cache hits did not.
    expect(grew('iam_db_query_duration_seconds_count{outcome="ok"}')).toBeGreaterThanOrEqual(4);
  });
});
