// External OpenID Connect IdPs: node-oidc-provider on 127.0.0.1 is the IdP, our server the
// relying party (openid-client). Admin API validation, then whole logins through HTTP
// redirects with a cookie jar per site: authorize -> hosted login (email) -> the IdP ->
// our callback -> code -> tokens.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, call, createTenant, seedServiceAccountPat } from './helpers/app.js';
import { Browser, formField, seedUser, startListeningApp } from './helpers/oauth.js';
import { signInAtIdp, startOidcIdp, type TestOidcIdp } from './helpers/oidc-idp.js';
import { seal, unseal } from '../src/idps/sp-keys.js';

let t: Awaited<ReturnType<typeof startListeningApp>>;
let idp: TestOidcIdp;
let tenantId: string;
let adminPat: string;
let clientId: string;
let idpId: string;
const redirectUri = 'https://acme.iam.test/login';
const OTHER_CLIENT_REDIRECT = 'http://127.0.0.1:9/other-callback';

const tenantHeaders = () => ({ ...bearer(adminPat), 'content-type': 'application/json' });
const postOidc = (body: unknown) => fetch(`${t.issuer}/api/v3/idps/oidc`, { method: 'POST', headers: tenantHeaders(), body: JSON.stringify(body) });

beforeAll(async () => {
  // Ports are known only once both listen: the app first, then the IdP with our callback URL.
  t = await startListeningApp({ OIDC_IDP_ALLOW_CIDRS: '127.0.0.1/32' });
  tenantId = await createTenant(t, 'Acme', 'acme');
  adminPat = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  clientId = (await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } })).clientId;
  // The callback path is fixed by the IdP id, unknown before the IdP is added: register a
  // pattern-free list after adding (oidc-provider reads clients at start), so start it with a
  // placeholder first and restart below.
  idp = await startOidcIdp([{ client_id: 'probe', client_secret: 'probe-secret-0123456789', redirect_uris: ['http://127.0.0.1:9/cb'] }], {});
  const added = await postOidc({ name: 'Acme OIDC', issuer: idp.issuer, clientId: 'iam', clientSecret: 'iam-secret-0123456789', domains: ['corp.test'] });
  expect(added.status, await added.clone().text()).toBe(200);
  idpId = (await added.json()).id;
  const oldIssuer = idp.issuer;
  await idp.close();
  // Same issuer (same port), now with the client our server is.
  const port = new URL(oldIssuer).port;
  idp = await startOidcIdp(
    [
      {
        client_id: 'iam',
        client_secret: 'iam-secret-0123456789',
        // PUBLIC_URL, and the tenant's own host (acme.{BASE_DOMAIN}, here on the same listener).
        redirect_uris: [`${t.issuer}/oidc-idp/${idpId}/callback`, `http://acme.iam.test:${new URL(t.issuer).port}/oidc-idp/${idpId}/callback`],
      },
      { client_id: 'other', client_secret: 'other-secret-0123456789', redirect_uris: [OTHER_CLIENT_REDIRECT] },
    ],
    {
      alice: { email: 'alice@acme.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell' },
      bob: { email: 'bob@corp.test', email_verified: true, given_name: 'Bob', family_name: 'Builder' },
      carol: { email: 'carol@corp.test', email_verified: false },
      dave: { email: 'dave@acme.test', email_verified: true },
      erin: { email: 'erin@acme.test', email_verified: false },
      frank: { email: 'frank@corp.test', email_verified: true },
    },
    Number(port),
  );
  const policy = await call(t.app, adminPat, 'PUT', '/api/v3/tenants/login-policy', {
    data: { type: 'loginPolicy', attributes: { allowDomainDiscovery: true } },
  });
  expect(policy.statusCode, policy.body).toBe(200);
});
afterAll(async () => {
  await idp?.close();
  await t?.close();
});

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/** authorize -> hosted login email step; returns the IdP URL the page links to. */
async function toIdp(browser: Browser, email: string) {
  const { verifier, challenge } = pkce();
  const state = randomBytes(8).toString('hex');
  const authorize = `/oauth/v2/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid profile email', code_challenge: challenge, code_challenge_method: 'S256', state, nonce: 'n1' })}`;
  const start = await browser.get(authorize);
  expect(start.status).toBe(302);
  const emailPage = await (await browser.get(start.headers.get('location')!)).text();
  const step = await browser.post('/ui/login', { csrf: formField(emailPage, 'csrf')!, r: formField(emailPage, 'r')!, email });
  const html = await step.text();
  const idpUrl = [...html.matchAll(/<a href="([^"]+)">/g)].map((m) => m[1]!.replace(/&amp;/g, '&')).find((u) => u.startsWith(idp.issuer));
  return { verifier, state, status: step.status, html, idpUrl };
}

