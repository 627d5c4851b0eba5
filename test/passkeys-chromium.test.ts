// Chromium (playwright-core) with its virtual WebAuthn authenticator (CDP): a passkey added
// on /ui/account/passkeys, then a password + passkey login, then a passwordless login;
// openid-client redeems the codes and reads amr/acr from the ID tokens. WebAuthn needs a
// secure context and a domain as RP ID: the app's public URL is http://localhost:<port>.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import * as client from 'openid-client';
import { chromiumPresent, docScreenshot, launchChromium, screenshotOnFailure, startCallback } from './helpers/chromium.js';
import { call, createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';
import { createPublicApp, freePort, seedUser } from './helpers/oauth.js';

const PASSWORD = 'Correct-Horse-42';
const MFA = 'urn:pca:acr:mfa';

let t: TestApp;
let issuer: string;
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallback>>;
let clientId: string;
let forcedAdmin: string;

beforeAll(async () => {
  if (!chromiumPresent) return;
  const port = await freePort();
  issuer = `http://localhost:${port}`;
  t = await startTestApp({ PUBLIC_URL: issuer });
  await t.app.listen({ port, host: 'localhost' });
  const tenantId = await createTenant(t, 'Passkey Browser Tenant', 'pkb');
  await seedUser(t, tenantId, { email: 'petra@pk.test', password: PASSWORD });
  callback = await startCallback();
  const admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  clientId = await createPublicApp(t, admin, 'Passkey SPA', callback.redirectUri);
  const policy = await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', {
    data: {
      type: 'loginPolicy',
      attributes: {
        secondFactors: ['SECOND_FACTOR_TYPE_OTP', 'SECOND_FACTOR_TYPE_U2F'],
        passwordlessType: 'PASSWORDLESS_TYPE_ALLOWED',
        multiFactors: ['MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION'],
      },
    },
  });
  expect(policy.statusCode).toBe(200);
  // A second tenant requires a second factor and allows passkeys alone: its users enrol one at login.
  const forced = await createTenant(t, 'Passkey Forced Tenant', 'pkf');
  await seedUser(t, forced, { email: 'olga@pkf.test', password: PASSWORD });
  forcedAdmin = (await seedServiceAccountPat(t, forced, ['tenant-admin'])).pat;
  const forcedPolicy = await call(t.app, forcedAdmin, 'PUT', '/api/v3/tenants/login-policy', {
    data: { type: 'loginPolicy', attributes: { forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_U2F'] } },
  });
  expect(forcedPolicy.statusCode).toBe(200);
  browser = await launchChromium(['--host-resolver-rules=MAP localhost 127.0.0.1']);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await t?.close();
});

async function authorization(id = clientId) {
  const config = await client.discovery(new URL(issuer), id, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: callback.redirectUri,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const redeem = async (page: Page) => {
    await page.waitForURL((u) => u.toString().startsWith(callback.redirectUri), { timeout: 15_000 });
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    return tokens.claims()!;
  };
  return { url: url.toString(), redeem };
}

const submit = (page: Page, selector = 'button[type=submit]:not(.secondary)') => Promise.all([page.waitForNavigation(), page.click(selector)]);

async function passwordStep(page: Page, url: string, email = 'petra@pk.test') {
  await page.goto(url);
  await page.fill('input[name=email]', email);
  await submit(page, 'form[action="/ui/login"] button[type=submit]');
  await page.fill('input[name=password]', PASSWORD);
  await submit(page);
}

let context: BrowserContext;
let page: Page;

describe.skipIf(!chromiumPresent)('passkeys in Chromium', () => {
  it('adds a passkey on /ui/account/passkeys with the virtual authenticator', async () => {
    context = await browser.newContext();
    page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await screenshotOnFailure(page, 'chromium-passkey-add', async () => {
      const a = await authorization();
      await passwordStep(page, a.url);
      expect((await a.redeem(page)).amr).toEqual(['pwd']);
      await page.goto(`${issuer}/ui/account/passkeys`);
      expect(await page.textContent('#passkeys-none')).toContain('no passkeys');
      await page.fill('#passkey-name', 'Virtual authenticator');
      await Promise.all([page.waitForNavigation(), page.click('#add-passkey button[type=submit]')]);
      expect(await page.textContent('.notice')).toContain('was added');
      expect(await page.textContent('#passkeys .passkey-name')).toBe('Virtual authenticator');
      await docScreenshot(page, 'passkeys-account');
    });
  }, 60_000);

  it('signs in with the password and the passkey as second factor: amr hwk (or swk) + mfa, acr mfa', async () => {
    await context.clearCookies();
    await screenshotOnFailure(page, 'chromium-passkey-second-factor', async () => {
      const a = await authorization();
      await passwordStep(page, a.url);
      expect(await page.textContent('h1')).toBe('Two-factor authentication');
      await docScreenshot(page, 'passkeys-second-factor');
      await page.click('#passkey-form button[type=submit]');
      const claims = await a.redeem(page);
      expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'mfa']));
      expect((claims.amr as string[]).some((m) => m === 'hwk' || m === 'swk')).toBe(true);
      expect(claims.acr).toBe(MFA);
    });
  }, 60_000);

  it('signs in without a password with the discoverable passkey: amr hwk (or swk) + user + mfa', async () => {
    await context.clearCookies();
    await screenshotOnFailure(page, 'chromium-passkey-passwordless', async () => {
      const a = await authorization();
      await page.goto(a.url);
      expect(await page.textContent('#passkey-login button')).toBe('Sign in with a passkey');
      await docScreenshot(page, 'passkeys-login');
      await page.click('#passkey-login button[type=submit]');
      const claims = await a.redeem(page);
      expect(claims.amr).toEqual(expect.arrayContaining(['user', 'mfa']));
      expect(claims.amr).not.toContain('pwd');
      expect((claims.amr as string[]).some((m) => m === 'hwk' || m === 'swk')).toBe(true);
      expect(claims.acr).toBe(MFA);
    });
    await context.close();
  }, 60_000);
});

describe.skipIf(!chromiumPresent)('passkey enrolment at login in Chromium', () => {
  it('forceMfa with U2F alone: a user without a passkey adds one at login, then signs in with it', async () => {
    const forcedClient = await createPublicApp(t, forcedAdmin, 'Forced SPA', callback.redirectUri);
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    const cdp = await ctx.newCDPSession(p);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await screenshotOnFailure(p, 'chromium-passkey-enrol-at-login', async () => {
      const a = await authorization(forcedClient);
      await passwordStep(p, a.url, 'olga@pkf.test');
      expect(await p.textContent('h1')).toBe('Add a passkey');
      expect(await p.locator('input[name=code]').count()).toBe(0);
      await docScreenshot(p, 'passkeys-enrol-at-login');
      await p.fill('#passkey-name', 'Virtual authenticator');
      await p.click('#enrol-passkey button[type=submit]');
      const claims = await a.redeem(p);
      expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'mfa']));
      expect((claims.amr as string[]).some((m) => m === 'hwk' || m === 'swk')).toBe(true);
      expect(claims.acr).toBe(MFA);

      // The next login asks for the passkey just added, and it passes.
      await ctx.clearCookies();
      const b = await authorization(forcedClient);
      await passwordStep(p, b.url, 'olga@pkf.test');
      expect(await p.textContent('h1')).toBe('Two-factor authentication');
      await p.click('#passkey-form button[type=submit]');
      expect((await b.redeem(p)).acr).toBe(MFA);
    });
    await ctx.close();
  }, 60_000);
});
