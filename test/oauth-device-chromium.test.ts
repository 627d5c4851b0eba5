// A real browser (Debian's Chromium through playwright-core) approves a device authorization
// while a real client (openid-client) polls for its tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { chromiumPresent, launchChromium, screenshotOnFailure } from './helpers/chromium.js';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { seedUser, startListeningApp } from './helpers/oauth.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
let t: TestApp & { issuer: string };
let browser: Browser;
let clientId: string;
let userId: string;

beforeAll(async () => {
  if (!chromiumPresent) return;
  t = await startListeningApp({ DEVICE_CODE_INTERVAL_SECONDS: '1' });
  const tenantId = await createTenant(t, 'Device Browser Tenant', 'devicebrowser');
  userId = await seedUser(t, tenantId, { email: 'erin@device.test', password: 'Correct-Horse-42' });
  const admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  const res = await call(t.app, admin, 'POST', '/api/v3/applications', {
    data: { attributes: { name: 'Terminal CLI', clientType: 'public', grantTypes: [GRANT, 'refresh_token'] } },
  });
  clientId = res.json().data.attributes.clientId;
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe.skipIf(!chromiumPresent)('device authorization in Chromium', () => {
  it('opens verification_uri_complete, signs in, approves, and the polling client receives tokens', async () => {
    const config = await client.discovery(new URL(t.issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const res = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
    const polling = client.pollDeviceAuthorizationGrant(config, res, undefined, { signal: AbortSignal.timeout(60_000) });
    const context = await browser.newContext();
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await screenshotOnFailure(page, 'chromium-device', async () => {
      await page.goto(res.verification_uri_complete!);
      await page.waitForSelector('input[name=email]');
      expect(await page.title()).toContain('Device Browser Tenant');
      await page.getByLabel('Email or username').fill('erin@device.test');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      await page.getByLabel('Password').fill('Correct-Horse-42');
      await Promise.all([page.waitForURL((u) => u.pathname === '/ui/device', { timeout: 15_000 }), page.click('button[type=submit]:not(.secondary)')]);
      // The confirmation names the application, the code and what it asks for.
      await page.getByRole('heading', { name: 'Connect Terminal CLI?' }).waitFor();
      expect(await page.textContent('#device-code')).toBe(res.user_code);
      const scopes = await page.getByRole('list', { name: 'It will have access to' }).textContent();
      expect(scopes).toContain('Your name and username');
      expect(scopes).toContain('Stay connected while you are away');
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Approve' }).click()]);
      expect(await page.textContent('h1')).toBe('Device connected');
      expect(cspViolations).toEqual([]);
    });
    const tokens = await polling;
    expect(tokens.claims()?.sub).toBe(userId);
    expect(tokens.claims()?.aud).toBe(clientId);
    expect(tokens.refresh_token).toBeTruthy();
    await context.close();
  }, 90_000);

  it('says so when the code typed is wrong, with the error announced and tied to the field', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, 'chromium-device-wrong', async () => {
      await page.goto(`${t.issuer}/ui/device`);
      await page.getByLabel('Code shown on your device').fill('BCDF-GHJK');
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Continue' }).click()]);
      const alert = page.getByRole('alert');
      expect(await alert.textContent()).toContain('That code is not valid');
      const input = page.getByLabel('Code shown on your device');
      expect(await input.getAttribute('aria-invalid')).toBe('true');
      expect(await input.getAttribute('aria-describedby')).toContain('form-error');
      expect(await input.inputValue()).toBe('BCDF-GHJK');
    });
    await context.close();
  }, 60_000);
});
