// Strict security headers on every response of every route (the route table, so later
// routes are covered), on successes and errors alike, including errors raised before
// any route runs (unknown path, malformed URL, unsupported media type).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestApp, type TestApp } from './helpers/app.js';

let https: TestApp;
let http: TestApp;
beforeAll(async () => {
  https = await startTestApp({ PUBLIC_URL: 'https://auth.iam.test' });
  http = await startTestApp();
});
afterAll(async () => {
  await https?.close();
  await http?.close();
});

function check(headers: Record<string, unknown>, where: string, hsts: boolean): string[] {
  const problems: string[] = [];
  const h = (n: string) => (headers[n] === undefined ? undefined : String(headers[n]));
  if (h('x-content-type-options') !== 'nosniff') problems.push(`${where}: x-content-type-options ${h('x-content-type-options')}`);
  if (!/^(DENY|SAMEORIGIN)$/.test(h('x-frame-options') ?? '')) problems.push(`${where}: x-frame-options ${h('x-frame-options')}`);
  const csp = h('content-security-policy') ?? '';
  if (!/frame-ancestors/.test(csp) || !/default-src/.test(csp)) problems.push(`${where}: content-security-policy "${csp}"`);
  if (!h('referrer-policy')) problems.push(`${where}: no referrer-policy`);
  if (h('x-powered-by') !== undefined) problems.push(`${where}: x-powered-by ${h('x-powered-by')}`);
  if (h('server') !== undefined) problems.push(`${where}: server ${h('server')}`);
  const sts = h('strict-transport-security');
  if (hsts && !/max-age=\d{7,}/.test(sts ?? '')) problems.push(`${where}: strict-transport-security "${sts}"`);
  if (!hsts && sts !== undefined) problems.push(`${where}: HSTS sent over a plain-HTTP deployment`);
  return problems;
}

const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, '00000000-0000-7000-8000-000000000000');

describe('security headers', () => {
  it('are on every response of every route (HSTS with an https PUBLIC_URL)', async () => {
    const routes = https.app.routeTable.filter((r) => r.url.startsWith('/api/'));
    expect(routes.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const r of routes) {
      const body = r.method === 'GET' || r.method === 'DELETE' ? undefined : { data: {} };
      for (const token of [undefined, https.adminPat]) {
        const res = await call(https.app, token, r.method as never, concrete(r.url), body);
        problems.push(...check(res.headers, `${r.method} ${r.url} (${res.statusCode})`, true));
      }
    }
    const extra: [string, string, Record<string, string>?, string?][] = [
      ['GET', '/openapi.json'],
      ['GET', '/docs'],
      ['GET', '/metrics'],
      ['GET', '/no/such/route'],
      ['GET', '/api/v3/tenants/%E0%A4%A'],
      ['POST', '/api/v3/tenants', { 'content-type': 'text/plain' }, 'x'],
      ['POST', '/api/v3/tenants', { 'content-type': 'application/json' }, '{"a":'],
    ];
    for (const [method, url, headers, payload] of extra) {
      const res = await https.app.inject({ method: method as never, url, headers: { authorization: `Bearer ${https.adminPat}`, ...headers }, payload });
      problems.push(...check(res.headers, `${method} ${url} (${res.statusCode})`, true));
    }
    expect(problems).toEqual([]);
  });

  it('leave HSTS out when PUBLIC_URL is plain http, and keep the rest', async () => {
    const problems: string[] = [];
    for (const url of ['/api/v3/health/liveness', '/api/v3/tenants', '/no/such/route']) {
      const res = await http.app.inject({ method: 'GET', url });
      problems.push(...check(res.headers, `GET ${url} (${res.statusCode})`, false));
    }
    expect(problems).toEqual([]);
  });
});
