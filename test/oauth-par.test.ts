// Pushed authorization requests (RFC 9126), driven by a real relying party (openid-client).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { Browser, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';

let t: TestApp & { issuer: string };
let tenantId: string;
let adminPat: string;
let portal: { id: string; clientId: string; secret: string };
let spa: { clientId: string; redirect: string };
const REDIRECT = 'http://127.0.0.1:9/cb';
const PASSWORD = 'Correct-Horse-42';

async function rp(clientId: string, secret?: string) {
  return client.discovery(new URL(t.issuer), clientId, secret, secret ? client.ClientSecretBasic(secret) : client.None(), {
    execute: [client.allowInsecureRequests],
  });
}

async function pkce() {
  const verifier = client.randomPKCECodeVerifier();
  return { verifier, challenge: await client.calculatePKCECodeChallenge(verifier) };
}

/** A raw push, for the requests openid-client would not send. */
function push(form: Record<string, string>, auth?: string) {
  return fetch(`${t.issuer}/oauth/v2/par`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
    body: new URLSearchParams(form).toString(),
  });
}
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const pushedCount = () => t.db.prisma.pushedAuthorizationRequest.count();

beforeAll(async () => {
  t = await startListeningApp();
  tenantId = await createTenant(t, 'Tenant P', 'pushed');
  await seedUser(t, tenantId, { email: 'admin@pushed.test', password: PASSWORD, roles: ['tenant-admin'] });
  adminPat = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  const created = await call(t.app, adminPat, 'POST', '/api/v3/applications', {
    data: { type: 'applications', attributes: { name: 'Portal', clientType: 'confidential', redirectUris: [REDIRECT] } },
  });
  expect(created.statusCode).toBe(201);
  const { id, attributes } = created.json().data;
  portal = { id, clientId: attributes.clientId, secret: attributes.clientSecret };
  const ui = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } });
  spa = { clientId: ui.clientId, redirect: ui.redirectUris[0]! };
}, 60_000);
afterAll(() => t?.close());

