// The authorization server driven by a real relying party (openid-client), the hosted login over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { bearer, call, createTenant, seedServiceAccountPat, snapshot, type TestApp } from './helpers/app.js';
import { Browser, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';
import { createSession } from '../src/http/session-cookie.js';

let t: TestApp & { issuer: string };
let tenantA: string;
let tenantB: string;
let analyticsUi: { clientId: string; redirect: string };
const PASSWORD = 'Correct-Horse-42';
const SCOPE = 'openid profile email offline_access urn:zitadel:iam:org:projects:roles urn:zitadel:iam:org:project:id:zitadel:aud urn:zitadel:iam:user:metadata';

async function rp(clientId: string, auth = client.None()) {
  return client.discovery(new URL(t.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

async function startFlow(config: client.Configuration, redirect: string, extra: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { verifier, state, nonce, url: url.toString() };
}

async function fullLogin(email: string, password = PASSWORD) {
  const config = await rp(analyticsUi.clientId);
  const flow = await startFlow(config, analyticsUi.redirect);
  const browser = new Browser(t.issuer);
  const res = await loginThrough(browser, flow.url, email, password);
  return { config, flow, browser, res };
}

beforeAll(async () => {
  t = await startListeningApp();
  tenantA = await createTenant(t, 'Tenant A', 'alpha');
  tenantB = await createTenant(t, 'Tenant B', 'bravo');
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: tenantA, name: 'AnalyticsUI' } });
  analyticsUi = { clientId: app.clientId, redirect: app.redirectUris[0]! };
  await seedUser(t, tenantA, { email: 'alice@alpha.test', password: PASSWORD, roles: ['tenant-admin'] });
  await seedUser(t, tenantB, { email: 'bob@bravo.test', password: PASSWORD, roles: ['tenant-admin'] });
}, 60_000);
afterAll(() => t?.close());

describe('discovery and keys', () => {
  it('publishes discovery and a JWKS of RS256 and ES256 keys', async () => {
    const config = await rp(analyticsUi.clientId);
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(t.issuer);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    const jwks = await (await fetch(`${t.issuer}/oauth/v2/keys`)).json();
    const algs = jwks.keys.map((k: { alg: string }) => k.alg).sort();
    expect(algs).toEqual(['ES256', 'ES256', 'RS256', 'RS256']);
    for (const k of jwks.keys) expect(k.d).toBeUndefined();
  });

  it('stores private keys encrypted, never in clear', async () => {
    const rows = await t.db.prisma.signingKey.findMany();
    for (const r of rows) {
      expect(r.privateKey.startsWith('v1.')).toBe(true);
      expect(r.privateKey).not.toContain('PRIVATE KEY');
    }
  });

  it("gives every tenant a public AnalyticsUI application with its frontend's /login redirect", async () => {
    expect(analyticsUi.redirect).toBe('https://alpha.iam.test/login');
    const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: tenantA, name: 'AnalyticsUI' } });
    expect(app).toMatchObject({ clientType: 'public', tokenEndpointAuthMethod: 'none', isManaged: true, clientSecretHash: null });
    expect(await t.db.prisma.application.count({ where: { tenantId: t.operatorTenantId, name: 'AnalyticsUI' } })).toBe(1);
  });
});

