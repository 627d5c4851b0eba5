// The whole federated login: authorize -> hosted login (email) -> redirect to the user's
// SAML IdP (a real samlify IdP) -> signed response to our ACS -> code -> tokens -> the
// token is accepted by the proxy validation route. Then the invitation link's page.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, call, createTenant, seedServiceAccountPat } from './helpers/app.js';
import { Browser, formField, seedUser, startListeningApp } from './helpers/oauth.js';
import { createTestIdp, type TestIdp } from './helpers/saml-idp.js';
import { SAML_BINDING_COOKIE, samlBindingCookie } from '../src/idps/saml-sp.js';

let t: Awaited<ReturnType<typeof startListeningApp>>;
let tenantId: string;
let idp: TestIdp;
let idpId: string;
let clientId: string;
const redirectUri = 'https://acme.iam.test/login';

beforeAll(async () => {
  t = await startListeningApp();
  tenantId = await createTenant(t, 'Acme', 'acme');
  clientId = (await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } })).clientId;
  idp = await createTestIdp('https://idp.acme.test/metadata');
  const fd = new FormData();
  fd.append('name', 'Acme IdP');
  fd.append('metadataXmlFile', new Blob([idp.metadata], { type: 'application/xml' }), 'idp.xml');
  const added = await fetch(`${t.issuer}/api/v3/idps/saml`, {
    method: 'POST',
    headers: { ...bearer(t.adminPat), 'x-forwarded-tenant-id': tenantId },
    body: fd,
  });
  expect(added.status).toBe(200);
  idpId = (await added.json()).id;
});
afterAll(() => t?.close());

/** The tenant's refused logins through this IdP, oldest first: the event a refused password login writes, with the IdP's id. */
const samlRefusals = async () => {
  const events = await t.db.prisma.auditEvent.findMany({ where: { tenantId, action: 'login.failed' }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  for (const e of events) {
    expect(e.outcome).toBe('failure');
    expect(JSON.stringify(e)).not.toMatch(/SAMLResponse|Assertion|Signature/);
  }
  return events.filter((e) => (e.details as { method?: string }).method === 'saml');
};

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/**
 * The cookies a browser sends with the IdP's auto-submitted form, a cross-site POST: of
 * those our server set, the ones not marked SameSite=Lax or Strict (a browser keeps them
 * per site; here per Browser).
 */
const crossSiteJars = new WeakMap<Browser, Map<string, string>>();
function noteCookies(browser: Browser, res: Response) {
  const jar = crossSiteJars.get(browser) ?? new Map<string, string>();
  crossSiteJars.set(browser, jar);
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(';');
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq).trim();
    if (attrs.some((a) => /^\s*samesite=(lax|strict)\s*$/i.test(a))) jar.delete(name);
    else jar.set(name, pair!.slice(eq + 1).trim());
  }
}
const crossSiteCookies = (browser: Browser) => [...(crossSiteJars.get(browser) ?? [])].map(([k, v]) => `${k}=${v}`).join('; ');

/** The IdP's form POST to our ACS, from `browser` (its cross-site cookies), or from nowhere. */
function postAcs(SAMLResponse: string, RelayState: string, browser?: Browser) {
  const cookie = browser ? crossSiteCookies(browser) : '';
  return fetch(`${t.issuer}/saml/${idpId}/acs`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams({ SAMLResponse, RelayState }).toString(),
  });
}

async function federatedUser(email: string) {
  const userId = await seedUser(t, tenantId, { email, state: 'initial' });
  const assoc = await call(t.app, t.adminPat, 'PUT', `/api/v3/users/${userId}/idps`, { data: { ids: [idpId] } }, { 'x-forwarded-tenant-id': tenantId });
  expect(assoc.statusCode).toBe(200);
  return userId;
}

