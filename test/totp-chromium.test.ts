// Chromium (playwright-core) through TOTP: enrolment on /ui/account/totp, a password + TOTP
// login with codes computed from the enrolment secret, and a step-up asked by acr_values;
// openid-client redeems the codes and reads amr/acr from the ID tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { chromiumPresent, docScreenshot, launchChromium, screenshotOnFailure, startCallback } from './helpers/chromium.js';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { createPublicApp, seedUser, startListeningApp, startPkceLogin } from './helpers/oauth.js';
import { totpCode } from './helpers/mfa.js';

const PASSWORD = 'Correct-Horse-42';
const MFA = 'urn:pca:acr:mfa';

let t: TestApp & { issuer: string };
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallback>>;
let redirectUri: string;
let clientId: string;
let admin: string;

beforeAll(async () => {
  if (!chromiumPresent) return;
  t = await startListeningApp();
  const tenantId = await createTenant(t, 'Totp Tenant', 'totp');
  await seedUser(t, tenantId, { email: 'tina@totp.test', password: PASSWORD });
  await seedUser(t, tenantId, { email: 'sam@totp.test', password: PASSWORD });
  await seedUser(t, tenantId, { email: 'olga@totp.test', password: PASSWORD });
  callback = await startCallback();
  redirectUri = callback.redirectUri;
  admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  clientId = await createPublicApp(t, admin, 'Totp SPA', redirectUri);
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await t?.close();
});

async function authorization(extra: Record<string, string> = {}) {
  const { config, verifier, state, url } = await startPkceLogin(t.issuer, clientId, redirectUri, { scope: 'openid profile', ...extra });
  const redeem = async (page: Page) => {
    await page.waitForURL((u) => u.toString().startsWith(redirectUri), { timeout: 15_000 });
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
    return tokens.claims()!;
  };
  return { url: url.toString(), redeem };
}

const submit = (page: Page) => Promise.all([page.waitForNavigation(), page.click('button[type=submit]:not(.secondary)')]);

async function passwordStep(page: Page, url: string, email: string) {
  await page.goto(url);
  await page.fill('input[name=email]', email);
  await submit(page);
  await page.fill('input[name=password]', PASSWORD);
  await submit(page);
}

let secret = '';
let recoveryCodes: string[] = [];
let context: BrowserContext;

describe.skipIf(!chromiumPresent)('TOTP in Chromium', () => {
  it('enrols on /ui/account/totp after a password login, reading the secret off the page', async () => {
    context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, 'chromium-totp-enrol', async () => {
      const a = await authorization();
      await passwordStep(page, a.url, 'tina@totp.test');
      expect((await a.redeem(page)).amr).toEqual(['pwd']);
      await page.goto(`${t.issuer}/ui/account/totp`);
      expect(await page.textContent('#totp-status')).toContain('off');
      await submit(page);
      expect(await page.locator('img.qr').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
      secret = (await page.textContent('#totp-secret'))!.trim();
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      await page.fill('input[name=code]', totpCode(secret));
      await docScreenshot(page, 'totp-enrol');
      await submit(page);
      expect(await page.locator('#recovery-codes li').count()).toBe(10);
      recoveryCodes = await page.locator('#recovery-codes li').allTextContents();
      await docScreenshot(page, 'totp-recovery-codes');
      await submit(page);
      expect(await page.textContent('#totp-status')).toContain('Two-factor authentication is on');
    });
  }, 60_000);

  it('signs in with the password and a TOTP code; the ID token has amr otp and acr mfa', async () => {
    const fresh = await browser.newContext();
    const page = await fresh.newPage();
    await screenshotOnFailure(page, 'chromium-totp-login', async () => {
      const a = await authorization();
      await passwordStep(page, a.url, 'tina@totp.test');
      expect(await page.textContent('h1')).toBe('Two-factor authentication');
      await page.fill('input[name=code]', totpCode(secret, 1));
      await docScreenshot(page, 'totp-login');
      await page.click('button[type=submit]');
      const claims = await a.redeem(page);
      expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
      expect(claims.acr).toBe(MFA);
    });
    await fresh.close();
    await context.close();
  }, 60_000);

  it('signs in with a recovery code instead of the TOTP code, once', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await screenshotOnFailure(page, 'chromium-recovery-code', async () => {
      const code = recoveryCodes[0]!;
      expect(code).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
      const a = await authorization();
      await passwordStep(page, a.url, 'tina@totp.test');
      expect(await page.textContent('main')).toContain('or one of your recovery codes');
      await page.fill('input[name=code]', code);
      await docScreenshot(page, 'recovery-code-entry');
      await page.click('button[type=submit]');
      expect((await a.redeem(page)).acr).toBe(MFA);

      // The same code again is refused: it was used up.
      await ctx.clearCookies();
      const b = await authorization();
      await passwordStep(page, b.url, 'tina@totp.test');
      await page.fill('input[name=code]', code);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      expect(await page.textContent('[role=alert]')).toContain('That code is not valid');
    });
    await ctx.close();
  }, 60_000);

  it('steps a password-only session up when the client asks for acr_values mfa', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await screenshotOnFailure(page, 'chromium-step-up', async () => {
      const first = await authorization();
      await passwordStep(page, first.url, 'sam@totp.test');
      expect((await first.redeem(page)).acr).toBe('urn:pca:acr:pwd');
      const stepUp = await authorization({ acr_values: MFA });
      await page.goto(stepUp.url);
      expect(page.url()).toContain('/ui/login/step-up');
      const samSecret = (await page.textContent('#totp-secret'))!.trim();
      await page.fill('input[name=code]', totpCode(samSecret));
      await submit(page);
      expect(await page.locator('#recovery-codes li').count()).toBe(10);
      await page.click('button[type=submit]');
      const claims = await stepUp.redeem(page);
      expect(claims.acr).toBe(MFA);
      expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    });
    await ctx.close();
  }, 60_000);

  it('offers a second factor after the login (mfaInitSkipLifetime); Skip signs in, and the next login is not asked', async () => {
    const policy = (attributes: Record<string, unknown>) =>
      call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes } });
    expect((await policy({ mfaInitSkipLifetime: '3600s' })).statusCode).toBe(200);
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    try {
      await screenshotOnFailure(page, 'chromium-mfa-offer', async () => {
        const first = await authorization();
        await passwordStep(page, first.url, 'olga@totp.test');
        expect(await page.textContent('h1')).toBe('Set up two-factor authentication');
        expect(await page.locator('#totp-secret').count()).toBe(1);
        await Promise.all([page.waitForNavigation(), page.click('#skip-second-factor')]);
        expect((await first.redeem(page)).amr).toEqual(['pwd']);
        // The session answers the next authorization at once; a fresh browser's login is not offered again.
        const fresh = await browser.newContext();
        const other = await fresh.newPage();
        const second = await authorization();
        await passwordStep(other, second.url, 'olga@totp.test');
        expect((await second.redeem(other)).amr).toEqual(['pwd']);
        await fresh.close();
      });
    } finally {
      await ctx.close();
      await policy({});
    }
  }, 60_000);
});
