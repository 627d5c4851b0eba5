// The clauses of OIDC Core, RP-Initiated Logout, RFC 6750 and RFC 7523 an outside conformance
// run found missing (issue 18), each checked with a real relying party (openid-client).
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importPKCS8, jwtVerify, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { Browser, formField, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';
import { issueIdToken } from '../src/oauth/tokens.js';

let t: TestApp & { issuer: string };
let tenantA: string;
let spa: { clientId: string; redirect: string };
const PASSWORD = 'Correct-Horse-42';

async function rp(clientId: string, auth = client.None()) {
  return client.discovery(new URL(t.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

/** The parameters of an authorization request with PKCE, as openid-client builds them. */
async function authParams(config: client.Configuration, extra: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: spa.redirect,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { verifier, state, nonce, url, params: Object.fromEntries(url.searchParams) };
}

/** Signs in through the hosted login by GET /authorize and redeems the code. */
async function signIn(email: string) {
  const config = await rp(spa.clientId);
  const flow = await authParams(config);
  const browser = new Browser(t.issuer);
  const res = await loginThrough(browser, flow.url.toString(), email, PASSWORD);
  expect(res.status).toBe(303);
  const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location')!), {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
    expectedNonce: flow.nonce,
  });
  return { config, browser, tokens };
}

beforeAll(async () => {
  t = await startListeningApp();
  tenantA = await createTenant(t, 'Tenant A', 'alpha');
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: tenantA, name: 'AnalyticsUI' } });
  spa = { clientId: app.clientId, redirect: app.redirectUris[0]! };
  await seedUser(t, tenantA, { email: 'alice@alpha.test', password: PASSWORD, roles: ['tenant-admin'] });
  await seedUser(t, tenantA, { email: 'bob@alpha.test', password: PASSWORD });
}, 60_000);
afterAll(() => t?.close());