async function redeem(code: string, verifier: string) {
  const res = await fetch(`${t.issuer}/oauth/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { id_token: string; access_token: string };
}

/** The whole login of `login` at the IdP; returns our callback's answer. */
async function fullLogin(email: string, login: string) {
  const browser = new Browser(t.issuer);
  const go = await toIdp(browser, email);
  expect(go.status, go.html).toBe(200);
  expect(go.idpUrl?.startsWith(`${idp.issuer}/auth?`)).toBe(true);
  const callback = await signInAtIdp(idp.browser(), go.idpUrl!, login);
  expect(callback.startsWith(`${t.issuer}/oidc-idp/${idpId}/callback?`)).toBe(true);
  const res = await browser.get(callback);
  return { res, browser, callback, ...go };
}

/** The state cookie of the one login pending in `browser`, its name and opened content. */
function loginStateOf(browser: Browser): [string, Record<string, unknown>] {
  const cookies = [...browser.cookies].filter(([name]) => name.startsWith('iam_oidc'));
  expect(cookies).toHaveLength(1);
  const [name, value] = cookies[0]!;
  return [name, JSON.parse(unseal(t.app.masterKey, decodeURIComponent(value), 'oidc-idp-login-state'))];
}
const sealLoginState = (state: Record<string, unknown>) => encodeURIComponent(seal(t.app.masterKey, JSON.stringify(state), 'oidc-idp-login-state'));

/**
 * A refusal of the callback, as the person sees it: the hosted login's HTML page with the
 * status given, and no JSON:API document, stack or library message in it. Returns its message.
 */
async function refusalPage(res: Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await res.text();
  expect(html).toContain('<link rel="stylesheet" href="/ui/assets/style.css">');
  expect(html).toContain('<h1>Sign-in failed</h1>');
  expect(html).not.toMatch(/"errors"|\.ts:\d+|node_modules|OAUTH_|unexpected JWT|claim value|ECONNREFUSED|prisma/i);
  expect(res.headers.getSetCookie().some((c) => c.startsWith('iam_session='))).toBe(false);
  return /<p>([\s\S]*?)<\/p>/.exec(html)![1]!;
}

/** The newest refused login of the tenant: the same event a refused password login writes, with the IdP's id and no secret. */
async function lastRefusal() {
  const e = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { tenantId, action: 'login.failed' }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
  expect(e.outcome).toBe('failure');
  expect(JSON.stringify(e)).not.toMatch(/secret|code=|verifier|id_token/i);
  return e;
}

async function linkedUser(email: string, username?: string) {
  const userId = await seedUser(t, tenantId, { email, state: 'initial', username });
  const assoc = await call(t.app, adminPat, 'PUT', `/api/v3/users/${userId}/idps`, { data: { ids: [idpId] } });
  expect(assoc.statusCode, assoc.body).toBe(200);
  return userId;
}

describe('admin API', () => {
  it('lists the OIDC IdP beside the others, with its routing and callback URL, never the secret', async () => {
    const list = await call(t.app, adminPat, 'GET', '/api/v3/idps');
    expect(list.statusCode).toBe(200);
    const row = list.json().data.idps.find((i: { id: string }) => i.id === idpId);
    expect(row).toMatchObject({ type: 'IDENTITY_PROVIDER_TYPE_OIDC', entityId: idp.issuer, domains: ['corp.test'], state: 'IDP_STATE_ACTIVE' });
    expect(list.body).not.toContain('iam-secret');
    const stored = await t.db.prisma.identityProvider.findUniqueOrThrow({ where: { id: idpId } });
    expect(stored.clientSecretEnc).not.toContain('iam-secret');
    expect(unseal(t.app.masterKey, stored.clientSecretEnc!, `oidc-client-secret:${tenantId}:${idpId}`)).toBe('iam-secret-0123456789');
  });

  it('refuses an unreachable issuer or one that is not an OIDC issuer with 422, and stores nothing', async () => {
    const before = await t.db.prisma.identityProvider.count({ where: { tenantId } });
    for (const issuer of [`http://127.0.0.1:9/`, `${t.issuer}/api/v3/health/liveness`, 'http://10.1.2.3/']) {
      const res = await postOidc({ name: 'Bad', issuer, clientId: 'x', clientSecret: 'y' });
      expect(res.status, issuer).toBe(422);
      const body = await res.json();
      expect(body.errors[0].source.pointer).toBe('/issuer');
      expect(JSON.stringify(body)).not.toMatch(/at .*\.js|node_modules/);
    }
    expect(await t.db.prisma.identityProvider.count({ where: { tenantId } })).toBe(before);
  });

  it('refuses a domain another active IdP claims (409), and a jitRoles entry the admin may not grant (403)', async () => {
    const clash = await postOidc({ name: 'Clash', issuer: idp.issuer, clientId: 'iam', clientSecret: 'iam-secret-0123456789', domains: ['CORP.test'] });
    expect(clash.status).toBe(409);
    const beyond = await fetch(`${t.issuer}/api/v3/idps/oidc/${idpId}`, {
      method: 'PATCH',
      headers: tenantHeaders(),
      body: JSON.stringify({ jitProvisioning: true, jitRoles: ['skylight-admin'] }),
    });
    expect(beyond.status).toBe(403);
    const unknown = await fetch(`${t.issuer}/api/v3/idps/oidc/${idpId}`, {
      method: 'PATCH',
      headers: tenantHeaders(),
      body: JSON.stringify({ jitRoles: ['no-such-role'] }),
    });
    expect(unknown.status).toBe(422);
    const row = await t.db.prisma.identityProvider.findUniqueOrThrow({ where: { id: idpId } });
    expect(row.jitProvisioning).toBe(false);
    expect(row.jitRoles).toEqual([]);
  });
});

