// Passkeys over real HTTP with a software authenticator (test/helpers/webauthn.ts): adding
// one on /ui/account/passkeys, the second factor after the password, passwordless login,
// and what the server refuses (bad challenge, wrong origin, replay, counter regression,
// another user's credential, no user verification); openid-client reads amr/acr from the
// ID tokens, and the session-validate route says how the user signed in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { Browser, formField, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';
import { enrolFromAccount } from './helpers/mfa.js';
import { ceremonyOnPage, SoftAuthenticator } from './helpers/webauthn.js';

let t: TestApp & { issuer: string };
let tenantId: string;
let admin: string;
let app: { clientId: string; redirect: string };
const PASSWORD = 'Correct-Horse-42';
const MFA = 'urn:pca:acr:mfa';
let n = 0;

const POLICY = {
  secondFactors: ['SECOND_FACTOR_TYPE_OTP', 'SECOND_FACTOR_TYPE_U2F'],
  passwordlessType: 'PASSWORDLESS_TYPE_ALLOWED',
  multiFactors: ['MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION'],
};
const setPolicy = async (attributes: Record<string, unknown>) => {
  const res = await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes } });
  expect(res.statusCode).toBe(200);
};

beforeAll(async () => {
  t = await startListeningApp({ LOGIN_MAX_FAILURES: '50' });
  tenantId = await createTenant(t, 'Passkey Tenant', 'pk');
  const row = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } });
  app = { clientId: row.clientId, redirect: row.redirectUris[0]! };
  admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  await setPolicy(POLICY);
}, 60_000);
afterAll(() => t?.close());

async function newUser(state = 'active') {
  const email = `user${++n}@pk.test`;
  const id = await seedUser(t, tenantId, { email, password: PASSWORD, state });
  return { email, id };
}