describe('POST /oauth/v2/authorize (OIDC Core 3.1.2.1)', () => {
  it('takes the request as a form, with the behaviour of GET', async () => {
    const { config, browser } = await signIn('alice@alpha.test');

    // With a session: a code, by 303 so that the browser follows with a GET.
    const flow = await authParams(config);
    const res = await browser.post('/oauth/v2/authorize', flow.params);
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('iss')).toBe(t.issuer);
    const tokens = await client.authorizationCodeGrant(config, location, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    expect(tokens.claims()!.email).toBe('alice@alpha.test');

    // Without one: prompt=none is refused with login_required, otherwise the hosted login resumes the request.
    const anonymous = new Browser(t.issuer);
    const none = await anonymous.post('/oauth/v2/authorize', (await authParams(config, { prompt: 'none' })).params);
    expect(none.status).toBe(303);
    expect(new URL(none.headers.get('location')!).searchParams.get('error')).toBe('login_required');
    const fresh = await authParams(config);
    const toLogin = await anonymous.post('/oauth/v2/authorize', fresh.params);
    expect(toLogin.status).toBe(303);
    expect(toLogin.headers.get('location')).toMatch(/^\/ui\/login\?r=/);
    const emailPage = await (await anonymous.get(toLogin.headers.get('location')!)).text();
    const r = formField(emailPage, 'r')!;
    const step1 = await anonymous.post('/ui/login', { csrf: formField(emailPage, 'csrf')!, r, email: 'bob@alpha.test' });
    const done = await anonymous.post('/ui/login/password', { csrf: formField(await step1.text(), 'csrf')!, r, email: 'bob@alpha.test', password: PASSWORD });
    expect(done.status).toBe(303);
    const bob = await client.authorizationCodeGrant(config, new URL(done.headers.get('location')!), {
      pkceCodeVerifier: fresh.verifier,
      expectedState: fresh.state,
      expectedNonce: fresh.nonce,
    });
    expect(bob.claims()!.email).toBe('bob@alpha.test');
  });

  it('validates the form as GET validates the query, and refuses a body that is not a form', async () => {
    const config = await rp(spa.clientId);
    const { params } = await authParams(config);
    const browser = new Browser(t.issuer);
    const plain = await browser.post('/oauth/v2/authorize', { ...params, code_challenge_method: 'plain' });
    expect(plain.status).toBe(303);
    const error = new URL(plain.headers.get('location')!);
    expect(error.searchParams.get('error')).toBe('invalid_request');
    expect(error.searchParams.get('state')).toBe(params.state);
    const evil = await browser.post('/oauth/v2/authorize', { ...params, redirect_uri: 'https://evil.example/cb' });
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();
    const json = await fetch(`${t.issuer}/oauth/v2/authorize`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    expect(json.status).toBe(400);
    expect(json.headers.get('location')).toBeNull();
  });
});

describe('POST /oidc/v1/end_session (RP-Initiated Logout 1.0 §2)', () => {
  it('ends the session from a form, as GET does', async () => {
    const { config, browser, tokens } = await signIn('alice@alpha.test');
    const cookie = browser.cookieHeader();
    const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://alpha.iam.test/', state: 'bye' });
    const params = Object.fromEntries(url.searchParams);

    const evil = await browser.post('/oidc/v1/end_session', { ...params, post_logout_redirect_uri: 'https://evil.example/' });
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBeNull();
    // The hint is checked as at the authorization endpoint: an access token is no ID token.
    const notIdToken = await browser.post('/oidc/v1/end_session', { ...params, id_token_hint: tokens.access_token });
    expect(notIdToken.status).toBe(400);

    const out = await browser.post('/oidc/v1/end_session', params);
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('https://alpha.iam.test/?state=bye');
    expect(browser.cookies.has('iam_session')).toBe(false);
    const v = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie } });
    expect(v.statusCode).toBe(403);
    const api = await t.app.inject({ method: 'GET', url: '/api/v3/applications', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(api.statusCode).toBe(401);
  });

  it('sends a form without the session cookie (a cross-site POST) on as a GET, which carries it', async () => {
    const { config, browser, tokens } = await signIn('alice@alpha.test');
    const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://alpha.iam.test/', state: 's2' });
    const res = await fetch(`${t.issuer}/oidc/v1/end_session`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: url.searchParams.toString(),
    });
    expect(res.status).toBe(303);
    const next = res.headers.get('location')!;
    expect(Object.fromEntries(new URL(next, t.issuer).searchParams)).toEqual(Object.fromEntries(url.searchParams));
    const out = await browser.get(next);
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe('https://alpha.iam.test/?state=s2');
    expect(browser.cookies.has('iam_session')).toBe(false);

    const json = await fetch(`${t.issuer}/oidc/v1/end_session`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(400);
  });
});

describe('WWW-Authenticate on 401 (RFC 6750 §3)', () => {
  /** The challenge of a protected-resource call as openid-client parses it. */
  async function challengeOf(path: string, token: string) {
    const config = await rp(spa.clientId);
    const err = await client.fetchProtectedResource(config, token, new URL(path, t.issuer), 'GET').then(
      (res) => {
        throw new Error(`expected a challenge, got ${res.status}`);
      },
      (e: unknown) => e as client.WWWAuthenticateChallengeError,
    );
    expect(err).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    expect(err.status).toBe(401);
    return err.cause;
  }

  it('/api/v3 challenges with the realm, and invalid_token for a refused token, keeping the JSON:API body', async () => {
    const none = await fetch(`${t.issuer}/api/v3/applications`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="api"');
    expect((await none.json()).errors[0]).toMatchObject({ status: '401', code: 'unauthorized' });

    expect(await challengeOf('/api/v3/applications', 'not-a-token')).toEqual([{ scheme: 'bearer', parameters: { realm: 'api', error: 'invalid_token' } }]);
    const { tokens } = await signIn('alice@alpha.test');
    const forged = tokens.access_token.slice(0, -4) + (tokens.access_token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(await challengeOf('/api/v3/applications', forged)).toEqual([{ scheme: 'bearer', parameters: { realm: 'api', error: 'invalid_token' } }]);
    const refused = await fetch(`${t.issuer}/api/v3/applications`, { headers: { authorization: `Bearer ${forged}` } });
    expect(refused.headers.get('content-type')).toMatch(/^application\/vnd\.api\+json/);
    expect((await refused.json()).errors[0].status).toBe('401');
  });

  it('the validate routes challenge on 401, and only there', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(await challengeOf('/api/v3/session/validate-token', 'pcaat_unknown')).toEqual([
      { scheme: 'bearer', parameters: { realm: 'api', error: 'invalid_token' } },
    ]);
    const cookie = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate' });
    expect(cookie.statusCode).toBe(401);
    expect(cookie.headers['www-authenticate']).toBe('Bearer realm="api"');
    const { tokens } = await signIn('bob@alpha.test');
    const ok = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['www-authenticate']).toBeUndefined();
  });
});