describe('login through the OIDC IdP', () => {
  it('signs a linked user in end to end: the ID token is validated, the subject stored, amr ext', async () => {
    const userId = await linkedUser('alice@acme.test', 'alice');
    const { res, verifier, state } = await fullLogin('alice@acme.test', 'alice');
    expect(res.status, await res.clone().text()).toBe(303);
    const back = new URL(res.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(redirectUri);
    expect(back.searchParams.get('state')).toBe(state);
    const tokens = await redeem(back.searchParams.get('code')!, verifier);
    const claims = decodeJwt(tokens.id_token);
    expect(claims.sub).toBe(userId);
    expect(claims.amr).toEqual(['ext']);
    const user = await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } });
    expect(user.idpSubject).toBe('alice');
    const accepted = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { tenantId, action: 'user.oidc_login_accepted', targetId: userId } });
    expect(accepted).toMatchObject({ actorKind: 'system', outcome: 'success', details: { idpId, subject: 'alice', how: 'linked' } });
    // The next login matches by subject.
    const again = await fullLogin('alice', 'alice');
    expect(again.res.status).toBe(303);
  });

  it('refuses a tampered state, a tampered nonce, and a callback from a browser that did not start the login', async () => {
    await linkedUser('tamper@acme.test');
    idp.accounts.tamper = { email: 'tamper@acme.test', email_verified: true };
    const browser = new Browser(t.issuer);
    const go = await toIdp(browser, 'tamper@acme.test');
    const callback = new URL(await signInAtIdp(idp.browser(), go.idpUrl!, 'tamper'));

    const badState = new URL(callback);
    badState.searchParams.set('state', 'forged');
    const r1 = await browser.get(badState.href);
    expect(await refusalPage(r1, 403)).toMatch(/state/i);
    expect(await lastRefusal()).toMatchObject({ actorId: null, targetId: null, details: { method: 'oidc', reason: 'invalid_answer', idpId } });

    // The right state, another nonce: the ID token's nonce no longer matches.
    const [cookieName, opened] = loginStateOf(browser);
    const forged = new Browser(t.issuer);
    forged.cookies.set(cookieName, sealLoginState({ ...opened, n: 'another-nonce' }));
    const r2 = await forged.get(callback.href);
    expect(await refusalPage(r2, 403)).toMatch(/nonce/i);
    expect(r2.headers.getSetCookie().some((c) => c.startsWith('iam_session='))).toBe(false);

    const stranger = new Browser(t.issuer);
    const r3 = await stranger.get(callback.href);
    expect(await refusalPage(r3, 403)).toMatch(/browser/i);
  });

  it('refuses an ID token issued to another client', async () => {
    await linkedUser('aud@acme.test');
    idp.accounts.aud = { email: 'aud@acme.test', email_verified: true };
    const browser = new Browser(t.issuer);
    const go = await toIdp(browser, 'aud@acme.test');
    const [, opened] = loginStateOf(browser);
    // A genuine ID token of this IdP, with our login's nonce, but for client "other".
    const { verifier, challenge } = pkce();
    const otherUrl = `${idp.issuer}/auth?${new URLSearchParams({ client_id: 'other', redirect_uri: OTHER_CLIENT_REDIRECT, response_type: 'code', scope: 'openid email', code_challenge: challenge, code_challenge_method: 'S256', nonce: String(opened.n), state: 's' })}`;
    const otherBack = new URL(await signInAtIdp(idp.browser(), otherUrl, 'aud'));
    const otherTokens = await (
      await fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from('other:other-secret-0123456789').toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: otherBack.searchParams.get('code')!,
          redirect_uri: OTHER_CLIENT_REDIRECT,
          code_verifier: verifier,
        }).toString(),
      })
    ).json();
    expect(decodeJwt(otherTokens.id_token).aud).toBe('other');
    // The IdP answers our token request with that ID token instead of ours.
    idp.tamper.idToken = otherTokens.id_token;
    try {
      const callback = await signInAtIdp(idp.browser(), go.idpUrl!, 'aud');
      const res = await browser.get(callback);
      expect(await refusalPage(res, 403)).toMatch(/aud/i);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('iam_session='))).toBe(false);
    } finally {
      delete idp.tamper.idToken;
    }
  });
});

