// A real browser (Debian's Chromium through playwright-core) through the authorize URL and the hosted login.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { chromiumPresent, launchChromium, screenshotOnFailure, startCallback } from './helpers/chromium.js';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { createPublicApp, seedUser, startListeningApp, startPkceLogin } from './helpers/oauth.js';

let t: TestApp & { issuer: string };
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallback>>;
let redirectUri: string;
let clientId: string;

beforeAll(async () => {
  if (!chromiumPresent) return;
  t = await startListeningApp();
  const tenantId = await createTenant(t, 'Browser Tenant', 'browser');
  await seedUser(t, tenantId, { email: 'chris@browser.test', password: 'Correct-Horse-42', roles: ['tenant-admin'] });
  callback = await startCallback();
  redirectUri = callback.redirectUri;
  const admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  clientId = await createPublicApp(t, admin, 'Browser SPA', redirectUri);
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await t?.close();
});

describe.skipIf(!chromiumPresent)('hosted login in Chromium', () => {
  it('opens the authorize URL, signs in and lands on the redirect URI with a code the client can redeem', async () => {
    const { config, verifier, state, url } = await startPkceLogin(t.issuer, clientId, redirectUri, { scope: 'openid profile' });
    const context = await browser.newContext();
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await screenshotOnFailure(page, 'chromium-login', async () => {
      await page.goto(url.toString());
      await page.waitForSelector('input[name=email]');
      expect(await page.title()).toContain('Browser Tenant');
      await page.fill('input[name=email]', 'chris@browser.test');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      await page.fill('input[name=password]', 'Correct-Horse-42');
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(redirectUri), { timeout: 15_000 }), page.click('button[type=submit]:not(.secondary)')]);
      const landed = new URL(page.url());
      expect(landed.searchParams.get('state')).toBe(state);
      expect(landed.searchParams.get('code')).toBeTruthy();
      expect(await page.textContent('body')).toContain('callback reached');
      expect(cspViolations).toEqual([]);
      const tokens = await client.authorizationCodeGrant(config, landed, { pkceCodeVerifier: verifier, expectedState: state });
      expect(tokens.claims()?.sub).toBeTruthy();
      const cookies = await context.cookies(t.issuer);
      const session = cookies.find((c) => c.name === 'iam_session');
      expect(session?.httpOnly).toBe(true);
      expect(session?.sameSite).toBe('Lax');
    });
    await context.close();
  }, 60_000);

  it('Swagger UI "Authorize" logs an operator in with the code flow and PKCE', async () => {
    await seedUser(t, t.operatorTenantId, { email: 'ops@operator.test', password: 'Correct-Horse-42', roles: ['skylight-admin'] });
    const context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, 'chromium-swagger', async () => {
      await page.goto(`${t.issuer}/docs`);
      await page.click('button.authorize');
      const clientId = page.locator('input[data-name="clientId"]');
      await clientId.waitFor({ timeout: 15_000 });
      expect(await clientId.inputValue()).toBe('swagger-ui');
      const [popup] = await Promise.all([
        context.waitForEvent('page'),
        page
          .locator('.auth-container')
          .filter({ has: page.locator('input[data-name="clientId"]') })
          .locator('button.authorize')
          .click(),
      ]);
      await popup.waitForSelector('input[name=email]', { timeout: 15_000 });
      await popup.fill('input[name=email]', 'ops@operator.test');
      await Promise.all([popup.waitForNavigation(), popup.click('button[type=submit]')]);
      await popup.fill('input[name=password]', 'Correct-Horse-42');
      // The popup lands on oauth2-redirect.html, hands the code to Swagger UI and closes; Swagger UI redeems it.
      const tokenResponse = page.waitForResponse((r) => r.url() === `${t.issuer}/oauth/v2/token`, { timeout: 20_000 });
      await popup.click('button[type=submit]:not(.secondary)');
      const res = await tokenResponse;
      expect(res.status()).toBe(200);
      const tokens = (await res.json()) as { access_token: string };
      await page.locator('button:has-text("Logout")').first().waitFor({ timeout: 20_000 });
      const apiCall = await call(t.app, tokens.access_token, 'GET', '/api/v3/tenants');
      expect(apiCall.statusCode).toBe(200);
    });
    await context.close();
  }, 90_000);
});