/** authorize -> hosted login email step -> the IdP parses our AuthnRequest; the browser is then at the IdP. */
async function startFederatedLogin(browser: Browser, email: string) {
  const { verifier, challenge } = pkce();
  const state = randomBytes(8).toString('hex');
  const authorize = `/oauth/v2/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid profile email', code_challenge: challenge, code_challenge_method: 'S256', state, nonce: 'n1' })}`;
  const start = await browser.get(authorize);
  noteCookies(browser, start);
  expect(start.status).toBe(302);
  const page = await browser.get(start.headers.get('location')!);
  noteCookies(browser, page);
  const emailPage = await page.text();
  const step = await browser.post('/ui/login', { csrf: formField(emailPage, 'csrf')!, r: formField(emailPage, 'r')!, email });
  noteCookies(browser, step);
  expect(step.status).toBe(200);
  const idpUrl = /<a href="([^"]+)">/.exec(await step.text())![1]!.replace(/&amp;/g, '&');
  expect(idpUrl.startsWith('https://idp.test/sso?')).toBe(true);
  const spMetadata = await (await fetch(`${t.issuer}/saml/${idpId}/metadata`)).text();
  const { requestId, relayState } = await idp.parseRedirect(idpUrl, spMetadata);
  return { verifier, state, step, spMetadata, requestId, relayState };
}

const sessionCookieOf = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith('iam_session='));