describe('domain routing, just-in-time users, auto-linking', () => {
  it('sends an unknown user of a claimed domain to the IdP; without JIT the login is refused as before', async () => {
    const { res } = await fullLogin('frank@corp.test', 'frank');
    expect(await refusalPage(res, 403)).toMatch(/No user of this tenant/);
    expect(await t.db.prisma.user.count({ where: { tenantId, email: 'frank@corp.test' } })).toBe(0);
    const refusal = await lastRefusal();
    expect(refusal).toMatchObject({ actorKind: 'user', actorId: null, details: { method: 'oidc', reason: 'not_associated', idpId } });
    expect(Object.keys(refusal.details as object).sort()).toEqual(['idpId', 'method', 'reason']);
  });

  it('does not route by domain when the login policy does not allow domain discovery', async () => {
    await call(t.app, adminPat, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes: { allowDomainDiscovery: false } } });
    try {
      const go = await toIdp(new Browser(t.issuer), 'someone@corp.test');
      expect(go.idpUrl).toBeUndefined();
      expect(go.html).toContain('name="password"');
    } finally {
      await call(t.app, adminPat, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes: { allowDomainDiscovery: true } } });
    }
  });

  it('creates a user just in time with the default roles, linked to the IdP', async () => {
    const on = await fetch(`${t.issuer}/api/v3/idps/oidc/${idpId}`, {
      method: 'PATCH',
      headers: tenantHeaders(),
      body: JSON.stringify({ jitProvisioning: true, jitRoles: ['tenant-contributor'] }),
    });
    expect(on.status, await on.clone().text()).toBe(200);
    const { res, verifier } = await fullLogin('bob@corp.test', 'bob');
    expect(res.status, await res.clone().text()).toBe(303);
    const user = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId, email: 'bob@corp.test' }, include: { roles: true } });
    expect(user).toMatchObject({ idpId, idpSubject: 'bob', state: 'active', firstName: 'Bob', lastName: 'Builder', passwordHash: null });
    expect(user.roles.map((r) => r.roleName)).toEqual(['tenant-contributor']);
    const tokens = await redeem(new URL(res.headers.get('location')!).searchParams.get('code')!, verifier);
    expect(decodeJwt(tokens.id_token).sub).toBe(user.id);
    const audit = await t.db.prisma.auditEvent.findMany({ where: { tenantId, targetId: user.id }, select: { action: true } });
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['user.created', 'user.jit_created']));
  });

  it('creates no user from an unverified email', async () => {
    const { res } = await fullLogin('carol@corp.test', 'carol');
    expect(await refusalPage(res, 403)).toMatch(/email_verified/);
    expect(await t.db.prisma.user.count({ where: { tenantId, email: 'carol@corp.test' } })).toBe(0);
  });

  it('creates no user when the tenant turned IdP logins off while the user was at the IdP', async () => {
    idp.accounts.gina = { email: 'gina@corp.test', email_verified: true, given_name: 'Gina', family_name: 'G' };
    const browser = new Browser(t.issuer);
    const go = await toIdp(browser, 'gina@corp.test');
    expect(go.idpUrl?.startsWith(`${idp.issuer}/auth?`)).toBe(true);
    const callback = await signInAtIdp(idp.browser(), go.idpUrl!, 'gina');
    const before = (await call(t.app, adminPat, 'GET', '/api/v3/tenants/login-policy')).json().data.attributes;
    const off = await call(t.app, adminPat, 'PUT', '/api/v3/tenants/login-policy', {
      data: { type: 'loginPolicy', attributes: { ...before, allowExternalIdp: false } },
    });
    expect(off.statusCode, off.body).toBe(200);
    try {
      expect(await refusalPage(await browser.get(callback), 403)).toMatch(/turned off/);
      expect(await t.db.prisma.user.count({ where: { tenantId, email: 'gina@corp.test' } })).toBe(0);
    } finally {
      await call(t.app, adminPat, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes: before } });
    }
  });

  it('auto-links an existing unlinked user by a verified email, and refuses when email_verified is false', async () => {
    const dave = await seedUser(t, tenantId, { email: 'dave@acme.test', password: 'Correct-Horse-9' });
    const erin = await seedUser(t, tenantId, { email: 'erin@acme.test', password: 'Correct-Horse-9' });
    const on = await fetch(`${t.issuer}/api/v3/idps/oidc/${idpId}`, {
      method: 'PATCH',
      headers: tenantHeaders(),
      body: JSON.stringify({ autoLinkByEmail: true, domains: ['corp.test', 'acme.test'] }),
    });
    expect(on.status).toBe(200);

    const ok = await fullLogin('dave@acme.test', 'dave');
    expect(ok.res.status, await ok.res.clone().text()).toBe(303);
    expect(await t.db.prisma.user.findUniqueOrThrow({ where: { id: dave } })).toMatchObject({ idpId, idpSubject: 'dave' });
    const linked = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { tenantId, action: 'user.idp_auto_linked', targetId: dave } });
    expect(linked).toMatchObject({ actorKind: 'system', details: { idpId, email: 'dave@acme.test' } });

    const refused = await fullLogin('erin@acme.test', 'erin');
    expect(await refusalPage(refused.res, 403)).toMatch(/email_verified/);
    expect(await t.db.prisma.user.findUniqueOrThrow({ where: { id: erin } })).toMatchObject({ idpId: null, idpSubject: null });
  });
});