describe('authorization code flow with PKCE', () => {
  it('logs in through the hosted pages, exchanges the code and calls /api/v3 with the token', async () => {
    const { config, flow, res, browser } = await fullLogin('alice@alpha.test');
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(analyticsUi.redirect);
    expect(location.searchParams.get('state')).toBe(flow.state);
    expect(location.searchParams.get('iss')).toBe(t.issuer);
    const cookie = [...browser.cookies.keys()];
    expect(cookie).toContain('iam_session');

    const tokens = await client.authorizationCodeGrant(config, location, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
    const id = tokens.claims()!;
    expect(id.nonce).toBe(flow.nonce);
    expect(id.amr).toEqual(['pwd']);
    expect(typeof id.auth_time).toBe('number');
    expect(typeof id.sid).toBe('string');
    expect(id.email).toBe('alice@alpha.test');
    expect(id['urn:zitadel:iam:org:project:roles']).toEqual({ 'tenant-admin': { [tenantA]: tenantA } });
    expect(tokens.refresh_token).toMatch(/^pcart_/);

    const header = decodeProtectedHeader(tokens.access_token);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    expect(header.kid).toBeTruthy();
    const at = decodeJwt(tokens.access_token);
    expect(at).toMatchObject({ iss: t.issuer, sub: id.sub, client_id: analyticsUi.clientId, tenant_id: tenantA });
    expect(at.jti).toBeTruthy();
    expect(at['urn:zitadel:iam:org:project:roles']).toEqual({ 'tenant-admin': { [tenantA]: tenantA } });

    const apps = await call(t.app, tokens.access_token, 'GET', '/api/v3/applications');
    expect(apps.statusCode).toBe(200);
    expect(apps.json().data.map((a: { attributes: { name: string } }) => a.attributes.name)).toContain('AnalyticsUI');

    const info = await client.fetchUserInfo(config, tokens.access_token, id.sub);
    expect(info).toMatchObject({ sub: id.sub, email: 'alice@alpha.test', preferred_username: 'alice' });

    // The session cookie now authenticates the validate route, with the identity headers.
    const v = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: browser.cookieHeader() } });
    expect(v.statusCode).toBe(200);
    expect(v.headers['x-forwarded-user-id']).toBe(id.sub);
    expect(v.headers['x-forwarded-user-username']).toBe('alice');
    expect(v.headers['x-forwarded-user-roles']).toBe('tenant-admin');
    expect(v.headers['x-forwarded-tenant-id']).toBe(tenantA);
    const vt = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(tokens.access_token) });
    expect(vt.statusCode).toBe(200);
    expect(vt.headers['x-forwarded-user-id']).toBe(id.sub);

    // A second authorization in the same browser skips the login (SSO), prompt=none works, prompt=login asks again.
    const again = await startFlow(config, analyticsUi.redirect, { prompt: 'none' });
    const sso = await browser.get(again.url);
    expect(sso.status).toBe(302);
    expect(new URL(sso.headers.get('location')!).searchParams.get('code')).toBeTruthy();
    const forced = await startFlow(config, analyticsUi.redirect, { prompt: 'login' });
    expect((await browser.get(forced.url)).headers.get('location')).toMatch(/^\/ui\/login\?r=/);
    const anonymous = await new Browser(t.issuer).get((await startFlow(config, analyticsUi.redirect, { prompt: 'none' })).url);
    expect(new URL(anonymous.headers.get('location')!).searchParams.get('error')).toBe('login_required');
  });

  it('issues opaque access tokens and ES256 ID tokens to an application configured so, and honours max_age', async () => {
    const admin = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
    const created = await call(t.app, admin, 'POST', '/api/v3/applications', {
      data: {
        attributes: { name: 'Opaque SPA', clientType: 'public', redirectUris: ['https://spa.alpha.test/cb'], accessTokenType: 'opaque', signingAlg: 'ES256' },
      },
    });
    expect(created.statusCode).toBe(201);
    const clientId = created.json().data.attributes.clientId;
    const config = await client.discovery(new URL(t.issuer), clientId, { id_token_signed_response_alg: 'ES256' }, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    const flow = await startFlow(config, 'https://spa.alpha.test/cb');
    const browser = new Browser(t.issuer);
    const res = await loginThrough(browser, flow.url, 'alice@alpha.test', PASSWORD);
    expect(res.status).toBe(303);
    const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location')!), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    expect(tokens.access_token).toMatch(/^pcaat_/);
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('ES256');
    expect((await call(t.app, tokens.access_token, 'GET', '/api/v3/applications')).statusCode).toBe(200);
    expect((await client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).email).toBe('alice@alpha.test');

    // max_age=0: the session is too old by definition, so the user signs in again.
    const again = await startFlow(config, 'https://spa.alpha.test/cb', { max_age: '0' });
    expect((await browser.get(again.url)).headers.get('location')).toMatch(/^\/ui\/login\?r=/);
    const fresh = await startFlow(config, 'https://spa.alpha.test/cb', { max_age: '3600' });
    expect(new URL((await browser.get(fresh.url)).headers.get('location')!).searchParams.get('code')).toBeTruthy();
  });

  it('rotates refresh tokens, and a reused refresh token revokes the whole family', async () => {
    const { config, flow, res } = await fullLogin('alice@alpha.test');
    const first = await client.authorizationCodeGrant(config, new URL(res.headers.get('location')!), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    const second = await client.refreshTokenGrant(config, first.refresh_token!);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.claims()!.sub).toBe(first.claims()!.sub);
    expect((await call(t.app, second.access_token, 'GET', '/api/v3/applications')).statusCode).toBe(200);

    await expect(client.refreshTokenGrant(config, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(config, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await call(t.app, second.access_token, 'GET', '/api/v3/applications')).statusCode).toBe(401);
    const vt = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(second.access_token) });
    expect(vt.statusCode).toBe(403);
  });

  it('refuses a wrong code verifier, and the code cannot be used afterwards', async () => {
    const { config, flow, res } = await fullLogin('alice@alpha.test');
    const location = new URL(res.headers.get('location')!);
    await expect(
      client.authorizationCodeGrant(config, location, {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: flow.state,
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(
      client.authorizationCodeGrant(config, location, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a replayed code and revokes what the first redemption issued', async () => {
    const { config, flow, res } = await fullLogin('alice@alpha.test');
    const location = new URL(res.headers.get('location')!);
    const tokens = await client.authorizationCodeGrant(config, location, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    expect((await call(t.app, tokens.access_token, 'GET', '/api/v3/applications')).statusCode).toBe(200);
    await expect(
      client.authorizationCodeGrant(config, location, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await call(t.app, tokens.access_token, 'GET', '/api/v3/applications')).statusCode).toBe(401);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a code redeemed by another client', async () => {
    const { flow, res } = await fullLogin('alice@alpha.test');
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const other = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: tenantB, name: 'AnalyticsUI' } });
    const r = await fetch(`${t.issuer}/oauth/v2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: other.clientId,
        code,
        redirect_uri: analyticsUi.redirect,
        code_verifier: flow.verifier,
      }),
    });
    expect(r.status).toBe(400);
    expect((await r.json()).error).toBe('invalid_grant');
  });

  it('refuses an expired code', async () => {
    const { config, flow, res } = await fullLogin('alice@alpha.test');
    const location = new URL(res.headers.get('location')!);
    await t.db.prisma.authorizationCode.updateMany({ where: { usedAt: null }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await expect(
      client.authorizationCodeGrant(config, location, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses plain PKCE and a missing challenge for a public client, by redirecting an error', async () => {
    const base = `/oauth/v2/authorize?client_id=${analyticsUi.clientId}&redirect_uri=${encodeURIComponent(analyticsUi.redirect)}&response_type=code&scope=openid&state=s1`;
    const plain = await t.app.inject({ method: 'GET', url: `${base}&code_challenge=${'a'.repeat(43)}&code_challenge_method=plain` });
    expect(plain.statusCode).toBe(302);
    const loc = new URL(plain.headers.location as string);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('state')).toBe('s1');
    const none = await t.app.inject({ method: 'GET', url: base });
    expect(new URL(none.headers.location as string).searchParams.get('error')).toBe('invalid_request');
  });

  it('never redirects to an unregistered redirect URI, nor for an unknown client', async () => {
    const evil = await t.app.inject({
      method: 'GET',
      url: `/oauth/v2/authorize?client_id=${analyticsUi.clientId}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}&response_type=code&scope=openid&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`,
    });
    expect(evil.statusCode).toBe(400);
    expect(evil.headers.location).toBeUndefined();
    expect(evil.body).toContain('not registered');
    const prefix = await t.app.inject({
      method: 'GET',
      url: `/oauth/v2/authorize?client_id=${analyticsUi.clientId}&redirect_uri=${encodeURIComponent(analyticsUi.redirect + '/../evil')}&response_type=code`,
    });
    expect(prefix.statusCode).toBe(400);
    expect(prefix.headers.location).toBeUndefined();
    const unknown = await t.app.inject({
      method: 'GET',
      url: `/oauth/v2/authorize?client_id=nope&redirect_uri=${encodeURIComponent(analyticsUi.redirect)}&response_type=code`,
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.headers.location).toBeUndefined();
  });

  it('a token of tenant A is refused against tenant B', async () => {
    const { config, flow, res } = await fullLogin('alice@alpha.test');
    const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location')!), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    const before = await snapshot(t.db);
    const res2 = await call(t.app, tokens.access_token, 'GET', '/api/v3/applications', undefined, { 'x-forwarded-tenant-id': tenantB });
    expect(res2.statusCode).toBe(403);
    const created = await call(
      t.app,
      tokens.access_token,
      'POST',
      '/api/v3/applications',
      { data: { attributes: { name: 'x', clientType: 'public', redirectUris: ['https://x.example/cb'] } } },
      { 'x-forwarded-tenant-id': tenantB },
    );
    expect(created.statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
    // Tenant B's login does not accept tenant A's users.
    const bConfig = await rp((await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: tenantB, name: 'AnalyticsUI' } })).clientId);
    const bFlow = await startFlow(bConfig, 'https://bravo.iam.test/login');
    const refused = await loginThrough(new Browser(t.issuer), bFlow.url, 'alice@alpha.test', PASSWORD);
    expect(refused.status).toBe(401);
  });
});

describe('hosted login', () => {
  it('answers every failure with the same generic message and counts failures toward lockout', async () => {
    await t.db.prisma.tenant.update({ where: { id: tenantA }, data: { lockoutMaxAttempts: 3 } });
    const userId = await seedUser(t, tenantA, { email: 'carol@alpha.test', password: PASSWORD });
    const wrong = await fullLogin('carol@alpha.test', 'wrong-password-1');
    expect(wrong.res.status).toBe(401);
    const wrongText = await wrong.res.text();
    const unknown = await fullLogin('nobody@alpha.test', 'wrong-password-1');
    expect(unknown.res.status).toBe(401);
    const unknownText = await unknown.res.text();
    const msg = (html: string) => /<p class="error"[^>]*>([^<]*)<\/p>/.exec(html)?.[1];
    expect(msg(wrongText)).toBeTruthy();
    expect(msg(unknownText)).toBe(msg(wrongText));
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).failedLogins).toBe(1);

    // A success resets the count.
    expect((await fullLogin('carol@alpha.test')).res.status).toBe(303);
    const after = await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } });
    expect(after.failedLogins).toBe(0);
    expect(after.lastLoginAt).not.toBeNull();

    // A session carol already holds, verified (and so cached) before the lockout...
    const reply = {
      setCookie(_n: string, v: string) {
        (reply as unknown as { value: string }).value = v;
      },
    } as never;
    await createSession(t.db.prisma, reply, t.config, { tenantId: tenantA, userId, amr: ['pwd'] });
    const cookie = `iam_session=${(reply as unknown as { value: string }).value}`;
    const validate = async () => (await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie } })).statusCode;
    expect(await validate()).toBe(200);
    for (let i = 0; i < 3; i++) await fullLogin('carol@alpha.test', 'wrong-password-2');
    // ...is refused as soon as the failed login that locked her has answered.
    expect(await validate()).toBe(403);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).state).toBe('locked');
    const locked = await fullLogin('carol@alpha.test');
    expect(locked.res.status).toBe(401);
    expect(msg(await locked.res.text())).toBe(msg(wrongText));
    await t.db.prisma.tenant.update({ where: { id: tenantA }, data: { lockoutMaxAttempts: 10 } });
  });

  it('refuses a form without its CSRF token and serves pages with a strict CSP', async () => {
    const config = await rp(analyticsUi.clientId);
    const flow = await startFlow(config, analyticsUi.redirect);
    const browser = new Browser(t.issuer);
    const loginUrl = (await browser.get(flow.url)).headers.get('location')!;
    const page = await browser.get(loginUrl);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("form-action 'self' https://alpha.iam.test");
    const html = await page.text();
    expect(html).not.toContain('<script');
    const r = /name="r" value="([^"]+)"/.exec(html)![1]!;
    const forged = await browser.post('/ui/login/password', { r, email: 'alice@alpha.test', password: PASSWORD, csrf: 'forged' });
    expect(forged.status).toBe(403);
    expect(forged.headers.get('location')).toBeNull();
    const noCookie = await new Browser(t.issuer).post('/ui/login/password', {
      r,
      email: 'alice@alpha.test',
      password: PASSWORD,
      csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]!,
    });
    expect(noCookie.status).toBe(403);
  });

  it('asks for the terms when the tenant requires them and records the acceptance', async () => {
    await t.db.prisma.tenant.update({ where: { id: tenantA }, data: { termsRequired: true } });
    const userId = await seedUser(t, tenantA, { email: 'dave@alpha.test', password: PASSWORD });
    const { res, browser } = await fullLogin('dave@alpha.test');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Terms of use');
    const pending = /name="pending" value="([^"]+)"/.exec(html)![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const refused = await browser.post('/ui/login/terms', { pending, csrf });
    expect(refused.status).toBe(400);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).termsAcceptedAt).toBeNull();
    const accepted = await browser.post('/ui/login/terms', { pending, csrf, accept: 'yes' });
    expect(accepted.status).toBe(303);
    expect(new URL(accepted.headers.get('location')!).searchParams.get('code')).toBeTruthy();
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).termsAcceptedAt).not.toBeNull();
    await t.db.prisma.tenant.update({ where: { id: tenantA }, data: { termsRequired: false } });
  });

  it('lets a login redirect hook send the user elsewhere after the email step', async () => {
    const seen: string[] = [];
    t.app.loginRedirectHooks.push(async ({ email, tenantId }) => {
      seen.push(`${tenantId}:${email}`);
      return email.endsWith('@federated.test') ? 'https://idp.federated.test/sso' : undefined;
    });
    try {
      const config = await rp(analyticsUi.clientId);
      const flow = await startFlow(config, analyticsUi.redirect);
      const browser = new Browser(t.issuer);
      const page = await (await browser.get((await browser.get(flow.url)).headers.get('location')!)).text();
      const res = await browser.post('/ui/login', {
        csrf: /name="csrf" value="([^"]+)"/.exec(page)![1]!,
        r: /name="r" value="([^"]+)"/.exec(page)![1]!,
        email: 'erin@federated.test',
      });
      // Another site: a meta-refresh page (a redirect after the POST would break the page's CSP form-action).
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<meta http-equiv="refresh" content="0;url=https://idp.federated.test/sso">');
      expect(seen).toEqual([`${tenantA}:erin@federated.test`]);
    } finally {
      t.app.loginRedirectHooks.pop();
    }
  });

  it('ends the session at end_session and redirects only to a registered post-logout URI', async () => {
    const { config, flow, res, browser } = await fullLogin('alice@alpha.test');
    const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location')!), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    const cookie = browser.cookieHeader();
    const evil = await browser.get(
      client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/' }).toString(),
    );
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();
    const out = await browser.get(
      client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://alpha.iam.test/', state: 'bye' }).toString(),
    );
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe('https://alpha.iam.test/?state=bye');
    const v = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie } });
    expect(v.statusCode).toBe(403);
    expect(v.body).toMatch(/^Forbidden/);
    // Tokens bound to the session end with it.
    expect((await call(t.app, tokens.access_token, 'GET', '/api/v3/applications')).statusCode).toBe(401);
  });
});

describe('client credentials, introspection, revocation', () => {
  async function machineClient(accessTokenType: 'jwt' | 'opaque') {
    const { serviceAccountId } = await seedServiceAccountPat(t, tenantA, ['tenant-admin']);
    const admin = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
    const res = await call(t.app, admin, 'POST', '/api/v3/applications', {
      data: {
        type: 'applications',
        attributes: {
          name: `machine-${accessTokenType}-${serviceAccountId.slice(-6)}`,
          clientType: 'confidential',
          grantTypes: ['client_credentials'],
          serviceAccountId,
          accessTokenType,
        },
      },
    });
    expect(res.statusCode).toBe(201);
    const a = res.json().data.attributes;
    expect(a.clientSecret).toBeTruthy();
    return { clientId: a.clientId as string, secret: a.clientSecret as string, serviceAccountId, id: res.json().data.id as string, admin };
  }

  it.each(['jwt', 'opaque'] as const)('issues %s access tokens the API, introspection and revocation accept', async (kind) => {
    const m = await machineClient(kind);
    const config = await rp(m.clientId, client.ClientSecretBasic(m.secret));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'urn:zitadel:iam:org:projects:roles' });
    if (kind === 'opaque') expect(tokens.access_token).toMatch(/^pcaat_/);
    else expect(decodeJwt(tokens.access_token).sub).toBe(m.serviceAccountId);
    expect((await call(t.app, tokens.access_token, 'GET', '/api/v3/applications')).statusCode).toBe(200);

    const intro = await client.tokenIntrospection(config, tokens.access_token);
    expect(intro).toMatchObject({ active: true, client_id: m.clientId, sub: m.serviceAccountId, tenant_id: tenantA });

    // client_secret_post works too.
    const post = await rp(m.clientId, client.ClientSecretPost(m.secret));
    expect((await client.clientCredentialsGrant(post)).access_token).toBeTruthy();

    await client.tokenRevocation(config, tokens.access_token);
    expect((await client.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    expect((await call(t.app, tokens.access_token, 'GET', '/api/v3/applications')).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(tokens.access_token) })).statusCode).toBe(403);

    // A wrong secret, then a rotated secret.
    const wrong = await rp(m.clientId, client.ClientSecretBasic('x'.repeat(48)));
    // Basic authentication failed: 401 with its WWW-Authenticate challenge (RFC 6749 5.2).
    await expect(client.clientCredentialsGrant(wrong)).rejects.toMatchObject({ status: 401, code: 'OAUTH_WWW_AUTHENTICATE_CHALLENGE' });
    await expect(client.clientCredentialsGrant(await rp(m.clientId, client.ClientSecretPost('x'.repeat(48))))).rejects.toMatchObject({
      error: 'invalid_client',
    });
    const rotated = await call(t.app, m.admin, 'POST', `/api/v3/applications/${m.id}/secret`);
    expect(rotated.statusCode).toBe(200);
    const newSecret = rotated.json().data.attributes.clientSecret;
    await expect(client.clientCredentialsGrant(config)).rejects.toMatchObject({ status: 401 });
    expect((await client.clientCredentialsGrant(await rp(m.clientId, client.ClientSecretBasic(newSecret)))).access_token).toBeTruthy();
  });

  it("refuses introspection without client authentication and hides other tenants' tokens", async () => {
    const m = await machineClient('jwt');
    const config = await rp(m.clientId, client.ClientSecretBasic(m.secret));
    const token = (await client.clientCredentialsGrant(config)).access_token;
    const anon = await fetch(`${t.issuer}/oauth/v2/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${token}`,
    });
    expect(anon.status).toBe(401);
    const pub = await fetch(`${t.issuer}/oauth/v2/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${token}&client_id=${analyticsUi.clientId}`,
    });
    expect(pub.status).toBe(401);

    const saB = await seedServiceAccountPat(t, tenantB, ['tenant-admin']);
    const appB = await call(t.app, saB.pat, 'POST', '/api/v3/applications', {
      data: { attributes: { name: 'b-machine', clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId: saB.serviceAccountId } },
    });
    const b = appB.json().data.attributes;
    const configB = await rp(b.clientId, client.ClientSecretBasic(b.clientSecret));
    expect((await client.tokenIntrospection(configB, token)).active).toBe(false);
    // Tenant B cannot revoke tenant A's token either.
    await client.tokenRevocation(configB, token);
    expect((await client.tokenIntrospection(config, token)).active).toBe(true);
  });
});