describe('pushed authorization requests (RFC 9126)', () => {
  it('is advertised, optional server-wide', async () => {
    const config = await rp(portal.clientId, portal.secret);
    const meta = config.serverMetadata();
    expect(meta.pushed_authorization_request_endpoint).toBe(`${t.issuer}/oauth/v2/par`);
    expect(meta.require_pushed_authorization_requests).toBe(false);
  });

  it('signs in with a pushed request of a confidential client, once', async () => {
    const config = await rp(portal.clientId, portal.secret);
    const { verifier, challenge } = await pkce();
    const state = client.randomState();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT,
      scope: 'openid email',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
    });
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9]{32}$/);
    const browser = new Browser(t.issuer);
    const done = await loginThrough(browser, url.toString(), 'admin@pushed.test', PASSWORD);
    expect(done.status).toBe(303);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.headers.get('location')!), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()!.email).toBe('admin@pushed.test');

    // The request_uri was spent by the first use, even with a session now.
    const again = await browser.get(url.toString());
    expect(again.status).toBe(400);
    expect(again.headers.get('location')).toBeNull();
    expect(await again.text()).toContain('invalid_request_uri');
  });

  it('lets a public client push with its client_id, and answers with the lifetime', async () => {
    const { challenge } = await pkce();
    const res = await push({
      client_id: spa.clientId,
      response_type: 'code',
      redirect_uri: spa.redirect,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
    const body = await res.json();
    expect(body.expires_in).toBe(60);
    const browser = new Browser(t.issuer);
    const start = await browser.get(`/oauth/v2/authorize?client_id=${spa.clientId}&request_uri=${encodeURIComponent(body.request_uri)}`);
    expect(start.status).toBe(302);
    expect(start.headers.get('location')).toMatch(/^\/ui\/login\?r=/);
  });

  it('refuses an expired request_uri, another client using it, and parameters added to it', async () => {
    const config = await rp(portal.clientId, portal.secret);
    const { challenge } = await pkce();
    const pushed = () =>
      client.buildAuthorizationUrlWithPAR(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' });
    const browser = new Browser(t.issuer);

    const url = await pushed();
    const requestUri = url.searchParams.get('request_uri')!;
    const stolen = await browser.get(`/oauth/v2/authorize?client_id=${spa.clientId}&request_uri=${encodeURIComponent(requestUri)}`);
    expect(stolen.status).toBe(400);
    expect(await stolen.text()).toContain('invalid_request_uri');
    const mixed = await browser.get(`${url.toString()}&redirect_uri=${encodeURIComponent(spa.redirect)}`);
    expect(mixed.status).toBe(400);
    expect(await mixed.text()).toContain('redirect_uri cannot be added');
    // Neither spent it: the client that pushed it still can.
    const own = await browser.get(url.toString());
    expect(own.status).toBe(302);
    expect(own.headers.get('location')).toMatch(/^\/ui\/login\?r=/);

    const late = await pushed();
    await t.db.prisma.pushedAuthorizationRequest.updateMany({ where: { applicationId: portal.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const expired = await browser.get(late.toString());
    expect(expired.status).toBe(400);
    expect(await expired.text()).toContain('expired');

    const unknown = await browser.get(`/oauth/v2/authorize?client_id=${portal.clientId}&request_uri=urn:ietf:params:oauth:request_uri:nope`);
    expect(unknown.status).toBe(400);
  });

  it('validates the pushed parameters as the authorization endpoint does, storing nothing on refusal', async () => {
    const { challenge } = await pkce();
    const good = { response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' };
    const auth = basic(portal.clientId, portal.secret);
    const before = await pushedCount();
    const cases: [Record<string, string>, string | undefined, number, string][] = [
      [good, undefined, 401, 'invalid_client'],
      [{ ...good, client_id: portal.clientId }, undefined, 401, 'invalid_client'],
      [good, basic(portal.clientId, 'wrong'), 401, 'invalid_client'],
      [{ ...good, redirect_uri: 'https://evil.example/cb' }, auth, 400, 'invalid_request'],
      [{ ...good, code_challenge_method: 'plain' }, auth, 400, 'invalid_request'],
      [{ ...good, response_type: 'token' }, auth, 400, 'unsupported_response_type'],
      [{ ...good, request_uri: 'urn:ietf:params:oauth:request_uri:x' }, auth, 400, 'invalid_request'],
      [{ ...good, request: 'e30.e30.' }, auth, 400, 'invalid_request_object'],
      [{ ...good, client_id: spa.clientId }, auth, 400, 'invalid_request'],
      [{ ...good, max_age: '-1' }, auth, 400, 'invalid_request'],
    ];
    for (const [form, authorization, status, error] of cases) {
      const res = await push(form, authorization);
      expect({ form, status: res.status }).toEqual({ form, status });
      const body = await res.json();
      expect(body.error).toBe(error);
      expect(JSON.stringify(body)).not.toMatch(/prisma|at \w+ \(|\/src\//i);
    }
    const json = await fetch(`${t.issuer}/oauth/v2/par`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: '{}' });
    expect(json.status).toBe(400);
    expect(await pushedCount()).toBe(before);
  });

  it('makes a plain authorization request fail for an application that requires PAR', async () => {
    const patched = await call(t.app, adminPat, 'PATCH', `/api/v3/applications/${portal.id}`, {
      data: { attributes: { requirePushedAuthorizationRequests: true } },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().data.attributes.requirePushedAuthorizationRequests).toBe(true);
    const config = await rp(portal.clientId, portal.secret);
    const { challenge } = await pkce();
    const params = { redirect_uri: REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256', state: 's1' };
    const browser = new Browser(t.issuer);
    const plain = await browser.get(client.buildAuthorizationUrl(config, params).toString());
    expect(plain.status).toBe(302);
    const error = new URL(plain.headers.get('location')!);
    expect(error.origin + error.pathname).toBe(REDIRECT);
    expect(error.searchParams.get('error')).toBe('invalid_request');
    expect(error.searchParams.get('state')).toBe('s1');
    const pushed = await browser.get((await client.buildAuthorizationUrlWithPAR(config, params)).toString());
    expect(pushed.status).toBe(302);
    expect(pushed.headers.get('location')).toMatch(/^\/ui\/login\?r=/);
  });
});