describe('SAML login through the hosted page and the OAuth code flow', () => {
  it('sends a user typed by its username to its IdP as well', async () => {
    await federatedUser('by-name@acme.test');
    // startFederatedLogin asserts that the email step answered with the way to the IdP.
    const { requestId } = await startFederatedLogin(new Browser(t.issuer), 'By-Name');
    expect(requestId).toBeTruthy();
  });

  it('with disableLoginWithEmail, finds a federated user by username only, as the password step does', async () => {
    await federatedUser('email-off@acme.test');
    const policy = (attributes: Record<string, unknown>) =>
      call(t.app, t.adminPat, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes } }, { 'x-forwarded-tenant-id': tenantId });
    expect((await policy({ disableLoginWithEmail: true })).statusCode).toBe(200);
    try {
      const browser = new Browser(t.issuer);
      const authorize = `/oauth/v2/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', code_challenge: pkce().challenge, code_challenge_method: 'S256' })}`;
      const html = await (await browser.get((await browser.get(authorize)).headers.get('location')!)).text();
      const step = await browser.post('/ui/login', { csrf: formField(html, 'csrf')!, r: formField(html, 'r')!, email: 'email-off@acme.test' });
      expect(await step.text()).not.toContain('https://idp.test/sso');
      // The username still leads to the IdP (startFederatedLogin asserts it).
      expect((await startFederatedLogin(new Browser(t.issuer), 'Email-Off')).requestId).toBeTruthy();
    } finally {
      expect((await policy({})).statusCode).toBe(200);
    }
  });

  it('signs an IdP-associated user in and ends with tokens for the application', async () => {
    const userId = await federatedUser('fed@acme.test');
    const browser = new Browser(t.issuer);
    const { verifier, state, spMetadata, requestId, relayState } = await startFederatedLogin(browser, 'FED@acme.test');
    expect(Buffer.byteLength(relayState)).toBeLessThanOrEqual(80);
    const SAMLResponse = await idp.respond(spMetadata, requestId, 'fed@acme.test');

    // The IdP's auto-submitted form: a cross-site POST from the browser that started the login.
    const acs = await postAcs(SAMLResponse, relayState, browser);
    expect(acs.status).toBe(303);
    const back = new URL(acs.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(redirectUri);
    expect(back.searchParams.get('state')).toBe(state);
    const code = back.searchParams.get('code')!;

    const tokenRes = await fetch(`${t.issuer}/oauth/v2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
    });
    expect(tokenRes.status).toBe(200);
    const tokens = await tokenRes.json();
    expect(tokens.id_token).toBeTruthy();
    const v = await fetch(`${t.issuer}/api/v3/session/validate-token`, { headers: bearer(tokens.access_token) });
    expect(v.status).toBe(200);
    expect(v.headers.get('x-forwarded-user-id')).toBe(userId);
    const accepted = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { tenantId, action: 'user.saml_assertion_accepted', targetId: userId } });
    expect(accepted).toMatchObject({ actorKind: 'system', outcome: 'success', details: { idpId } });

    // The pending authorization was single use: replaying the IdP's answer gets nowhere.
    const replay = await postAcs(SAMLResponse, relayState, browser);
    expect(replay.status).toBeGreaterThanOrEqual(400);
  });
});

describe('SAML response bound to the browser that started the login', () => {
  it('refuses a response posted by a browser that did not start the login (login CSRF): no session, no code', async () => {
    // The attacker signs in at the IdP as themselves and has the victim's browser post the answer.
    const attackerId = await federatedUser('mallory@acme.test');
    const attacker = new Browser(t.issuer);
    const login = await startFederatedLogin(attacker, 'mallory@acme.test');
    const SAMLResponse = await idp.respond(login.spMetadata, login.requestId, 'mallory@acme.test');

    // A victim with no login of its own in flight, and one that started its own login.
    const bystander = new Browser(t.issuer);
    noteCookies(bystander, await bystander.get('/ui/login'));
    const victim = new Browser(t.issuer);
    await federatedUser('victim@acme.test');
    await startFederatedLogin(victim, 'victim@acme.test');
    const before = (await samlRefusals()).length;
    for (const from of [undefined, bystander, victim]) {
      const res = await postAcs(SAMLResponse, login.relayState, from);
      expect(res.status, await res.clone().text()).toBe(403);
      expect(sessionCookieOf(res)).toBeUndefined();
      expect(res.headers.get('location')).toBeNull();
      const body = await res.json();
      expect(body.errors[0].code).toBe('saml_refused');
      expect(body.errors[0].detail).toMatch(/browser/i);
    }
    expect(await t.db.prisma.browserSession.count({ where: { userId: attackerId } })).toBe(0);
    const refused = (await samlRefusals()).slice(before);
    expect(refused).toHaveLength(3);
    for (const e of refused) expect(e).toMatchObject({ actorId: null, details: { method: 'saml', reason: 'invalid_answer', idpId } });

    // The refusals did not burn the request: from the browser that started it, it completes.
    const own = await postAcs(SAMLResponse, login.relayState, attacker);
    expect(own.status).toBe(303);
    expect(sessionCookieOf(own)).toBeDefined();
    expect(new URL(own.headers.get('location')!).searchParams.get('state')).toBe(login.state);
  });

  it('sets the binding cookie on the redirect to the IdP: HttpOnly, whole site, no SameSite=Lax', async () => {
    await federatedUser('cookie@acme.test');
    const browser = new Browser(t.issuer);
    const { step } = await startFederatedLogin(browser, 'cookie@acme.test');
    const set = step.headers.getSetCookie().find((c) => c.startsWith(`${SAML_BINDING_COOKIE}=`));
    expect(set).toBeDefined();
    expect(set).toMatch(/;\s*HttpOnly/i);
    expect(set).toMatch(/;\s*Path=\/(;|$)/);
    expect(set).toMatch(/;\s*Max-Age=600(;|$)/);
    // PUBLIC_URL is http here: not Secure, and no SameSite=Lax (it would keep the cookie off the IdP's POST).
    expect(set).not.toMatch(/;\s*Secure/i);
    expect(set).not.toMatch(/SameSite=(Lax|Strict)/i);
    // Over https: SameSite=None (the IdP's POST is cross-site), Secure, and a __Host- name unless a cookie domain is shared.
    const https = { ...t.app.config, PUBLIC_URL: 'https://auth.example.com', SESSION_COOKIE_DOMAIN: undefined };
    expect(samlBindingCookie(https)).toEqual({ name: '__Host-iam_saml', options: { path: '/', httpOnly: true, secure: true, sameSite: 'none', maxAge: 600 } });
    expect(samlBindingCookie({ ...https, SESSION_COOKIE_DOMAIN: '.example.com' })).toEqual({
      name: '__Secure-iam_saml',
      options: { path: '/', httpOnly: true, secure: true, sameSite: 'none', maxAge: 600, domain: '.example.com' },
    });
  });

  it('completes two logins started in parallel by the same browser', async () => {
    await federatedUser('tabs@acme.test');
    const browser = new Browser(t.issuer);
    const first = await startFederatedLogin(browser, 'tabs@acme.test');
    const second = await startFederatedLogin(browser, 'tabs@acme.test');
    const a = await postAcs(await idp.respond(first.spMetadata, first.requestId, 'tabs@acme.test'), first.relayState, browser);
    expect(a.status).toBe(303);
    expect(new URL(a.headers.get('location')!).searchParams.get('state')).toBe(first.state);
    const b = await postAcs(await idp.respond(second.spMetadata, second.requestId, 'tabs@acme.test'), second.relayState, browser);
    expect(b.status).toBe(303);
    expect(new URL(b.headers.get('location')!).searchParams.get('state')).toBe(second.state);
  });

  it('refuses an unsolicited (IdP-initiated) response, which no browser started', async () => {
    const userId = await federatedUser('unsolicited@acme.test');
    const browser = new Browser(t.issuer);
    const { spMetadata, requestId } = await startFederatedLogin(browser, 'unsolicited@acme.test');
    const noInResponseTo = (x: string) => x.replaceAll(' InResponseTo="{InResponseTo}"', '');
    const res = await postAcs(await idp.respond(spMetadata, requestId, 'unsolicited@acme.test', { template: noInResponseTo }), '', browser);
    expect(res.status).toBe(403);
    expect((await res.json()).errors[0].detail).toMatch(/InResponseTo/);
    expect(sessionCookieOf(res)).toBeUndefined();
    expect(await t.db.prisma.browserSession.count({ where: { userId } })).toBe(0);
  });
});

describe('SAML response status', () => {
  const RESPONDER = 'urn:oasis:names:tc:SAML:2.0:status:Responder';
  const withSubStatus = (sub: string, message: string) => (x: string) =>
    x.replace(
      '<samlp:StatusCode Value="{StatusCode}"/>',
      `<samlp:StatusCode Value="{StatusCode}"><samlp:StatusCode Value="${sub}"/></samlp:StatusCode><samlp:StatusMessage>${message}</samlp:StatusMessage>`,
    );

  it('refuses a response whose status is not Success even though its assertion is signed', async () => {
    const userId = await federatedUser('failed@acme.test');
    const browser = new Browser(t.issuer);
    const login = await startFederatedLogin(browser, 'failed@acme.test');
    const before = (await samlRefusals()).length;
    const cases: [string, string, RegExp][] = [
      [RESPONDER, 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed', /Responder.*AuthnFailed/],
      ['urn:oasis:names:tc:SAML:2.0:status:Requester', 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied', /Requester.*RequestDenied/],
      ['urn:oasis:names:tc:SAML:2.0:status:VersionMismatch', 'urn:oasis:names:tc:SAML:2.0:status:RequestVersionTooHigh', /VersionMismatch/],
    ];
    for (const [top, sub, detail] of cases) {
      for (const sign of ['both', 'assertion'] as const) {
        const SAMLResponse = await idp.respond(login.spMetadata, login.requestId, 'failed@acme.test', {
          sign,
          tags: { StatusCode: top },
          template: withSubStatus(sub, 'Wrong password'),
        });
        const xml = Buffer.from(SAMLResponse, 'base64').toString('utf8');
        expect(xml).toContain(`<samlp:StatusCode Value="${top}"><samlp:StatusCode Value="${sub}"/>`);
        expect(xml).toMatch(/<saml:Assertion[\s\S]*<ds:Signature/);
        const res = await postAcs(SAMLResponse, login.relayState, browser);
        expect(res.status, `${top} ${sign}`).toBe(403);
        const body = await res.json();
        expect(body.errors[0].code).toBe('saml_refused');
        expect(body.errors[0].detail).toMatch(detail);
        expect(sessionCookieOf(res)).toBeUndefined();
        expect(res.headers.get('location')).toBeNull();
      }
    }
    expect(await t.db.prisma.browserSession.count({ where: { userId } })).toBe(0);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).lastLoginAt).toBeNull();
    const refused = (await samlRefusals()).slice(before);
    expect(refused.map((e) => (e.details as { reason: string }).reason)).toEqual(Array(6).fill('idp_error'));
    // The IdP's StatusMessage is its own words: not recorded.
    expect(JSON.stringify(refused)).not.toContain('Wrong password');

    // The IdP's Success answer to the same request still signs the user in.
    const ok = await postAcs(await idp.respond(login.spMetadata, login.requestId, 'failed@acme.test'), login.relayState, browser);
    expect(ok.status).toBe(303);
    expect(await t.db.prisma.browserSession.count({ where: { userId } })).toBe(1);
  });
});

describe('set-password page of an invitation', () => {
  it('sets the password once, under the tenant policy, and activates the user', async () => {
    const created = await call(
      t.app,
      t.adminPat,
      'POST',
      '/api/v3/users',
      { data: { type: 'users', attributes: { username: 'invitee', email: 'invitee@acme.test' } } },
      { 'x-forwarded-tenant-id': tenantId },
    );
    expect(created.statusCode).toBe(201);
    const link = new URL(created.json().meta.setPasswordUrl);
    const userId = created.json().data.id;
    const browser = new Browser(t.issuer);
    const page = await (await browser.get(link.pathname + link.search)).text();
    const submit = (password: string, confirm = password) =>
      browser.post('/ui/set-password', { csrf: formField(page, 'csrf')!, token: formField(page, 'token')!, password, confirm });

    expect(
      (await browser.post('/ui/set-password', { csrf: 'forged', token: formField(page, 'token')!, password: 'Xx1!aaaaaaaaaaaa', confirm: 'Xx1!aaaaaaaaaaaa' }))
        .status,
    ).toBe(403);
    expect((await submit('Aa1-differs-0001', 'Aa1-differs-0002')).status).toBe(400);
    const weak = await submit('short');
    expect(weak.status).toBe(400);
    expect(await weak.text()).toContain('at least');
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).state).toBe('initial');

    const ok = await submit('Correct-Horse-42-Battery');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('Password set');
    const user = await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } });
    expect(user.state).toBe('active');
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    expect((await submit('Another-Horse-42-Battery')).status).toBe(400);
  });
});

describe('SAML: domain-routed sign-in and just-in-time users', () => {
  const patchIdp = async (fields: Record<string, string>) => {
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) fd.append(k, v);
    const res = await fetch(`${t.issuer}/api/v3/idps/saml/${idpId}`, {
      method: 'PATCH',
      headers: { ...bearer(t.adminPat), 'x-forwarded-tenant-id': tenantId },
      body: fd,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    return t.db.prisma.identityProvider.findUniqueOrThrow({ where: { id: idpId } });
  };
  const setDiscovery = async (allowDomainDiscovery: boolean) => {
    const res = await call(
      t.app,
      t.adminPat,
      'PUT',
      '/api/v3/tenants/login-policy',
      { data: { type: 'loginPolicy', attributes: { allowDomainDiscovery } } },
      { 'x-forwarded-tenant-id': tenantId },
    );
    expect(res.statusCode, res.body).toBe(200);
  };

  it('sends an unknown user of a claimed domain to the IdP only when the policy allows domain discovery', async () => {
    expect((await patchIdp({ domains: 'saml-corp.test' })).domains).toEqual(['saml-corp.test']);
    await setDiscovery(false);
    const browser = new Browser(t.issuer);
    const authorize = `/oauth/v2/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', code_challenge: pkce().challenge, code_challenge_method: 'S256' })}`;
    const html = await (await browser.get((await browser.get(authorize)).headers.get('location')!)).text();
    const step = await browser.post('/ui/login', { csrf: formField(html, 'csrf')!, r: formField(html, 'r')!, email: 'nobody@saml-corp.test' });
    const stepHtml = await step.text();
    expect(stepHtml).toContain('name="password"');
    expect(stepHtml).not.toContain('https://idp.test/sso?');
    await setDiscovery(true);
    // Routed now, but without just-in-time provisioning the unknown user is refused as before.
    const b2 = new Browser(t.issuer);
    const { spMetadata, requestId, relayState } = await startFederatedLogin(b2, 'nobody@saml-corp.test');
    const acs = await postAcs(await idp.respond(spMetadata, requestId, 'nobody@saml-corp.test'), relayState, b2);
    expect(acs.status).toBe(403);
    expect((await acs.json()).errors[0].detail).toMatch(/No user of this tenant/);
    expect(await t.db.prisma.user.count({ where: { tenantId, email: 'nobody@saml-corp.test' } })).toBe(0);
    const refusal = (await samlRefusals()).at(-1)!;
    expect(refusal).toMatchObject({ actorKind: 'user', actorId: null, targetId: null, details: { method: 'saml', reason: 'not_associated', idpId } });
    expect(Object.keys(refusal.details as object).sort()).toEqual(['idpId', 'method', 'reason']);
  });

  it('creates the user just in time with the default roles, linked to the IdP, and signs it in', async () => {
    const set = await patchIdp({ jitProvisioning: 'true', jitRoles: 'tenant-contributor' });
    expect(set).toMatchObject({ jitProvisioning: true, jitRoles: ['tenant-contributor'] });
    const browser = new Browser(t.issuer);
    const { verifier, spMetadata, requestId, relayState } = await startFederatedLogin(browser, 'newcomer@saml-corp.test');
    const acs = await postAcs(await idp.respond(spMetadata, requestId, 'newcomer@saml-corp.test'), relayState, browser);
    expect(acs.status, await acs.clone().text()).toBe(303);
    const user = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId, email: 'newcomer@saml-corp.test' }, include: { roles: true } });
    expect(user).toMatchObject({ idpId, state: 'active', passwordHash: null });
    expect(user.roles.map((r) => r.roleName)).toEqual(['tenant-contributor']);
    const jit = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { tenantId, action: 'user.jit_created', targetId: user.id } });
    expect(jit).toMatchObject({ actorKind: 'system', details: { idpId, email: 'newcomer@saml-corp.test', roles: ['tenant-contributor'] } });
    const code = new URL(acs.headers.get('location')!).searchParams.get('code')!;
    const tokenRes = await fetch(`${t.issuer}/oauth/v2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
    });
    expect(tokenRes.status).toBe(200);
    expect(JSON.parse(Buffer.from((await tokenRes.json()).id_token.split('.')[1], 'base64url').toString()).sub).toBe(user.id);
  });

  it('auto-links an existing unlinked user only when the IdP is trusted for email (autoLinkByEmail)', async () => {
    const existing = await seedUser(t, tenantId, { email: 'existing@saml-corp.test', password: 'Correct-Horse-9' });
    const tryLogin = async () => {
      const browser = new Browser(t.issuer);
      const { spMetadata, requestId, relayState } = await startFederatedLogin(browser, 'existing@saml-corp.test');
      return postAcs(await idp.respond(spMetadata, requestId, 'existing@saml-corp.test'), relayState, browser);
    };
    const refused = await tryLogin();
    expect(refused.status).toBe(403);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: existing } })).idpId).toBeNull();
    await patchIdp({ autoLinkByEmail: 'true' });
    const linked = await tryLogin();
    expect(linked.status, await linked.clone().text()).toBe(303);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: existing } })).idpId).toBe(idpId);
    const autoLinked = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { tenantId, action: 'user.idp_auto_linked', targetId: existing } });
    expect(autoLinked).toMatchObject({ actorKind: 'system', details: { idpId, email: 'existing@saml-corp.test' } });
  });

  it('refuses a jitRoles entry the admin may not grant, and changes nothing', async () => {
    const { pat } = await seedServiceAccountPat(t, tenantId, ['tenant-admin']);
    const fd = new FormData();
    fd.append('jitRoles', 'skylight-admin');
    const res = await fetch(`${t.issuer}/api/v3/idps/saml/${idpId}`, { method: 'PATCH', headers: bearer(pat), body: fd });
    expect(res.status).toBe(403);
    expect((await t.db.prisma.identityProvider.findUniqueOrThrow({ where: { id: idpId } })).jitRoles).toEqual(['tenant-contributor']);
  });
});