/** A service account with a key, through the API, and an assertion signed with its key file. */
async function keyFile() {
  const headers = { 'x-forwarded-tenant-id': tenantA };
  const username = `m-${randomUUID().slice(0, 8)}`;
  const sa = await call(t.app, t.adminPat, 'POST', '/api/v3/serviceaccounts?roles=tenant-user', { accessTokenType: 'Jwt', name: username, username }, headers);
  expect(sa.statusCode).toBe(201);
  const key = await call(
    t.app,
    t.adminPat,
    'POST',
    `/api/v3/serviceaccounts/${sa.json().machineUserId}/keys`,
    { expirationDate: '2099-01-01T00:00:00Z' },
    headers,
  );
  expect(key.statusCode).toBe(201);
  return JSON.parse(Buffer.from(key.json().key, 'base64').toString('utf8')) as { keyId: string; key: string; userId: string };
}

async function exchange(file: { keyId: string; key: string; userId: string }, aud: string | string[]) {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: file.keyId })
    .setIssuer(file.userId)
    .setSubject(file.userId)
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .setJti(randomUUID())
    .sign(await importPKCS8(file.key, 'RS256'));
  const res = await fetch(`${t.issuer}/oauth/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
  });
  return { status: res.status, body: (await res.json()) as { access_token?: string; error?: string } };
}

describe('JWT-bearer assertion audience (RFC 7523 §3)', () => {
  it('accepts the issuer and the token endpoint URL as audience, and nothing else', async () => {
    const file = await keyFile();
    const tokenEndpoint = (await rp(spa.clientId)).serverMetadata().token_endpoint!;
    expect(tokenEndpoint).toBe(`${t.issuer}/oauth/v2/token`);
    for (const aud of [t.issuer, tokenEndpoint, ['https://other.example', tokenEndpoint]]) {
      const { status, body } = await exchange(file, aud);
      expect(status, JSON.stringify(aud)).toBe(200);
      expect(body.access_token).toBeTruthy();
    }
    for (const aud of ['https://elsewhere.test', `${t.issuer}/oauth/v2/keys`, `${tokenEndpoint}/`]) {
      const { status, body } = await exchange(file, aud);
      expect(status, aud).toBe(400);
      expect(body.error).toBe('invalid_grant');
    }
  });
});

describe('id_token_hint at the authorization endpoint (OIDC Core 3.1.2.1)', () => {
  const errorOf = (res: Response) => new URL(res.headers.get('location')!).searchParams.get('error');

  it("answers login_required (prompt=none) or asks to sign in again when the hinted user is not the session's", async () => {
    const alice = await signIn('alice@alpha.test');
    const bob = await signIn('bob@alpha.test');
    const aliceHint = alice.tokens.id_token!;

    const none = await authParams(bob.config, { prompt: 'none', id_token_hint: aliceHint });
    const refused = await bob.browser.get(none.url.toString());
    expect(refused.status).toBe(302);
    expect(errorOf(refused)).toBe('login_required');
    expect(new URL(refused.headers.get('location')!).searchParams.get('state')).toBe(none.state);
    const posted = await bob.browser.post('/oauth/v2/authorize', none.params);
    expect(errorOf(posted)).toBe('login_required');

    // Without prompt=none the user signs in again, and whoever signs in gets the code.
    const again = await authParams(bob.config, { id_token_hint: aliceHint });
    const toLogin = await bob.browser.get(again.url.toString());
    expect(toLogin.headers.get('location')).toMatch(/^\/ui\/login\?r=/);
    const relogin = await loginThrough(bob.browser, again.url.toString(), 'alice@alpha.test', PASSWORD);
    expect(relogin.status).toBe(303);
    const tokens = await client.authorizationCodeGrant(bob.config, new URL(relogin.headers.get('location')!), {
      pkceCodeVerifier: again.verifier,
      expectedState: again.state,
      expectedNonce: again.nonce,
    });
    expect(tokens.claims()!.sub).toBe(alice.tokens.claims()!.sub);

    // The hinted user's own session answers prompt=none with a code.
    const own = await authParams(alice.config, { prompt: 'none', id_token_hint: aliceHint });
    const code = await alice.browser.get(own.url.toString());
    expect(new URL(code.headers.get('location')!).searchParams.get('code')).toBeTruthy();
  });

  it('takes an expired hint of ours, and refuses a malformed or foreign-signed one, or an access token, with invalid_request', async () => {
    const alice = await signIn('alice@alpha.test');
    const sub = alice.tokens.claims()!.sub;
    const expired = await issueIdToken(
      t.app.oauth,
      { subjectId: sub, clientId: spa.clientId, claims: {}, lifetime: 60, alg: 'RS256' },
      new Date(Date.now() - 2 * 3600_000),
    );
    const ok = await alice.browser.get((await authParams(alice.config, { prompt: 'none', id_token_hint: expired })).url.toString());
    expect(new URL(ok.headers.get('location')!).searchParams.get('code')).toBeTruthy();

    const { privateKey } = await generateKeyPair('RS256');
    const foreign = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(alice.tokens.id_token!).kid, typ: 'JWT' })
      .setIssuer(t.issuer)
      .setSubject(sub)
      .setAudience(spa.clientId)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    for (const hint of ['garbage', foreign, alice.tokens.access_token]) {
      const flow = await authParams(alice.config, { id_token_hint: hint });
      const res = await alice.browser.get(flow.url.toString());
      expect(res.status).toBe(302);
      expect(errorOf(res)).toBe('invalid_request');
      expect(new URL(res.headers.get('location')!).searchParams.get('state')).toBe(flow.state);
    }
  });
});

describe('the identity-service paths of seed 001', () => {
  it('answer discovery, JWKS, token (Basic; authorization_code, refresh_token, client_credentials) and userinfo', async () => {
    const { pat: admin, serviceAccountId } = await seedServiceAccountPat(t, tenantA, ['tenant-admin']);
    const created = await call(t.app, admin, 'POST', '/api/v3/applications', {
      data: {
        type: 'applications',
        attributes: {
          name: 'Identity-service client',
          clientType: 'confidential',
          redirectUris: ['https://legacy.alpha.test/cb'],
          grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
          serviceAccountId,
        },
      },
    });
    expect(created.statusCode).toBe(201);
    const { clientId, clientSecret } = created.json().data.attributes as { clientId: string; clientSecret: string };

    // Discovery at the alias: the same document, so the issuer stays ours.
    const discovered = await client.discovery(
      new URL(`${t.issuer}/oidc/.well-known/openid-configuration`),
      clientId,
      undefined,
      client.ClientSecretBasic(clientSecret),
      {
        execute: [client.allowInsecureRequests],
      },
    );
    expect(discovered.serverMetadata()).toEqual((await rp(spa.clientId)).serverMetadata());
    expect(discovered.serverMetadata().issuer).toBe(t.issuer);

    // A client that knows only the identity service's paths.
    const legacy = new client.Configuration(
      {
        ...((await (await fetch(`${t.issuer}/oidc/.well-known/openid-configuration`)).json()) as client.ServerMetadata),
        token_endpoint: `${t.issuer}/oidc/oauth2/token`,
        userinfo_endpoint: `${t.issuer}/oidc/userinfo`,
        jwks_uri: `${t.issuer}/oidc/oauth2/jwks`,
      },
      clientId,
      undefined,
      client.ClientSecretBasic(clientSecret),
    );
    client.allowInsecureRequests(legacy);

    const machine = await client.clientCredentialsGrant(legacy);
    const api = await t.app.inject({ method: 'GET', url: '/api/v3/applications', headers: { authorization: `Bearer ${machine.access_token}` } });
    expect(api.statusCode).toBe(200);

    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(legacy, {
      redirect_uri: 'https://legacy.alpha.test/cb',
      scope: 'openid profile email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const res = await loginThrough(new Browser(t.issuer), url.toString(), 'alice@alpha.test', PASSWORD);
    expect(res.status).toBe(303);
    const tokens = await client.authorizationCodeGrant(legacy, new URL(res.headers.get('location')!), { pkceCodeVerifier: verifier, expectedState: state });
    const refreshed = await client.refreshTokenGrant(legacy, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(tokens.claims()!.sub);
    const info = await client.fetchUserInfo(legacy, refreshed.access_token, tokens.claims()!.sub);
    expect(info.email).toBe('alice@alpha.test');
    const posted = await fetch(`${t.issuer}/oidc/userinfo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${refreshed.access_token}` },
    });
    expect((await posted.json()).email).toBe('alice@alpha.test');

    // The alias JWKS is ours, and verifies the ID token.
    const aliasKeys = await (await fetch(`${t.issuer}/oidc/oauth2/jwks`)).json();
    expect(aliasKeys).toEqual(await (await fetch(`${t.issuer}/oauth/v2/keys`)).json());
    const { payload } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${t.issuer}/oidc/oauth2/jwks`)), {
      issuer: t.issuer,
      audience: clientId,
    });
    expect(payload.email).toBe('alice@alpha.test');
  });

  it('take a JWT-bearer assertion addressed to the alias token endpoint', async () => {
    const file = await keyFile();
    const { status } = await exchange(file, `${t.issuer}/oidc/oauth2/token`);
    expect(status).toBe(200);
  });
});