async function flow() {
  const config = await client.discovery(new URL(t.issuer), app.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client
    .buildAuthorizationUrl(config, {
      redirect_uri: app.redirect,
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    })
    .toString();
  const redeem = async (res: Response) => {
    // 303 after the login's POST; 302 when a GET of /authorize finds the session enough.
    expect([302, 303]).toContain(res.status);
    expect(res.headers.get('location')!.startsWith(app.redirect)).toBe(true);
    const location = new URL(res.headers.get('location')!);
    const tokens = await client.authorizationCodeGrant(config, location, { pkceCodeVerifier: verifier, expectedState: state });
    return tokens.claims()!;
  };
  return { url, redeem };
}

/** A browser signed in with the password alone (the user has no second factor yet). */
async function signedIn(email: string) {
  const browser = new Browser(t.issuer);
  const f = await flow();
  const claims = await f.redeem(await loginThrough(browser, f.url, email, PASSWORD));
  expect(claims.amr).toEqual(['pwd']);
  return browser;
}

/** Adds a passkey from /ui/account/passkeys; the response of the add form. */
async function addPasskey(browser: Browser, authenticator: SoftAuthenticator, name = 'Laptop', bend: Parameters<SoftAuthenticator['register']>[1] = {}) {
  const page = await (await browser.get('/ui/account/passkeys')).text();
  const c = ceremonyOnPage(page, 'add-passkey');
  if (!c) throw new Error(`no registration form: ${page.slice(0, 300)}`);
  const response = authenticator.register(c.options, bend);
  return browser.post('/ui/account/passkeys/add', { csrf: formField(page, 'csrf')!, handle: c.handle, response: JSON.stringify(response), name });
}

/** The password step of a login that then asks for the second factor: the page, the flow and the browser. */
async function atSecondFactor(email: string) {
  const browser = new Browser(t.issuer);
  const f = await flow();
  const res = await loginThrough(browser, f.url, email, PASSWORD);
  expect(res.status).toBe(200);
  return { browser, f, page: await res.text() };
}

const submitPasskey = (browser: Browser, page: string, handle: string, response: unknown) =>
  browser.post('/ui/login/second-factor/passkey', {
    csrf: formField(page, 'csrf')!,
    pending: formField(page, 'pending')!,
    handle,
    response: JSON.stringify(response),
  });

const events = (action: string, targetId: string) =>
  t.db.prisma.auditEvent.findMany({ where: { action, targetId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });

describe('adding a passkey', () => {
  it('registers on /ui/account/passkeys: public key stored, named, audited; the page loads the script under a CSP allowing only this site', async () => {
    const user = await newUser();
    const browser = await signedIn(user.email);
    const page = await browser.get('/ui/account/passkeys');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script src="/ui/assets/passkey.js" defer></script>');
    expect(ceremonyOnPage(html, 'add-passkey')!.options.rp.id).toBe(new URL(t.issuer).hostname);
    const script = await browser.get('/ui/assets/passkey.js');
    expect(script.headers.get('content-type')).toContain('javascript');
    expect(await script.text()).toContain('navigator.credentials.create');

    const authenticator = new SoftAuthenticator(t.issuer);
    const res = await addPasskey(browser, authenticator, 'Work laptop');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('was added');
    const rows = await t.db.prisma.passkey.findMany({ where: { tenantId, userId: user.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.name).toBe('Work laptop');
    expect(rows[0]!.credentialId).toBe(authenticator.keys[0]!.id.toString('base64url'));
    expect(rows[0]!.publicKey.length).toBeGreaterThan(60);
    expect(await events('mfa.passkey.registered', user.id)).toHaveLength(1);
    // The other methods of the account page: the list shows it.
    expect(await (await browser.get('/ui/account/passkeys')).text()).toContain('Work laptop');
  });

  it('refuses a wrong origin, a wrong challenge, a reused challenge and a missing name; nothing is stored', async () => {
    const user = await newUser();
    const browser = await signedIn(user.email);
    const authenticator = new SoftAuthenticator(t.issuer);
    expect((await addPasskey(browser, authenticator, 'x', { origin: 'https://evil.example' })).status).toBe(400);
    expect((await addPasskey(browser, authenticator, 'x', { challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status).toBe(400);
    expect((await addPasskey(browser, authenticator, 'x', { rpId: 'evil.example' })).status).toBe(400);
    expect((await addPasskey(browser, authenticator, '')).status).toBe(400);
    // One challenge, two answers: the second finds it used.
    const page = await (await browser.get('/ui/account/passkeys')).text();
    const c = ceremonyOnPage(page, 'add-passkey')!;
    const form = { csrf: formField(page, 'csrf')!, handle: c.handle, name: 'First' };
    expect((await browser.post('/ui/account/passkeys/add', { ...form, response: JSON.stringify(authenticator.register(c.options)) })).status).toBe(200);
    const again = await browser.post('/ui/account/passkeys/add', { ...form, response: JSON.stringify(authenticator.register(c.options)) });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('This form expired');
    expect(await t.db.prisma.passkey.count({ where: { tenantId, userId: user.id } })).toBe(1);
    // Garbage is a 400 too, never a 500.
    expect((await browser.post('/ui/account/passkeys/add', { ...form, handle: 'not-a-uuid', response: '{' })).status).toBe(400);
  });

  it('needs a session and a form of this site', async () => {
    const anonymous = new Browser(t.issuer);
    expect((await anonymous.get('/ui/account/passkeys')).status).toBe(401);
    const user = await newUser();
    const browser = await signedIn(user.email);
    expect((await browser.post('/ui/account/passkeys/add', { csrf: 'forged', handle: '', response: '', name: 'x' })).status).toBe(403);
  });
});

describe('a passkey as the second factor', () => {
  let user: { email: string; id: string };
  let authenticator: SoftAuthenticator;

  beforeAll(async () => {
    user = await newUser();
    authenticator = new SoftAuthenticator(t.issuer);
    expect((await addPasskey(await signedIn(user.email), authenticator)).status).toBe(200);
  });

  it('is asked after the password; the ID token has amr pwd+hwk+mfa and acr mfa; the session validates with those headers', async () => {
    const { browser, f, page } = await atSecondFactor(user.email);
    const c = ceremonyOnPage(page, 'passkey-form')!;
    expect(c.options.allowCredentials.map((x: { id: string }) => x.id)).toEqual([authenticator.keys[0]!.id.toString('base64url')]);
    expect(c.options.userVerification).toBe('preferred');
    expect(page).not.toContain('name="code"'); // no TOTP: no code form
    const claims = await f.redeem(await submitPasskey(browser, page, c.handle, authenticator.assert(c.options)));
    expect(claims.amr).toEqual(['pwd', 'hwk', 'mfa']);
    expect(claims.acr).toBe(MFA);
    const used = await events('mfa.passkey.used', user.id);
    expect(used.at(-1)!.outcome).toBe('success');
    expect((await t.db.prisma.passkey.findFirstOrThrow({ where: { userId: user.id } })).lastUsedAt).not.toBeNull();

    const validate = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: browser.cookieHeader() } });
    expect(validate.statusCode).toBe(200);
    expect(validate.headers['x-forwarded-user-id']).toBe(user.id);
    expect(validate.headers['x-forwarded-user-amr']).toBe('pwd,hwk,mfa');
    expect(validate.headers['x-forwarded-user-acr']).toBe(MFA);
    expect(Number(validate.headers['x-forwarded-user-auth-time'])).toBe(claims.auth_time);
    // A bearer token carries no such claim about a sign-in: no such headers.
    const token = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: { authorization: `Bearer ${admin}` } });
    expect(token.statusCode).toBe(200);
    expect(token.headers['x-forwarded-user-amr']).toBeUndefined();
    expect(token.headers['x-forwarded-user-acr']).toBeUndefined();
  });

  it('refuses a wrong challenge, a wrong origin, a wrong RP ID, a replay and a counter that does not grow', async () => {
    const { browser, f, page } = await atSecondFactor(user.email);
    let current = page;
    const attempt = async (bend: Parameters<SoftAuthenticator['assert']>[1]) => {
      const c = ceremonyOnPage(current, 'passkey-form')!;
      const res = await submitPasskey(browser, current, c.handle, authenticator.assert(c.options, bend));
      current = await res.text();
      return res.status;
    };
    const before = (await t.db.prisma.passkey.findFirstOrThrow({ where: { userId: user.id } })).counter;
    expect(await attempt({ challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).toBe(401);
    expect(await attempt({ origin: 'https://evil.example' })).toBe(401);
    expect(await attempt({ rpId: 'evil.example' })).toBe(401);
    expect(await attempt({ counter: 1 })).toBe(401); // at or below the stored counter: a clone
    expect(current).toContain('could not confirm');
    expect(browser.cookies.has('iam_session')).toBe(false);
    expect((await t.db.prisma.passkey.findFirstOrThrow({ where: { userId: user.id } })).counter).toBe(before);

    // The genuine answer passes once; the same answer (same challenge) a second time does not.
    const c = ceremonyOnPage(current, 'passkey-form')!;
    const answer = authenticator.assert(c.options);
    const ok = await submitPasskey(browser, current, c.handle, answer);
    expect((await f.redeem(ok)).acr).toBe(MFA);
    const second = await atSecondFactor(user.email);
    const replay = await submitPasskey(second.browser, second.page, c.handle, answer);
    expect(replay.status).toBe(401);
    const failures = (await events('mfa.passkey.used', user.id)).filter((e) => e.outcome === 'failure');
    expect(failures.length).toBeGreaterThanOrEqual(5);
  });

  it('steps a password-only session up with the passkey; the validate headers follow at once', async () => {
    await setPolicy({ ...POLICY, secondFactors: ['SECOND_FACTOR_TYPE_OTP'] });
    const browser = new Browser(t.issuer);
    try {
      const f = await flow();
      expect((await f.redeem(await loginThrough(browser, f.url, user.email, PASSWORD))).amr).toEqual(['pwd']);
    } finally {
      await setPolicy(POLICY);
    }
    const validate = () => t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: browser.cookieHeader() } });
    expect((await validate()).headers['x-forwarded-user-amr']).toBe('pwd');
    expect((await validate()).headers['x-forwarded-user-acr']).toBe('urn:pca:acr:pwd');
    // Now U2F counts: the next authorization request finds the session lacking its second factor.
    const f = await flow();
    const start = await browser.get(f.url);
    expect(start.headers.get('location')).toContain('/ui/login/step-up');
    const page = await (await browser.get(start.headers.get('location')!)).text();
    const c = ceremonyOnPage(page, 'passkey-form')!;
    const claims = await f.redeem(await submitPasskey(browser, page, c.handle, authenticator.assert(c.options)));
    expect(claims.amr).toEqual(['pwd', 'hwk', 'mfa']);
    const after = await validate();
    expect(after.headers['x-forwarded-user-amr']).toBe('pwd,hwk,mfa');
    expect(after.headers['x-forwarded-user-acr']).toBe(MFA);
  });

  it("refuses another user's passkey", async () => {
    const other = await newUser();
    const otherKey = new SoftAuthenticator(t.issuer);
    expect((await addPasskey(await signedIn(other.email), otherKey)).status).toBe(200);
    const { browser, page } = await atSecondFactor(user.email);
    const c = ceremonyOnPage(page, 'passkey-form')!;
    const res = await submitPasskey(browser, page, c.handle, otherKey.assert(c.options, { key: otherKey.keys[0] }));
    expect(res.status).toBe(401);
    expect(browser.cookies.has('iam_session')).toBe(false);
  });

  it('offers the code form too when the user also has TOTP', async () => {
    const both = await newUser();
    const browser = await signedIn(both.email);
    expect((await addPasskey(browser, new SoftAuthenticator(t.issuer))).status).toBe(200);
    await enrolFromAccount(browser);
    const { page } = await atSecondFactor(both.email);
    expect(ceremonyOnPage(page, 'passkey-form')).toBeDefined();
    expect(page).toContain('name="code"');
  });

  it('is not asked when the policy does not allow SECOND_FACTOR_TYPE_U2F', async () => {
    await setPolicy({ ...POLICY, secondFactors: ['SECOND_FACTOR_TYPE_OTP'] });
    try {
      const browser = new Browser(t.issuer);
      const f = await flow();
      expect((await f.redeem(await loginThrough(browser, f.url, user.email, PASSWORD))).amr).toEqual(['pwd']);
    } finally {
      await setPolicy(POLICY);
    }
  });

  it('satisfies forceMfa, which a policy may now require with U2F alone', async () => {
    await setPolicy({ ...POLICY, forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_U2F'] });
    try {
      const { browser, f, page } = await atSecondFactor(user.email);
      const c = ceremonyOnPage(page, 'passkey-form')!;
      expect((await f.redeem(await submitPasskey(browser, page, c.handle, authenticator.assert(c.options)))).amr).toContain('hwk');
    } finally {
      await setPolicy(POLICY);
    }
  });
});

describe('passkey enrolment at login', () => {
  it('under forceMfa with U2F alone, a user without a passkey adds one during the login, which then goes on: amr hwk + mfa', async () => {
    const user = await newUser();
    await setPolicy({ ...POLICY, forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_U2F'] });
    try {
      const { browser, f, page } = await atSecondFactor(user.email);
      expect(page).toContain('<h1>Add a passkey</h1>');
      expect(page).not.toContain('name="code"');
      const c = ceremonyOnPage(page, 'enrol-passkey')!;
      expect(c.options.user.id).toBeDefined();
      const post = (handle: string, response: unknown, name = 'Phone') =>
        browser.post('/ui/login/second-factor/passkey-enrol', {
          csrf: formField(page, 'csrf')!,
          pending: formField(page, 'pending')!,
          handle,
          response: JSON.stringify(response),
          name,
        });
      const authenticator = new SoftAuthenticator(t.issuer);
      // An answer for another site adds nothing and signs nobody in.
      const wrong = await post(c.handle, authenticator.register(c.options, { origin: 'https://evil.test' }));
      expect(wrong.status).toBe(400);
      const wrongPage = await wrong.text();
      expect(wrongPage).toContain('not valid for this site');
      expect(await t.db.prisma.passkey.count({ where: { userId: user.id } })).toBe(0);
      expect(browser.cookies.has('iam_session')).toBe(false);

      const again = ceremonyOnPage(wrongPage, 'enrol-passkey')!;
      const claims = await f.redeem(await post(again.handle, authenticator.register(again.options)));
      expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'mfa']));
      expect(claims.acr).toBe(MFA);
      expect(await t.db.prisma.passkey.count({ where: { userId: user.id } })).toBe(1);
      expect(await events('mfa.passkey.registered', user.id)).toHaveLength(1);

      // The next login asks for that passkey rather than for a new one.
      const next = await atSecondFactor(user.email);
      expect(ceremonyOnPage(next.page, 'passkey-form')).toBeDefined();
      expect(ceremonyOnPage(next.page, 'enrol-passkey')).toBeUndefined();
    } finally {
      await setPolicy(POLICY);
    }
  });

  it('mfaInitSkipLifetime with U2F alone offers a passkey, with Skip; a wrong answer keeps the offer, a right one signs in with it', async () => {
    await setPolicy({ ...POLICY, secondFactors: ['SECOND_FACTOR_TYPE_U2F'], mfaInitSkipLifetime: '3600s' });
    try {
      const user = await newUser();
      const { browser, f, page } = await atSecondFactor(user.email);
      expect(page).toContain('recommends a second factor');
      expect(page).toContain('id="skip-second-factor"');
      const c = ceremonyOnPage(page, 'enrol-passkey')!;
      const post = (handle: string, response: unknown) =>
        browser.post('/ui/login/second-factor/passkey-enrol', {
          csrf: formField(page, 'csrf')!,
          pending: formField(page, 'pending')!,
          handle,
          response: JSON.stringify(response),
          name: 'Phone',
        });
      const authenticator = new SoftAuthenticator(t.issuer);
      const wrong = await post(c.handle, authenticator.register(c.options, { origin: 'https://evil.test' }));
      expect(wrong.status).toBe(400);
      const wrongPage = await wrong.text();
      expect(wrongPage).toContain('id="skip-second-factor"');
      const again = ceremonyOnPage(wrongPage, 'enrol-passkey')!;
      expect((await f.redeem(await post(again.handle, authenticator.register(again.options)))).amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'mfa']));

      // Another user skips: signed in with the password alone.
      const other = await newUser();
      const offer = await atSecondFactor(other.email);
      const skipped = await offer.browser.post('/ui/login/second-factor/skip', {
        csrf: formField(offer.page, 'csrf')!,
        pending: formField(offer.page, 'pending')!,
      });
      expect((await offer.f.redeem(skipped)).amr).toEqual(['pwd']);
      expect(await t.db.prisma.passkey.count({ where: { userId: other.id } })).toBe(0);
    } finally {
      await setPolicy(POLICY);
    }
  });

  it('a sealed login it does not know, or a form without its CSRF token, enrols nothing', async () => {
    const user = await newUser();
    await setPolicy({ ...POLICY, forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_U2F'] });
    try {
      const { browser, page } = await atSecondFactor(user.email);
      const c = ceremonyOnPage(page, 'enrol-passkey')!;
      const response = JSON.stringify(new SoftAuthenticator(t.issuer).register(c.options));
      const forged = await browser.post('/ui/login/second-factor/passkey-enrol', {
        csrf: formField(page, 'csrf')!,
        pending: 'junk',
        handle: c.handle,
        response,
        name: 'X',
      });
      expect(forged.status).toBe(400);
      const noCsrf = await browser.post('/ui/login/second-factor/passkey-enrol', {
        pending: formField(page, 'pending')!,
        handle: c.handle,
        response,
        name: 'X',
      });
      expect(noCsrf.status).toBe(403);
      expect(await t.db.prisma.passkey.count({ where: { userId: user.id } })).toBe(0);
    } finally {
      await setPolicy(POLICY);
    }
  });
});

describe('passwordless login', () => {
  async function emailPage() {
    const browser = new Browser(t.issuer);
    const f = await flow();
    const start = await browser.get(f.url);
    const html = await (await browser.get(start.headers.get('location')!)).text();
    return { browser, f, html };
  }
  const submit = (browser: Browser, html: string, handle: string, response: unknown) =>
    browser.post('/ui/login/passkey', { csrf: formField(html, 'csrf')!, r: formField(html, 'r')!, handle, response: JSON.stringify(response) });

  it('signs in with a discoverable passkey and user verification: amr hwk+user+mfa, no password', async () => {
    const user = await newUser();
    const authenticator = new SoftAuthenticator(t.issuer);
    expect((await addPasskey(await signedIn(user.email), authenticator)).status).toBe(200);
    const { browser, f, html } = await emailPage();
    const c = ceremonyOnPage(html, 'passkey-login')!;
    expect(c.options.allowCredentials ?? []).toEqual([]);
    expect(c.options.userVerification).toBe('required');
    const claims = await f.redeem(await submit(browser, html, c.handle, authenticator.assert(c.options)));
    expect(claims.sub).toBe(user.id);
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(MFA);
    const validate = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: browser.cookieHeader() } });
    expect(validate.headers['x-forwarded-user-amr']).toBe('hwk,user,mfa');
    // The live session answers the next authorization request without a login.
    const next = await flow();
    const again = await browser.get(next.url);
    expect((await next.redeem(again)).amr).toEqual(['hwk', 'user', 'mfa']);
  });

  it('multiFactorCheckLifetime: a passwordless session older than it is sent back to the login, a younger one is not', async () => {
    const user = await newUser();
    const authenticator = new SoftAuthenticator(t.issuer);
    expect((await addPasskey(await signedIn(user.email), authenticator)).status).toBe(200);
    await setPolicy({ ...POLICY, multiFactorCheckLifetime: '5s' });
    try {
      const { browser, f, html } = await emailPage();
      const c = ceremonyOnPage(html, 'passkey-login')!;
      expect((await f.redeem(await submit(browser, html, c.handle, authenticator.assert(c.options)))).amr).toEqual(['hwk', 'user', 'mfa']);
      const young = await flow();
      expect((await young.redeem(await browser.get(young.url))).sub).toBe(user.id);
      await new Promise((r) => setTimeout(r, 5200));
      const old = await browser.get((await flow()).url);
      expect(old.status).toBe(302);
      expect(old.headers.get('location')).toMatch(/^\/ui\/login\?/);
    } finally {
      await setPolicy(POLICY);
    }
  });

  it('says swk for a synced (backed-up) passkey', async () => {
    const user = await newUser();
    const synced = new SoftAuthenticator(t.issuer, { backedUp: true });
    expect((await addPasskey(await signedIn(user.email), synced)).status).toBe(200);
    const { browser, f, html } = await emailPage();
    const c = ceremonyOnPage(html, 'passkey-login')!;
    expect((await f.redeem(await submit(browser, html, c.handle, synced.assert(c.options)))).amr).toEqual(['swk', 'user', 'mfa']);
  });

  it('refuses without user verification, for an inactive user, and when the policy does not allow it', async () => {
    const user = await newUser();
    const authenticator = new SoftAuthenticator(t.issuer);
    expect((await addPasskey(await signedIn(user.email), authenticator)).status).toBe(200);

    let page = await emailPage();
    let c = ceremonyOnPage(page.html, 'passkey-login')!;
    const noUv = await submit(page.browser, page.html, c.handle, authenticator.assert(c.options, { uv: false }));
    expect(noUv.status).toBe(401);
    expect(page.browser.cookies.has('iam_session')).toBe(false);

    await t.db.prisma.user.update({ where: { id: user.id }, data: { state: 'inactive' } });
    page = await emailPage();
    c = ceremonyOnPage(page.html, 'passkey-login')!;
    const inactive = await submit(page.browser, page.html, c.handle, authenticator.assert(c.options));
    // Refused by the login throttle (the account may not try) or by the end of the login.
    expect([401, 403]).toContain(inactive.status);
    expect(page.browser.cookies.has('iam_session')).toBe(false);
    await t.db.prisma.user.update({ where: { id: user.id }, data: { state: 'active' } });

    await setPolicy({ ...POLICY, passwordlessType: 'PASSWORDLESS_TYPE_NOT_ALLOWED' });
    try {
      const off = await emailPage();
      expect(ceremonyOnPage(off.html, 'passkey-login')).toBeUndefined();
      expect(off.html).not.toContain('passkey.js');
      const refused = await submit(off.browser, off.html, c.handle, authenticator.assert(c.options));
      expect(refused.status).toBe(403);
    } finally {
      await setPolicy(POLICY);
    }
  });

  it('asks for the terms first when the tenant requires them', async () => {
    const user = await newUser();
    const authenticator = new SoftAuthenticator(t.issuer);
    expect((await addPasskey(await signedIn(user.email), authenticator)).status).toBe(200);
    await t.db.prisma.tenant.update({ where: { id: tenantId }, data: { termsRequired: true } });
    try {
      const { browser, html } = await emailPage();
      const c = ceremonyOnPage(html, 'passkey-login')!;
      const res = await submit(browser, html, c.handle, authenticator.assert(c.options));
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Terms of use');
      expect(browser.cookies.has('iam_session')).toBe(false);
    } finally {
      await t.db.prisma.tenant.update({ where: { id: tenantId }, data: { termsRequired: false } });
    }
  });
});