describe('refusals at the callback, as hosted-login pages', () => {
  it("shows the IdP's own error, escaped, with the way to start again", async () => {
    await linkedUser('cancel@acme.test');
    const browser = new Browser(t.issuer);
    const go = await toIdp(browser, 'cancel@acme.test');
    const state = new URL(go.idpUrl!).searchParams.get('state')!;
    const res = await browser.get(
      `/oidc-idp/${idpId}/callback?${new URLSearchParams({ error: 'access_denied', error_description: '<b>cancelled</b>', state })}`,
    );
    const message = await refusalPage(res, 403);
    expect(message).toContain('did not sign you in (access_denied): &lt;b&gt;cancelled&lt;/b&gt;');
    expect(message).toMatch(/Start the sign-in again/);
    expect(await lastRefusal()).toMatchObject({ details: { method: 'oidc', reason: 'idp_error', idpId } });
    // The same link opened in a browser that did not start this login: the IdP's words are not shown.
    const elsewhere = await refusalPage(
      await new Browser(t.issuer).get(
        `/oidc-idp/${idpId}/callback?${new URLSearchParams({ error: 'access_denied', error_description: 'Call 555-0100 to unlock', state })}`,
      ),
      403,
    );
    expect(elsewhere).toContain('did not sign you in (access_denied).');
    expect(elsewhere).not.toContain('555-0100');
  });

  it('refuses an expired login and a user locked while at the IdP, and signs nobody in', async () => {
    const userId = await linkedUser('locked@acme.test');
    idp.accounts.locked = { email: 'locked@acme.test', email_verified: true };
    const browser = new Browser(t.issuer);
    const go = await toIdp(browser, 'locked@acme.test');
    const callback = await signInAtIdp(idp.browser(), go.idpUrl!, 'locked');

    const [cookieName, opened] = loginStateOf(browser);
    const late = new Browser(t.issuer);
    late.cookies.set(cookieName, sealLoginState({ ...opened, x: Date.now() - 1 }));
    expect(await refusalPage(await late.get(callback), 403)).toMatch(/expired/);

    await t.db.prisma.user.update({ where: { id: userId }, data: { state: 'locked' } });
    expect(await refusalPage(await browser.get(callback), 403)).toMatch(/The user is locked/);
    expect(await lastRefusal()).toMatchObject({ actorId: userId, targetId: userId, details: { method: 'oidc', reason: 'refused', idpId } });
    expect(await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).toMatchObject({ idpSubject: null, lastLoginAt: null });
  });

  it('says at the email step, on its page, that the IdP cannot be reached, without the reason (logged)', async () => {
    const gone = await startOidcIdp([], {});
    const added = await postOidc({ name: 'Gone IdP', issuer: gone.issuer, clientId: 'gone', clientSecret: 'gone-secret-0123456789', domains: ['gone.test'] });
    expect(added.status, await added.clone().text()).toBe(200);
    const goneId = (await added.json()).id;
    try {
      await gone.close();
      // Another version of the IdP: its discovery is not taken from the cache.
      const patched = await fetch(`${t.issuer}/api/v3/idps/oidc/${goneId}`, {
        method: 'PATCH',
        headers: tenantHeaders(),
        body: JSON.stringify({ domains: ['gone.test', 'gone2.test'] }),
      });
      expect(patched.status).toBe(200);
      const browser = new Browser(t.issuer);
      const go = await toIdp(browser, 'someone@gone.test');
      expect(go.status).toBe(403);
      expect(go.idpUrl).toBeUndefined();
      expect(go.html).toContain('The identity provider cannot be reached. Try again in a moment.');
      expect(go.html).toContain('name="email"');
      expect(go.html).not.toMatch(/ECONNREFUSED|OIDC_IDP_ALLOW_CIDRS|127\.0\.0\.1|"errors"/);
      expect([...browser.cookies.keys()].filter((n) => n.startsWith('iam_oidc'))).toHaveLength(0);
    } finally {
      expect((await call(t.app, adminPat, 'DELETE', '/api/v3/idps', { data: { ids: [goneId] } })).statusCode).toBe(204);
    }
  });

  it('answers an unknown identity provider with 404 and a malformed answer with 400, as pages', async () => {
    expect(await refusalPage(await fetch(`${t.issuer}/oidc-idp/${randomUUID()}/callback?code=c&state=s`), 404)).toMatch(/Identity provider not found/);
    expect(await refusalPage(await fetch(`${t.issuer}/oidc-idp/not-an-id/callback?code=c&state=s`), 404)).toMatch(/Identity provider not found/);
    expect(await refusalPage(await fetch(`${t.issuer}/oidc-idp/${idpId}/callback?error=${'x'.repeat(300)}`), 400)).toMatch(/malformed/);
  });
});