describe('advertised grant types (RFC 8414 §2)', () => {
  it('each one is taken by the token endpoint, and nothing else is', async () => {
    const advertised = (await rp(spa.clientId)).serverMetadata().grant_types_supported!;
    expect(advertised).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange']),
    );
    for (const grant_type of [...advertised, 'password', 'urn:ietf:params:oauth:grant-type:device_code']) {
      const res = await fetch(`${t.issuer}/oauth/v2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type, client_id: spa.clientId }),
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      const { error } = await res.json();
      if (advertised.includes(grant_type)) expect(error, grant_type).not.toBe('unsupported_grant_type');
      else expect(error, grant_type).toBe('unsupported_grant_type');
    }
  });

  it('token exchange (RFC 8693) at the token endpoint of the identity service, with openid-client', async () => {
    const { pat: admin, serviceAccountId } = await seedServiceAccountPat(t, tenantA, ['tenant-admin']);
    const created = await call(t.app, admin, 'POST', '/api/v3/applications', {
      data: {
        type: 'applications',
        attributes: {
          name: 'Exchanging service',
          clientType: 'confidential',
          grantTypes: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
          serviceAccountId,
        },
      },
    });
    expect(created.statusCode).toBe(201);
    const { clientId, clientSecret } = created.json().data.attributes as { clientId: string; clientSecret: string };
    const metadata = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as client.ServerMetadata;
    const service = new client.Configuration(
      { ...metadata, token_endpoint: `${t.issuer}/oidc/oauth2/token` },
      clientId,
      undefined,
      client.ClientSecretBasic(clientSecret),
    );
    client.allowInsecureRequests(service);
    const { tokens } = await signIn('bob@alpha.test');
    const actor = await client.clientCredentialsGrant(service);
    const issued = await client.genericGrantRequest(service, 'urn:ietf:params:oauth:grant-type:token-exchange', {
      subject_token: tokens.access_token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      actor_token: actor.access_token,
      actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'openid',
    });
    expect(issued.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
    expect(decodeJwt(issued.access_token)).toMatchObject({ sub: tokens.claims()!.sub, client_id: clientId, scope: 'openid', act: { sub: serviceAccountId } });
    // Narrowed to openid: userinfo answers for Bob, without the email the original scope allowed.
    const info = await client.fetchUserInfo(service, issued.access_token, tokens.claims()!.sub);
    expect(info).toMatchObject({ sub: tokens.claims()!.sub, tenant_id: tenantA });
    expect(info.email).toBeUndefined();
    expect((await client.fetchUserInfo(service, tokens.access_token, tokens.claims()!.sub)).email).toBe('bob@alpha.test');
  });
});

describe('groups in userinfo and, with the groups scope, in the tokens', () => {
  it('tells group ids and names, and discovery advertises the scope and claims', async () => {
    const { pat: admin } = await seedServiceAccountPat(t, tenantA, ['tenant-admin']);
    const aliceId = (await t.db.prisma.user.findFirstOrThrow({ where: { tenantId: tenantA, email: 'alice@alpha.test' } })).id;
    const groups: { id: string; name: string }[] = [];
    for (const name of ['NOC Engineers', 'Auditors']) {
      const g = await call(t.app, admin, 'POST', '/api/v3/usergroups', { data: { type: 'usergroups', attributes: { name } } });
      expect(g.statusCode).toBe(201);
      const id = g.json().data.id as string;
      expect((await call(t.app, admin, 'POST', `/api/v3/usergroups/${id}/users`, { data: [{ type: 'users', id: aliceId }] })).statusCode).toBeLessThan(300);
      groups.push({ id, name });
    }
    groups.sort((a, b) => a.name.localeCompare(b.name));
    const expected = { group_ids: groups.map((g) => g.id), group_names: groups.map((g) => g.name) };

    const config = await rp(spa.clientId);
    const meta = config.serverMetadata();
    expect(meta.scopes_supported).toContain('groups');
    expect(meta.claims_supported).toEqual(expect.arrayContaining(['group_ids', 'group_names']));

    // Without the scope: userinfo tells the groups (seed 001), the tokens do not.
    const plain = await signIn('alice@alpha.test');
    expect(plain.tokens.claims()!.group_ids).toBeUndefined();
    expect(decodeJwt(plain.tokens.access_token).group_names).toBeUndefined();
    expect(await client.fetchUserInfo(config, plain.tokens.access_token, plain.tokens.claims()!.sub)).toMatchObject(expected);

    // With it: the ID and access tokens tell them too.
    const flow = await authParams(config, { scope: 'openid groups' });
    const res = await loginThrough(new Browser(t.issuer), flow.url.toString(), 'alice@alpha.test', PASSWORD);
    const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location')!), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });
    expect(tokens.scope).toBe('openid groups');
    expect(tokens.claims()).toMatchObject(expected);
    expect(decodeJwt(tokens.access_token)).toMatchObject(expected);
    expect(await client.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).toMatchObject(expected);

    // A user in no group gets empty lists.
    const bob = await signIn('bob@alpha.test');
    expect(await client.fetchUserInfo(config, bob.tokens.access_token, bob.tokens.claims()!.sub)).toMatchObject({ group_ids: [], group_names: [] });
  });
});

describe('private_key_jwt client authentication (RFC 7523 §2.2, OIDC Core 9)', () => {
  it('authenticates a client by an assertion signed with a key of its JWKS, once per jti, and by nothing else', async () => {
    const { pat: admin, serviceAccountId } = await seedServiceAccountPat(t, tenantA, ['tenant-admin']);
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const attributes = {
      name: `Keyed ${randomUUID().slice(0, 6)}`,
      clientType: 'confidential',
      tokenEndpointAuthMethod: 'private_key_jwt',
      grantTypes: ['client_credentials'],
      serviceAccountId,
    };
    const create = (attrs: Record<string, unknown>) =>
      call(t.app, admin, 'POST', '/api/v3/applications', { data: { type: 'applications', attributes: attrs } });
    expect((await create(attributes)).statusCode).toBe(422);
    const withPrivate = await create({ ...attributes, jwks: { keys: [await exportJWK(privateKey)] } });
    expect(withPrivate.statusCode).toBe(400);
    const created = await create({ ...attributes, jwks: { keys: [jwk] } });
    expect(created.statusCode).toBe(201);
    const { clientId, clientSecret, jwks } = created.json().data.attributes;
    expect(jwks).toEqual({ keys: [jwk] });

    const meta = (await rp(spa.clientId)).serverMetadata();
    expect(meta.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
    expect(meta.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256']));

    const keyed = await rp(clientId, client.PrivateKeyJwt({ key: privateKey, kid: 'k1' }));
    const tokens = await client.clientCredentialsGrant(keyed);
    expect(decodeJwt(tokens.access_token).sub).toBe(serviceAccountId);
    expect(await client.tokenIntrospection(keyed, tokens.access_token)).toMatchObject({ active: true, client_id: clientId });

    // The secret a confidential client gets at creation does not stand in for the key.
    await expect(client.clientCredentialsGrant(await rp(clientId, client.ClientSecretBasic(clientSecret)))).rejects.toMatchObject({ status: 401 });
    await expect(client.clientCredentialsGrant(await rp(clientId, client.ClientSecretPost(clientSecret)))).rejects.toMatchObject({
      error: 'invalid_client',
    });
    // Nor does another key.
    const other = await generateKeyPair('ES256');
    await expect(client.clientCredentialsGrant(await rp(clientId, client.PrivateKeyJwt({ key: other.privateKey, kid: 'k1' })))).rejects.toMatchObject({
      error: 'invalid_client',
    });

    const assertion = async (aud: string, jti = randomUUID()) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime('2m')
        .setJti(jti)
        .sign(privateKey);
    const post = async (clientAssertion: string) => {
      const res = await fetch(`${t.issuer}/oauth/v2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: clientAssertion,
        }),
      });
      return { status: res.status, error: ((await res.json()) as { error?: string }).error };
    };
    const once = await assertion(`${t.issuer}/oauth/v2/token`);
    expect(await post(once)).toEqual({ status: 200, error: undefined });
    expect(await post(once)).toEqual({ status: 401, error: 'invalid_client' });
    expect((await post(await assertion(`${t.issuer}/oidc/oauth2/token`))).status).toBe(200);
    expect(await post(await assertion('https://elsewhere.test'))).toEqual({ status: 401, error: 'invalid_client' });
    expect(await post('not-a-jwt')).toEqual({ status: 401, error: 'invalid_client' });
    // One method at a time (RFC 6749 2.3): an assertion with Basic credentials is refused.
    const both = await fetch(`${t.issuer}/oauth/v2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await assertion(t.issuer),
      }),
    });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { error: string }).error).toBe('invalid_request');
    expect(await t.db.prisma.usedClientAssertion.count({ where: { jti: decodeJwt(once).jti } })).toBe(1);
  });
});

describe('every advertised client authentication method and signing algorithm (RFC 8414 §2)', () => {
  it('authenticates at the token, introspection and revocation endpoints with each', async () => {
    const { pat: admin, serviceAccountId } = await seedServiceAccountPat(t, tenantA, ['tenant-admin']);
    const meta = (await rp(spa.clientId)).serverMetadata();
    const create = async (attributes: Record<string, unknown>) => {
      const res = await call(t.app, admin, 'POST', '/api/v3/applications', {
        data: {
          type: 'applications',
          attributes: {
            name: `Every ${randomUUID().slice(0, 8)}`,
            clientType: 'confidential',
            grantTypes: ['client_credentials'],
            serviceAccountId,
            ...attributes,
          },
        },
      });
      expect(res.statusCode).toBe(201);
      return res.json().data.attributes as { clientId: string; clientSecret: string };
    };
    /** A client authentication of openid-client's shape, for the algorithms its helpers do not sign with. */
    const signedBy =
      (alg: string, key: CryptoKey | Uint8Array, kid?: string): client.ClientAuth =>
      async (as, c, body) => {
        body.set('client_id', c.client_id);
        body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        body.set(
          'client_assertion',
          await new SignJWT({})
            .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
            .setIssuer(c.client_id)
            .setSubject(c.client_id)
            .setAudience(as.issuer)
            .setIssuedAt()
            .setExpirationTime('1m')
            .setJti(randomUUID())
            .sign(key),
        );
      };
    const exercise = async (label: string, auth: client.ClientAuth, clientId: string) => {
      const config = await rp(clientId, auth);
      const tokens = await client.clientCredentialsGrant(config);
      expect({ label, sub: decodeJwt(tokens.access_token).sub }).toEqual({ label, sub: serviceAccountId });
      expect({ label, ...(await client.tokenIntrospection(config, tokens.access_token)) }).toMatchObject({ label, active: true, client_id: clientId });
      await client.tokenRevocation(config, tokens.access_token);
      expect({ label, ...(await client.tokenIntrospection(config, tokens.access_token)) }).toMatchObject({ label, active: false });
    };

    const algs = meta.token_endpoint_auth_signing_alg_values_supported!;
    expect(algs).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519', 'HS256', 'HS384', 'HS512']);
    for (const endpoint of ['introspection', 'revocation'] as const) {
      expect(meta[`${endpoint}_endpoint_auth_signing_alg_values_supported`]).toEqual(algs);
    }
    const exercised = new Set<string>();
    for (const alg of algs) {
      if (alg.startsWith('HS')) {
        const { clientId, clientSecret } = await create({ tokenEndpointAuthMethod: 'client_secret_jwt' });
        const auth = alg === 'HS256' ? client.ClientSecretJwt(clientSecret) : signedBy(alg, new TextEncoder().encode(clientSecret));
        await exercise(alg, auth, clientId);
        exercised.add('client_secret_jwt');
      } else {
        const { privateKey, publicKey } = await generateKeyPair(alg === 'Ed25519' ? 'EdDSA' : alg, { extractable: true });
        const { clientId } = await create({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: alg }] } });
        // openid-client names Ed25519 keys by the fully-specified "Ed25519"; "EdDSA" is signed by hand.
        const auth = alg === 'EdDSA' ? signedBy('EdDSA', privateKey, alg) : client.PrivateKeyJwt({ key: privateKey, kid: alg });
        await exercise(alg, auth, clientId);
        exercised.add('private_key_jwt');
      }
    }
    const secretClient = await create({});
    await exercise('client_secret_basic', client.ClientSecretBasic(secretClient.clientSecret), secretClient.clientId);
    await exercise('client_secret_post', client.ClientSecretPost(secretClient.clientSecret), secretClient.clientId);
    exercised.add('client_secret_basic').add('client_secret_post');
    // none: a public client, at the token endpoint (the code flow) and the revocation endpoint.
    const { config, tokens } = await signIn('alice@alpha.test');
    await client.tokenRevocation(config, tokens.access_token);
    exercised.add('none');
    expect([...exercised].sort()).toEqual([...meta.token_endpoint_auth_methods_supported!].sort());
    expect([...exercised].filter((m) => m !== 'none').sort()).toEqual([...meta.introspection_endpoint_auth_methods_supported!].sort());
    expect([...exercised].sort()).toEqual([...meta.revocation_endpoint_auth_methods_supported!].sort());
  });
});
