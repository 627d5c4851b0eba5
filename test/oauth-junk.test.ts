// Malformed input to the OAuth endpoints and login pages: always a 4xx (or a 200 where the
// standard says so), never a 500, and nothing changes.
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, snapshot, startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await createTenant(t, 'Tenant A', 'alpha');
}, 60_000);
afterAll(() => t?.close());

const form = { 'content-type': 'application/x-www-form-urlencoded' };

describe('junk input', () => {
  it('never produces a 500', async () => {
    const app = await t.db.prisma.application.findFirstOrThrow({ where: { name: 'AnalyticsUI', tenant: { name: 'Tenant A' } } });
    const requests: InjectOptions[] = [
      { method: 'GET', url: '/oauth/v2/authorize' },
      { method: 'GET', url: `/oauth/v2/authorize?client_id=${app.clientId}&client_id=x` },
      {
        method: 'GET',
        url: `/oauth/v2/authorize?client_id=${app.clientId}&redirect_uri=${encodeURIComponent(app.redirectUris[0]!)}&response_type=code&code_challenge_method=S256&code_challenge=short`,
      },
      { method: 'GET', url: `/oauth/v2/authorize?client_id=${app.clientId}&redirect_uri=${encodeURIComponent(app.redirectUris[0]!)}&response_type=token` },
      {
        method: 'GET',
        url: `/oauth/v2/authorize?client_id=${app.clientId}&redirect_uri=${encodeURIComponent(app.redirectUris[0]!)}&response_type=code&max_age=-1&code_challenge_method=S256&code_challenge=${'a'.repeat(43)}`,
      },
      { method: 'GET', url: `/oauth/v2/authorize?client_id=${'x'.repeat(3000)}` },
      { method: 'POST', url: '/oauth/v2/token', headers: form, payload: '' },
      { method: 'POST', url: '/oauth/v2/token', headers: form, payload: 'grant_type=password&username=a&password=b' },
      { method: 'POST', url: '/oauth/v2/token', headers: form, payload: `grant_type=authorization_code&client_id=${app.clientId}&code=x&redirect_uri=y` },
      { method: 'POST', url: '/oauth/v2/token', headers: form, payload: `grant_type=authorization_code&grant_type=refresh_token&client_id=${app.clientId}` },
      { method: 'POST', url: '/oauth/v2/token', headers: form, payload: `grant_type=refresh_token&client_id=${app.clientId}&refresh_token=pcart_nope` },
      { method: 'POST', url: '/oauth/v2/token', headers: { ...form, authorization: 'Basic !!!' }, payload: 'grant_type=client_credentials' },
      {
        method: 'POST',
        url: '/oauth/v2/token',
        headers: { ...form, authorization: 'Basic ' + Buffer.from('no-colon').toString('base64') },
        payload: 'grant_type=client_credentials',
      },
      {
        method: 'POST',
        url: '/oauth/v2/token',
        headers: { ...form, authorization: 'Basic ' + Buffer.from('%E0%A4%A:x').toString('base64') },
        payload: 'grant_type=client_credentials',
      },
      { method: 'POST', url: '/oauth/v2/token', headers: { 'content-type': 'application/json' }, payload: '{"grant_type":"client_credentials"}' },
      { method: 'POST', url: '/oauth/v2/introspect', headers: form, payload: 'token=x' },
      { method: 'POST', url: '/oauth/v2/revoke', headers: form, payload: `client_id=${app.clientId}&token=a.b.c` },
      { method: 'POST', url: '/oauth/v2/revoke', headers: form, payload: `client_id=${app.clientId}` },
      { method: 'GET', url: '/oidc/v1/userinfo', headers: { authorization: 'Bearer a.b.c' } },
      { method: 'GET', url: '/oidc/v1/userinfo', headers: { authorization: 'Bearer pcaat_x' } },
      { method: 'GET', url: '/oidc/v1/end_session?id_token_hint=garbage&post_logout_redirect_uri=https://evil.example/' },
      { method: 'GET', url: '/oidc/v1/end_session?client_id=nope&post_logout_redirect_uri=https://evil.example/' },
      { method: 'GET', url: '/ui/login?r=v1.AAAA' },
      { method: 'GET', url: '/ui/login?r=a&r=b' },
      { method: 'POST', url: '/ui/login', headers: form, payload: 'csrf=x&email=a' },
      { method: 'POST', url: '/ui/login', headers: { 'content-type': 'application/json' }, payload: '{}' },
      { method: 'POST', url: '/ui/login/password', headers: form, payload: 'email=a&password=b' },
      { method: 'POST', url: '/ui/login/terms', headers: form, payload: 'pending=v1.x&accept=yes' },
      { method: 'GET', url: '/api/v3/session/validate', headers: { cookie: 'iam_session=%%%' } },
      { method: 'GET', url: '/api/v3/session/validate-token', headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' } },
      { method: 'GET', url: '/api/v3/session/validate-token', headers: { authorization: 'Basic abc' } },
    ];
    const before = await snapshot(t.db);
    for (const r of requests) {
      const res = await t.app.inject(r);
      expect(res.statusCode, `${r.method} ${r.url} ${String(r.payload ?? '')}`).toBeLessThan(500);
      expect([200, 302, 400, 401, 403, 404, 415]).toContain(res.statusCode);
    }
    // Keys may be created on first use; nothing else may change.
    const after = await snapshot(t.db);
    delete (after as Record<string, string>).SigningKey;
    delete (before as Record<string, string>).SigningKey;
    expect(after).toEqual(before);
  });
});