describe('several logins pending in one browser', () => {
  it('completes two logins started in two tabs, in either order, each clearing only its own state', async () => {
    const first = await linkedUser('tab-one@acme.test');
    const second = await linkedUser('tab-two@acme.test');
    idp.accounts.tabone = { email: 'tab-one@acme.test', email_verified: true };
    idp.accounts.tabtwo = { email: 'tab-two@acme.test', email_verified: true };
    // One cookie jar: two tabs of one browser.
    const browser = new Browser(t.issuer);
    const one = await toIdp(browser, 'tab-one@acme.test');
    const two = await toIdp(browser, 'tab-two@acme.test');
    expect([...browser.cookies.keys()].filter((n) => n.startsWith('iam_oidc_'))).toHaveLength(2);

    // The tab started last finishes first; the first one still completes.
    const backTwo = await browser.get(await signInAtIdp(idp.browser(), two.idpUrl!, 'tabtwo'));
    expect(backTwo.status, await backTwo.clone().text()).toBe(303);
    expect([...browser.cookies.keys()].filter((n) => n.startsWith('iam_oidc_'))).toHaveLength(1);
    const backOne = await browser.get(await signInAtIdp(idp.browser(), one.idpUrl!, 'tabone'));
    expect(backOne.status, await backOne.clone().text()).toBe(303);
    expect([...browser.cookies.keys()].filter((n) => n.startsWith('iam_oidc_'))).toHaveLength(0);

    // Each tab's code is for its own user and its own authorization request.
    for (const [back, go, userId] of [
      [backTwo, two, second],
      [backOne, one, first],
    ] as const) {
      const location = new URL(back.headers.get('location')!);
      expect(location.searchParams.get('state')).toBe(go.state);
      expect(decodeJwt((await redeem(location.searchParams.get('code')!, go.verifier)).id_token).sub).toBe(userId);
    }
  });

  it('keeps at most five logins pending: a sixth drops the oldest, and the newest complete', async () => {
    const userId = await linkedUser('many-tabs@acme.test');
    idp.accounts.manytabs = { email: 'many-tabs@acme.test', email_verified: true };
    const browser = new Browser(t.issuer);
    const tabs = [];
    for (let i = 0; i < 6; i++) tabs.push(await toIdp(browser, 'many-tabs@acme.test'));
    expect([...browser.cookies.keys()].filter((n) => n.startsWith('iam_oidc_'))).toHaveLength(5);
    const oldest = await browser.get(await signInAtIdp(idp.browser(), tabs[0]!.idpUrl!, 'manytabs'));
    expect(await refusalPage(oldest, 403)).toMatch(/did not start this sign-in/);
    const newest = await browser.get(await signInAtIdp(idp.browser(), tabs[5]!.idpUrl!, 'manytabs'));
    expect(newest.status).toBe(303);
    const second = await browser.get(await signInAtIdp(idp.browser(), tabs[1]!.idpUrl!, 'manytabs'));
    expect(second.status).toBe(303);
    const code = new URL(second.headers.get('location')!).searchParams.get('code')!;
    expect(decodeJwt((await redeem(code, tabs[1]!.verifier)).id_token).sub).toBe(userId);
  });
});