describe('managing passkeys', () => {
  it('renames, refuses to remove the last factor under forceMfa, removes with the password', async () => {
    const user = await newUser();
    const browser = await signedIn(user.email);
    expect((await addPasskey(browser, new SoftAuthenticator(t.issuer), 'Old name')).status).toBe(200);
    const id = (await t.db.prisma.passkey.findFirstOrThrow({ where: { userId: user.id } })).id;
    let page = await (await browser.get('/ui/account/passkeys')).text();
    const csrf = formField(page, 'csrf')!;
    expect((await browser.post('/ui/account/passkeys/rename', { csrf, passkey: id, name: 'New name' })).status).toBe(200);
    expect((await t.db.prisma.passkey.findUniqueOrThrow({ where: { id } })).name).toBe('New name');
    expect((await browser.post('/ui/account/passkeys/rename', { csrf, passkey: id, name: ' ' })).status).toBe(400);
    // One rename, one event: the refused one records nothing.
    expect((await events('mfa.passkey.renamed', user.id)).map((e) => e.details)).toEqual([{ passkeyId: id }]);

    await setPolicy({ ...POLICY, forceMfa: true });
    try {
      const last = await browser.post('/ui/account/passkeys/remove', { csrf, passkey: id, password: PASSWORD });
      expect(last.status).toBe(409);
      expect(await last.text()).toContain('your last one');
      expect(await t.db.prisma.passkey.count({ where: { id } })).toBe(1);
    } finally {
      await setPolicy(POLICY);
    }
    page = await (await browser.get('/ui/account/passkeys')).text();
    expect((await browser.post('/ui/account/passkeys/remove', { csrf, passkey: id, password: 'wrong' })).status).toBe(401);
    expect(await t.db.prisma.passkey.count({ where: { id } })).toBe(1);
    const removed = await browser.post('/ui/account/passkeys/remove', { csrf, passkey: id, password: PASSWORD });
    expect(removed.status).toBe(200);
    expect(await t.db.prisma.passkey.count({ where: { id } })).toBe(0);
    expect(await events('mfa.passkey.removed', user.id)).toHaveLength(1);
  });

  it('under forceMfa keeps the last accepted second factor, TOTP or passkey, whichever page removes it; an admin reset still clears them', async () => {
    const user = await newUser();
    const browser = await signedIn(user.email);
    await enrolFromAccount(browser);
    const removeTotp = async () => {
      const page = await (await browser.get('/ui/account/totp')).text();
      return browser.post('/ui/account/totp/remove', { csrf: formField(page, 'csrf')!, password: PASSWORD });
    };
    const removeKey = async (id: string) => {
      const page = await (await browser.get('/ui/account/passkeys')).text();
      return browser.post('/ui/account/passkeys/remove', { csrf: formField(page, 'csrf')!, passkey: id, password: PASSWORD });
    };
    const totpRow = () => t.db.prisma.userTotp.findFirst({ where: { tenantId, userId: user.id } });
    await setPolicy({ ...POLICY, forceMfa: true });
    try {
      // TOTP alone: its removal is refused, the secret and the recovery codes stay.
      const refused = await removeTotp();
      expect(refused.status).toBe(409);
      expect(await refused.text()).toContain('this is your last one');
      expect((await totpRow())?.confirmedAt).toBeTruthy();
      expect(await t.db.prisma.recoveryCode.count({ where: { tenantId, userId: user.id, usedAt: null } })).toBe(10);
      expect(await events('mfa.totp.removed', user.id)).toHaveLength(0);

      // With a passkey beside it, TOTP may go; then the passkey is the last one.
      expect((await addPasskey(browser, new SoftAuthenticator(t.issuer))).status).toBe(200);
      const id = (await t.db.prisma.passkey.findFirstOrThrow({ where: { userId: user.id } })).id;
      expect((await removeTotp()).status).toBe(200);
      expect(await totpRow()).toBeNull();
      const last = await removeKey(id);
      expect(last.status).toBe(409);
      expect(await last.text()).toContain('this is your last one');
      expect(await t.db.prisma.passkey.count({ where: { id } })).toBe(1);

      // Only the factors the policy accepts count: with U2F alone, TOTP keeps nothing.
      await enrolFromAccount(browser);
      await setPolicy({ ...POLICY, forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_U2F'] });
      expect((await removeKey(id)).status).toBe(409);
      expect(await t.db.prisma.passkey.count({ where: { id } })).toBe(1);
      expect((await removeTotp()).status).toBe(200);
      expect(await totpRow()).toBeNull();

      // The admin's reset through the API is how a user who lost every factor gets back in: not refused.
      expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${user.id}/second-factors`)).statusCode).toBe(204);
      expect(await t.db.prisma.passkey.count({ where: { userId: user.id } })).toBe(0);
    } finally {
      await setPolicy(POLICY);
    }
  });

  it('without forceMfa the last factor may go', async () => {
    const user = await newUser();
    const browser = await signedIn(user.email);
    await enrolFromAccount(browser);
    const page = await (await browser.get('/ui/account/totp')).text();
    expect((await browser.post('/ui/account/totp/remove', { csrf: formField(page, 'csrf')!, password: PASSWORD })).status).toBe(200);
    expect(await t.db.prisma.userTotp.count({ where: { tenantId, userId: user.id } })).toBe(0);
  });

  it("cannot touch another user's passkey", async () => {
    const owner = await newUser();
    expect((await addPasskey(await signedIn(owner.email), new SoftAuthenticator(t.issuer))).status).toBe(200);
    const id = (await t.db.prisma.passkey.findFirstOrThrow({ where: { userId: owner.id } })).id;
    const intruder = await newUser();
    const browser = await signedIn(intruder.email);
    const csrf = formField(await (await browser.get('/ui/account/passkeys')).text(), 'csrf')!;
    expect((await browser.post('/ui/account/passkeys/rename', { csrf, passkey: id, name: 'Mine' })).status).toBe(400);
    expect((await browser.post('/ui/account/passkeys/remove', { csrf, passkey: id, password: PASSWORD })).status).toBe(404);
    expect((await t.db.prisma.passkey.findUniqueOrThrow({ where: { id } })).name).toBe('Laptop');
  });

  it("an admin's reset of second factors removes the passkeys too", async () => {
    const user = await newUser();
    expect((await addPasskey(await signedIn(user.email), new SoftAuthenticator(t.issuer))).status).toBe(200);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${user.id}/second-factors`)).statusCode).toBe(204);
    expect(await t.db.prisma.passkey.count({ where: { userId: user.id } })).toBe(0);
    const reset = await events('mfa.reset', user.id);
    expect((reset.at(-1)!.details as { passkeysRemoved: number }).passkeysRemoved).toBe(1);
  });
});
