// TOTP second factor through the hosted login over real HTTP: enrolment, the code step,
// no reuse, recovery codes, throttling, step-up and forced enrolment; openid-client reads
// amr/acr from the ID token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { Browser, formField, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';
import { codesOnPage, enrolFromAccount, secretOnPage, totpCode } from './helpers/mfa.js';

let t: TestApp & { issuer: string };
let tenantId: string;
let admin: string;
let analyticsUi: { clientId: string; redirect: string };
const PASSWORD = 'Correct-Horse-42';
const MFA = 'urn:pca:acr:mfa';
let n = 0;

beforeAll(async () => {
  t = await startListeningApp({ LOGIN_MAX_FAILURES: '5' });
  tenantId = await createTenant(t, 'Otp Tenant', 'otp');
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } });
  analyticsUi = { clientId: app.clientId, redirect: app.redirectUris[0]! };
  admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
}, 60_000);
afterAll(() => t?.close());

async function newUser() {
  const email = `user${++n}@otp.test`;
  const id = await seedUser(t, tenantId, { email, password: PASSWORD });
  return { email, id };
}

async function flow(extra: Record<string, string> = {}) {
  const config = await client.discovery(new URL(t.issuer), analyticsUi.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client
    .buildAuthorizationUrl(config, {
      redirect_uri: analyticsUi.redirect,
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    })
    .toString();
  const redeem = async (res: Response) => {
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(analyticsUi.redirect);
    const tokens = await client.authorizationCodeGrant(config, location, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    return tokens.claims()!;
  };
  return { url, redeem };
}

/** Signs in with the password only (the user has no second factor) and returns the browser with its session. */
async function signedIn(email: string) {
  const browser = new Browser(t.issuer);
  const f = await flow();
  const claims = await f.redeem(await loginThrough(browser, f.url, email, PASSWORD));
  return { browser, claims };
}

const submitCode = async (browser: Browser, page: string, code: string) =>
  browser.post('/ui/login/second-factor', { csrf: formField(page, 'csrf')!, pending: formField(page, 'pending')!, code });

const events = (action: string, targetId: string) =>
  t.db.prisma.auditEvent.findMany({ where: { action, targetId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });

describe('TOTP enrolment and login', () => {
  let user: { email: string; id: string };
  let secret: string;
  let codes: string[];

  it('enrols from /ui/account/totp: confirmed by a first code, secret sealed and recovery codes hashed at rest', async () => {
    user = await newUser();
    const { browser, claims } = await signedIn(user.email);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBe('urn:pca:acr:pwd');
    expect(await (await browser.get('/ui/account/totp')).text()).toContain('Two-factor authentication is off');

    // A wrong first code confirms nothing.
    const page = await (await browser.get('/ui/account/totp')).text();
    const enrolPage = await (await browser.post('/ui/account/totp/enrol', { csrf: formField(page, 'csrf')! })).text();
    expect(enrolPage).toMatch(/<img class="qr" src="data:image\/png;base64,/);
    const shown = secretOnPage(enrolPage)!;
    const wrong = await browser.post('/ui/account/totp/confirm', { csrf: formField(enrolPage, 'csrf')!, code: totpCode(shown, 5) });
    expect(wrong.status).toBe(401);
    expect((await t.db.prisma.userTotp.findFirstOrThrow({ where: { userId: user.id } })).confirmedAt).toBeNull();

    ({ secret, codes } = await enrolFromAccount(browser));
    expect(secret).toBe(shown); // the pending secret is kept until confirmed
    expect(new Set(codes).size).toBe(10);
    const row = await t.db.prisma.userTotp.findFirstOrThrow({ where: { userId: user.id } });
    expect(row.confirmedAt).not.toBeNull();
    expect(row.secret.startsWith('v1.')).toBe(true);
    expect(row.secret).not.toContain(secret);
    const stored = await t.db.prisma.recoveryCode.findMany({ where: { userId: user.id } });
    expect(stored).toHaveLength(10);
    for (const c of codes) expect(stored.some((s) => s.codeHash.includes(c) || s.codeHash.includes(c.replace('-', '')))).toBe(false);
    expect(await events('mfa.totp.enrolled', user.id)).toHaveLength(1);
    expect(await (await browser.get('/ui/account/totp')).text()).toContain('Two-factor authentication is on. You have 10 unused recovery codes.');
  });

  it('asks for the code after the password; the ID token says amr pwd+otp+mfa and acr mfa; the same code is refused again', async () => {
    const browser = new Browser(t.issuer);
    const f = await flow();
    const step = await loginThrough(browser, f.url, user.email, PASSWORD);
    expect(step.status).toBe(200);
    const page = await step.text();
    expect(page).toContain('Two-factor authentication');
    expect(browser.cookies.has('iam_session')).toBe(false); // no session before the second factor
    const code = totpCode(secret, 1); // a step later than the enrolment's
    const claims = await f.redeem(await submitCode(browser, page, code));
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe(MFA);
    expect(typeof claims.auth_time).toBe('number');
    expect((await events('mfa.check.succeeded', user.id)).at(-1)?.details).toMatchObject({ method: 'otp' });

    // The same code, in another login: refused (replay).
    const again = new Browser(t.issuer);
    const f2 = await flow();
    const page2 = await (await loginThrough(again, f2.url, user.email, PASSWORD)).text();
    const replay = await submitCode(again, page2, code);
    expect(replay.status).toBe(401);
    expect(await replay.text()).toContain('That code is not valid');
    expect(again.cookies.has('iam_session')).toBe(false);
  });

  it('a recovery code signs in once', async () => {
    const once = async () => {
      const browser = new Browser(t.issuer);
      const f = await flow();
      const page = await (await loginThrough(browser, f.url, user.email, PASSWORD)).text();
      return { res: await submitCode(browser, page, codes[0]!.toUpperCase()), f };
    };
    const first = await once();
    const claims = await first.f.redeem(first.res);
    expect(claims.amr).toContain('mfa');
    expect((await events('mfa.recovery_code.used', user.id)).at(-1)?.details).toMatchObject({ remaining: 9 });
    const second = await once();
    expect(second.res.status).toBe(401);
  });

  it('removing TOTP from the account page needs the current password or a code', async () => {
    const { browser } = await (async () => {
      const b = new Browser(t.issuer);
      const f = await flow();
      const page = await (await loginThrough(b, f.url, user.email, PASSWORD)).text();
      await f.redeem(await submitCode(b, page, codes[1]!));
      return { browser: b };
    })();
    const page = await (await browser.get('/ui/account/totp')).text();
    const bad = await browser.post('/ui/account/totp/remove', { csrf: formField(page, 'csrf')!, password: 'not-the-password' });
    expect(bad.status).toBe(401);
    expect(await t.db.prisma.userTotp.count({ where: { userId: user.id } })).toBe(1);
    const renewed = await browser.post('/ui/account/totp/recovery-codes', { csrf: formField(page, 'csrf')!, password: PASSWORD });
    const fresh = codesOnPage(await renewed.text());
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(codes[2]);
    const regenerated = await events('mfa.recovery_codes.regenerated', user.id);
    expect(regenerated).toHaveLength(1);
    expect(JSON.stringify(regenerated)).not.toContain(fresh[0]);
    const ok = await browser.post('/ui/account/totp/remove', { csrf: formField(page, 'csrf')!, password: PASSWORD });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('Two-factor authentication is off');
    expect(await t.db.prisma.userTotp.count({ where: { userId: user.id } })).toBe(0);
    expect(await t.db.prisma.recoveryCode.count({ where: { userId: user.id } })).toBe(0);
    expect(await events('mfa.totp.removed', user.id)).toHaveLength(1);
  });
});

describe('second-factor throttling', () => {
  it('counts wrong codes with the login throttle: at the limit even the right code is refused', async () => {
    const user = await newUser();
    const { browser } = await signedIn(user.email);
    const { secret } = await enrolFromAccount(browser);
    const other = new Browser(t.issuer);
    const f = await flow();
    const page = await (await loginThrough(other, f.url, user.email, PASSWORD)).text();
    // The password's attempt stays counted until the second factor passes: 1 + 4 wrong codes = 5.
    for (let i = 0; i < 4; i++) expect((await submitCode(other, page, '000000')).status).toBe(401);
    const right = await submitCode(other, page, totpCode(secret, 1));
    expect(right.status).toBe(401);
    const failures = await events('mfa.check.failed', user.id);
    expect(failures.map((e) => (e.details as { reason: string }).reason)).toEqual(['bad_code', 'bad_code', 'bad_code', 'bad_code', 'throttled']);
    expect(other.cookies.has('iam_session')).toBe(false);
  });

  it("wrong codes reaching the tenant's failed-login limit lock the account, recorded as failed_second_factor", async () => {
    const user = await newUser();
    const { browser } = await signedIn(user.email);
    await enrolFromAccount(browser);
    const { lockoutMaxAttempts } = await t.db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } });
    await t.db.prisma.tenant.update({ where: { id: tenantId }, data: { lockoutMaxAttempts: 3 } });
    try {
      const other = new Browser(t.issuer);
      const f = await flow();
      const page = await (await loginThrough(other, f.url, user.email, PASSWORD)).text();
      for (let i = 0; i < 3; i++) await submitCode(other, page, '000000');
      const locked = await events('user.locked', user.id);
      expect(locked.map((e) => e.details)).toEqual([{ reason: 'failed_second_factor' }]);
      expect(locked[0]).toMatchObject({ actorKind: 'user', actorId: user.id, outcome: 'success' });
      expect(other.cookies.has('iam_session')).toBe(false);
    } finally {
      await t.db.prisma.tenant.update({ where: { id: tenantId }, data: { lockoutMaxAttempts } });
    }
  });
});

describe('clock skew', () => {
  it('accepts a code one step in the past, refuses one two steps away either side', async () => {
    const user = await newUser();
    const { browser } = await signedIn(user.email);
    const { secret } = await enrolFromAccount(browser);
    // As if enrolled long ago: the enrolment's own step would refuse older codes as replays.
    await t.db.prisma.userTotp.updateMany({ where: { userId: user.id }, data: { lastUsedStep: null } });
    // Away from a step's edge, so that the steps the codes are made for are the server's too.
    const intoStep = Date.now() % 30_000;
    if (intoStep > 25_000) await new Promise((r) => setTimeout(r, 30_500 - intoStep));
    const other = new Browser(t.issuer);
    const f = await flow();
    const page = await (await loginThrough(other, f.url, user.email, PASSWORD)).text();
    expect((await submitCode(other, page, totpCode(secret, -2))).status).toBe(401);
    expect((await submitCode(other, page, totpCode(secret, 2))).status).toBe(401);
    expect(other.cookies.has('iam_session')).toBe(false);
    const claims = await f.redeem(await submitCode(other, page, totpCode(secret, -1)));
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
  });
});

describe('step-up and the login policy', () => {
  it('acr_values asking for mfa steps a password-only session up (enrolment, as the user has no second factor)', async () => {
    const user = await newUser();
    const { browser } = await signedIn(user.email);

    const silent = await flow({ acr_values: MFA, prompt: 'none' });
    const refused = new URL((await browser.get(silent.url)).headers.get('location')!);
    expect(refused.searchParams.get('error')).toBe('interaction_required');

    const f = await flow({ acr_values: MFA });
    const start = await browser.get(f.url);
    expect(start.status).toBe(302);
    expect(start.headers.get('location')).toMatch(/^\/ui\/login\/step-up\?r=/);
    const enrolPage = await (await browser.get(start.headers.get('location')!)).text();
    const secret = secretOnPage(enrolPage)!;
    const codesPage = await (
      await browser.post('/ui/login/totp', { csrf: formField(enrolPage, 'csrf')!, pending: formField(enrolPage, 'pending')!, code: totpCode(secret) })
    ).text();
    expect(codesOnPage(codesPage)).toHaveLength(10);
    const claims = await f.redeem(await browser.post('/ui/login/continue', { csrf: formField(codesPage, 'csrf')!, passed: formField(codesPage, 'passed')! }));
    expect(claims.acr).toBe(MFA);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);

    // The session now satisfies mfa: the next request is answered at once.
    const direct = await browser.get((await flow({ acr_values: MFA })).url);
    expect(direct.status).toBe(302);
    expect(direct.headers.get('location')).toContain('code=');
  });

  it('secondFactorCheckLifetime: a session whose check is older is asked for the second factor again', async () => {
    const user = await newUser();
    const { browser } = await signedIn(user.email);
    const { codes } = await enrolFromAccount(browser);
    // The password-only session of before the enrolment must now pass the second factor.
    const f = await flow();
    const start = await browser.get(f.url);
    expect(start.headers.get('location')).toMatch(/^\/ui\/login\/step-up/);
    const page = await (await browser.get(start.headers.get('location')!)).text();
    const claims = await f.redeem(await submitCode(browser, page, codes[0]!));
    expect(claims.amr).toContain('otp');
    const session = await t.db.prisma.browserSession.findFirstOrThrow({ where: { userId: user.id, endedAt: null }, orderBy: { createdAt: 'desc' } });
    expect(session.secondFactorAt).not.toBeNull();
    expect(claims.auth_time).toBe(Math.floor(session.authTime.getTime() / 1000)); // the first factor's time stays

    const quick = await browser.get((await flow()).url);
    expect(quick.headers.get('location')).toContain('code=');
    const set = await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', {
      data: { type: 'loginPolicy', attributes: { secondFactorCheckLifetime: '1s' } },
    });
    expect(set.statusCode).toBe(200);
    try {
      await new Promise((r) => setTimeout(r, 1200));
      const stale = await browser.get((await flow()).url);
      expect(stale.headers.get('location')).toMatch(/^\/ui\/login\/step-up/);
    } finally {
      await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes: {} } });
    }
  });

  it('forceMfa makes a user without a second factor enrol TOTP at login', async () => {
    const user = await newUser();
    await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes: { forceMfa: true } } });
    try {
      const browser = new Browser(t.issuer);
      const f = await flow();
      const enrol = await loginThrough(browser, f.url, user.email, PASSWORD);
      expect(enrol.status).toBe(200);
      const enrolPage = await enrol.text();
      expect(enrolPage).toContain('Otp Tenant requires a second factor');
      const secret = secretOnPage(enrolPage)!;
      const wrong = await browser.post('/ui/login/totp', { csrf: formField(enrolPage, 'csrf')!, pending: formField(enrolPage, 'pending')!, code: '123' });
      expect(wrong.status).toBe(401);
      const codesPage = await (
        await browser.post('/ui/login/totp', { csrf: formField(enrolPage, 'csrf')!, pending: formField(enrolPage, 'pending')!, code: totpCode(secret) })
      ).text();
      expect(browser.cookies.has('iam_session')).toBe(false);
      const claims = await f.redeem(await browser.post('/ui/login/continue', { csrf: formField(codesPage, 'csrf')!, passed: formField(codesPage, 'passed')! }));
      expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
      // The Continue is used once: the same form posted again (a replay) signs no one in.
      const replay = await browser.post('/ui/login/continue', { csrf: formField(codesPage, 'csrf')!, passed: formField(codesPage, 'passed')! });
      expect(replay.status).toBe(400);
      expect(replay.headers.get('location')).toBeNull();
      // A forged or waiting token is no "passed" one.
      const forged = await browser.post('/ui/login/continue', { csrf: formField(codesPage, 'csrf')!, passed: formField(enrolPage, 'pending')! });
      expect(forged.status).toBe(400);
    } finally {
      await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes: {} } });
    }
  });

  it('mfaInitSkipLifetime offers a user without a second factor to add one, with Skip; a skip holds for the lifetime', async () => {
    const setPolicy = async (attributes: Record<string, unknown>) =>
      expect((await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes } })).statusCode).toBe(200);
    const offered = async (email: string) => {
      const browser = new Browser(t.issuer);
      const f = await flow();
      const res = await loginThrough(browser, f.url, email, PASSWORD);
      expect(res.status).toBe(200);
      const page = await res.text();
      expect(browser.cookies.has('iam_session')).toBe(false);
      return { browser, f, page };
    };
    const skip = (browser: Browser, page: string) =>
      browser.post('/ui/login/second-factor/skip', { csrf: formField(page, 'csrf')!, pending: formField(page, 'pending')! });
    const user = await newUser();
    await setPolicy({ mfaInitSkipLifetime: '3600s' });
    try {
      const first = await offered(user.email);
      expect(first.page).toContain('Otp Tenant recommends a second factor');
      expect(first.page).toContain('id="skip-second-factor"');
      expect((await first.browser.post('/ui/login/second-factor/skip', { csrf: 'forged', pending: formField(first.page, 'pending')! })).status).toBe(403);
      expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).mfaInitSkippedAt).toBeNull();
      const claims = await first.f.redeem(await skip(first.browser, first.page));
      expect(claims.amr).toEqual(['pwd']);
      const skipped = (await t.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).mfaInitSkippedAt;
      expect(skipped).not.toBeNull();
      expect(await events('mfa.init_skipped', user.id)).toHaveLength(1);

      // Within the lifetime: straight through.
      const again = new Browser(t.issuer);
      const f = await flow();
      expect((await f.redeem(await loginThrough(again, f.url, user.email, PASSWORD))).amr).toEqual(['pwd']);

      // The lifetime over: offered again, and this time taken.
      await t.db.prisma.user.update({ where: { id: user.id }, data: { mfaInitSkippedAt: new Date(skipped!.getTime() - 3601_000) } });
      const later = await offered(user.email);
      const secret = secretOnPage(later.page)!;
      const codesPage = await (
        await later.browser.post('/ui/login/totp', { csrf: formField(later.page, 'csrf')!, pending: formField(later.page, 'pending')!, code: totpCode(secret) })
      ).text();
      const withOtp = await later.f.redeem(
        await later.browser.post('/ui/login/continue', { csrf: formField(codesPage, 'csrf')!, passed: formField(codesPage, 'passed')! }),
      );
      expect(withOtp.amr).toEqual(['pwd', 'otp', 'mfa']);

      // A factor forceMfa requires is no offer: no Skip, and skipping its enrolment is refused.
      const forced = await newUser();
      await setPolicy({ mfaInitSkipLifetime: '3600s', forceMfa: true });
      const must = await offered(forced.email);
      expect(must.page).toContain('Otp Tenant requires a second factor');
      expect(must.page).not.toContain('skip-second-factor');
      const refused = await skip(must.browser, must.page);
      expect(refused.status).toBe(403);
      expect(must.browser.cookies.has('iam_session')).toBe(false);
      expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: forced.id } })).mfaInitSkippedAt).toBeNull();
    } finally {
      await setPolicy({});
    }
  });

  it("an admin resets a user's second factors (tenant-user may not)", async () => {
    const user = await newUser();
    const { browser } = await signedIn(user.email);
    await enrolFromAccount(browser);
    const plain = (await seedServiceAccountPat(t, tenantId, ['tenant-user'])).pat;
    expect((await call(t.app, plain, 'DELETE', `/api/v3/users/${user.id}/second-factors`)).statusCode).toBe(403);
    expect(await t.db.prisma.userTotp.count({ where: { userId: user.id } })).toBe(1);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/00000000-0000-7000-8000-000000000000/second-factors`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${user.id}/second-factors`)).statusCode).toBe(204);
    expect(await t.db.prisma.userTotp.count({ where: { userId: user.id } })).toBe(0);
    expect(await t.db.prisma.recoveryCode.count({ where: { userId: user.id } })).toBe(0);
    expect(await events('mfa.reset', user.id)).toHaveLength(1);
    // Without a second factor the user signs in with the password alone again.
    const f = await flow();
    expect((await f.redeem(await loginThrough(new Browser(t.issuer), f.url, user.email, PASSWORD))).amr).toEqual(['pwd']);
  });
});