describe('the host the login came in through', () => {
  it("sends the IdP the redirect URI on the tenant's own host when the login came in there, and completes there", async () => {
    const userId = await linkedUser('on-host@acme.test');
    idp.accounts.onhost = { email: 'on-host@acme.test', email_verified: true };
    const tenantOrigin = `http://acme.iam.test:${new URL(t.issuer).port}`;
    // The tenant's host, served by the same listener: the Host header names it.
    const browser = new Browser(t.issuer, new URL(tenantOrigin).host);
    const go = await toIdp(browser, 'on-host@acme.test');
    expect(new URL(go.idpUrl!).searchParams.get('redirect_uri')).toBe(`${tenantOrigin}/oidc-idp/${idpId}/callback`);
    const callback = new URL(await signInAtIdp(idp.browser(), go.idpUrl!, 'onhost'));
    expect(callback.origin).toBe(tenantOrigin);
    // The code exchange repeats that redirect URI: the IdP would refuse another one.
    const res = await browser.get(callback.pathname + callback.search);
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('iam_session='))).toBe(true);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('state')).toBe(go.state);
    expect(decodeJwt((await redeem(location.searchParams.get('code')!, go.verifier)).id_token).sub).toBe(userId);
  });

  it('keeps PUBLIC_URL for a login through a host that names no tenant', async () => {
    await linkedUser('no-host@acme.test');
    const go = await toIdp(new Browser(t.issuer, `nobody.iam.test:${new URL(t.issuer).port}`), 'no-host@acme.test');
    expect(new URL(go.idpUrl!).searchParams.get('redirect_uri')).toBe(`${t.issuer}/oidc-idp/${idpId}/callback`);
  });
});
