// Every kind of hosted page of a branded tenant in Chromium (playwright-core): the tenant's
// logo and name, its colours (the light scheme on every page; the dark one, for a browser that
// prefers it, on the login pages), a label for every input, AA contrast measured on the rendered page, and no console error
// or CSP violation. A wrong code marks the code input invalid and points it at the alert.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, type Page } from 'playwright-core';
import { chromiumPresent, launchChromium, screenshotOnFailure, startCallback } from './helpers/chromium.js';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { createPublicApp, seedUser, startListeningApp, startPkceLogin } from './helpers/oauth.js';
import { totpCode } from './helpers/mfa.js';
import { solidPng } from './helpers/png.js';
import { writeTenantLogo } from '../src/tenants/logo.js';
import { createSetPasswordToken } from '../src/users/invitations.js';

const PASSWORD = 'Correct-Horse-42';
const NAME = 'Brand & Co';
const LIGHT = { primaryColor: '#7a1f5c', backgroundColor: '#eef2f7', fontColor: '#1f2937', warnColor: '#7f1d1d' };
const DARK = { primaryColor: '#1d4ed8', backgroundColor: '#111827', fontColor: '#e5e7eb', warnColor: '#991b1b' };
type Colours = typeof LIGHT;
const BRANDING = {
  ...LIGHT,
  ...Object.fromEntries(Object.entries(DARK).map(([k, v]) => [`${k}Dark`, v])),
};
const rgbOf = (hex: string) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;

let t: TestApp & { issuer: string };
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallback>>;
let clientId: string;
let admin: string;
let tenantId: string;
let danId: string;

beforeAll(async () => {
  if (!chromiumPresent) return;
  t = await startListeningApp();
  tenantId = await createTenant(t, NAME, 'brand');
  await t.db.prisma.tenant.update({ where: { id: tenantId }, data: { branding: BRANDING, termsRequired: true } });
  await writeTenantLogo(t.db.prisma, tenantId, solidPng(120, 40));
  await seedUser(t, tenantId, { email: 'carla@brand.test', password: PASSWORD });
  danId = await seedUser(t, tenantId, { email: 'dan@brand.test', password: PASSWORD });
  callback = await startCallback();
  admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  clientId = await createPublicApp(t, admin, 'Brand SPA', callback.redirectUri);
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await t?.close();
});

async function policy(attributes: Record<string, unknown>) {
  const res = await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes } });
  expect(res.statusCode, res.body).toBe(200);
}

async function authorizationUrl() {
  return (await startPkceLogin(t.issuer, clientId, callback.redirectUri)).url.toString();
}

/**
 * Console errors that are no fault of the page: the browser asks for /favicon.ico on its own,
 * and reports the 4xx status of an error page it was sent to (a subresource's failure still counts).
 */
const expectedNoise = (page: Page, url: string) => url.endsWith('/favicon.ico') || url === page.url();

/** A page that records console errors and CSP violations (Chromium reports those on the console). */
async function watchedPage(b: Browser, colorScheme: 'light' | 'dark' = 'light') {
  const context = await b.newContext({ colorScheme });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !expectedNoise(page, m.location().url)) problems.push(`${m.text()} ${m.location().url}`);
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return { context, page, problems };
}

const submit = (page: Page, selector = 'button[type=submit]:not(.secondary)') => Promise.all([page.waitForNavigation(), page.click(selector)]);

/** The hosted login's email and password steps, from a fresh authorization request. */
async function signIn(page: Page, email: string) {
  await page.goto(await authorizationUrl());
  await page.fill('#email', email);
  await submit(page);
  await page.fill('#password', PASSWORD);
  await submit(page);
}

/** What every branded page must show, in the scheme of `colours`; `kind` names the page in failures. */
async function expectBranded(page: Page, problems: string[], kind: string, colours: Colours = LIGHT) {
  const logo = page.locator('img.logo');
  expect(await logo.getAttribute('alt'), kind).toBe(NAME);
  await expect.poll(() => logo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), { message: kind }).toBe(120);
  const facts = await page.evaluate(() => {
    const unlabelled = [...document.querySelectorAll('input:not([type=hidden]):not([hidden])')]
      .filter((el) => !(el as HTMLInputElement).labels?.length && !el.getAttribute('aria-label'))
      .map((el) => el.outerHTML);
    const rgb = (c: string) => (c.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number);
    const transparent = (c: string) => c === 'transparent' || /rgba\(.*,\s*0\)$/.test(c);
    const lum = (c: number[]) =>
      c
        .map((v) => v / 255)
        .map((s) => (s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4))
        .reduce((acc, s, i) => acc + s * [0.2126, 0.7152, 0.0722][i]!, 0);
    const backgroundOf = (el: Element | null): string => {
      for (let e = el; e; e = e.parentElement) {
        const bg = getComputedStyle(e).backgroundColor;
        if (!transparent(bg)) return bg;
      }
      return 'rgb(255, 255, 255)';
    };
    // Every element that holds text of its own, against the background it is drawn on.
    const texts = [...document.querySelectorAll('.card *')].filter(
      (el) => [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim()) && (el as HTMLElement).offsetParent !== null,
    );
    const contrasts = texts.map((el) => {
      const a = lum(rgb(getComputedStyle(el).color));
      const b = lum(rgb(backgroundOf(el)));
      return { text: el.textContent!.trim().slice(0, 40), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
    });
    const button = document.querySelector('button:not(.secondary)');
    return {
      unlabelled,
      lowContrast: contrasts.filter((c) => c.ratio < 4.5),
      texts: contrasts.length,
      body: getComputedStyle(document.body).backgroundColor,
      card: getComputedStyle(document.querySelector('.card')!).color,
      cardBackground: getComputedStyle(document.querySelector('.card')!).backgroundColor,
      button: button ? getComputedStyle(button).backgroundColor : undefined,
    };
  });
  expect(facts.unlabelled, kind).toEqual([]);
  expect(facts.texts, kind).toBeGreaterThan(0);
  expect(facts.lowContrast, kind).toEqual([]);
  expect(facts.body, kind).toBe(rgbOf(colours.backgroundColor));
  expect(facts.card, kind).toBe(rgbOf(colours.fontColor));
  // The light card stays white; a dark scheme whose font colour reads on its background darkens the card.
  expect(facts.cardBackground, kind).toBe(colours === DARK ? rgbOf(DARK.backgroundColor) : 'rgb(255, 255, 255)');
  if (facts.button) expect(facts.button, kind).toBe(rgbOf(colours.primaryColor));
  expect(problems, kind).toEqual([]);
}

/** After a wrong code: the code input is invalid and described by the announced error, in the tenant's warn colour. */
async function expectWrongCode(page: Page, kind: string, colours: Colours = LIGHT) {
  await page.fill('#code', '000000');
  await submit(page);
  expect(await page.getAttribute('#code', 'aria-invalid'), kind).toBe('true');
  const describedBy = (await page.getAttribute('#code', 'aria-describedby'))!;
  expect(await page.getAttribute(`#${describedBy}`, 'role'), kind).toBe('alert');
  expect(await page.locator(`#${describedBy}`).evaluate((el) => getComputedStyle(el).color), kind).toBe(rgbOf(colours.warnColor));
}

describe.skipIf(!chromiumPresent)('branding on every hosted page', () => {
  it('login, password, forgot, TOTP enrolment, recovery codes, terms, a message page, second factor, account pages and step-up', async () => {
    await policy({ forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_OTP'] });
    const first = await watchedPage(browser);
    const { page, problems } = first;
    let secret = '';
    await screenshotOnFailure(page, 'branding-enrol', async () => {
      await page.goto(await authorizationUrl());
      await expectBranded(page, problems, 'login email');
      await page.fill('#email', 'carla@brand.test');
      await submit(page);
      await page.fill('#password', 'Wrong-Password-1');
      await submit(page);
      await expectBranded(page, problems, 'password with an error');
      expect(await page.locator('.error').evaluate((el) => getComputedStyle(el).color)).toBe(rgbOf(LIGHT.warnColor));

      const forgot = await first.context.newPage();
      forgot.on('console', (m) => m.type() === 'error' && !expectedNoise(forgot, m.location().url) && problems.push(m.text()));
      await forgot.goto(new URL((await page.getAttribute('a[href^="/ui/login/forgot"]', 'href'))!, t.issuer).toString());
      await expectBranded(forgot, problems, 'forgot');
      await forgot.close();

      await page.fill('#password', PASSWORD);
      await submit(page);
      expect(await page.textContent('h1')).toBe('Set up two-factor authentication');
      await expectBranded(page, problems, 'TOTP enrolment');
      secret = (await page.textContent('#totp-secret'))!.trim();
      await expectWrongCode(page, 'TOTP enrolment');
      secret = (await page.textContent('#totp-secret'))!.trim();
      await page.fill('#code', totpCode(secret));
      await submit(page);
      await expectBranded(page, problems, 'recovery codes');
      await submit(page);
      expect(await page.textContent('h1')).toBe('Terms of use');
      await expectBranded(page, problems, 'terms');
      // Sent without accepting (the browser would insist): the message page is the tenant's too.
      await page.$eval('input[name=accept]', (el) => el.removeAttribute('required'));
      await submit(page);
      expect(await page.textContent('h1')).toBe('Terms not accepted');
      await expectBranded(page, problems, 'message page');
    });
    await first.context.close();

    const second = await watchedPage(browser);
    await screenshotOnFailure(second.page, 'branding-account', async () => {
      const { page, problems } = second;
      await signIn(page, 'carla@brand.test');
      expect(await page.textContent('h1')).toBe('Two-factor authentication');
      await expectBranded(page, problems, 'second factor');
      await expectWrongCode(page, 'second factor');
      await page.fill('#code', totpCode(secret, 1));
      await submit(page);
      await page.check('input[name=accept]');
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(callback.redirectUri)), page.click('button[type=submit]')]);

      for (const [path, kind] of [
        ['/ui/account', 'account'],
        ['/ui/account/totp', 'account TOTP'],
        ['/ui/account/passkeys', 'account passkeys'],
      ] as const) {
        await page.goto(`${t.issuer}${path}`);
        await expectBranded(page, problems, kind);
      }

      // A second factor older than the policy allows: the next authorization steps up.
      await policy({ forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_OTP'], secondFactorCheckLifetime: '1s' });
      await new Promise((r) => setTimeout(r, 1500));
      await page.goto(await authorizationUrl());
      expect(page.url()).toContain('/ui/login/step-up');
      await expectBranded(page, problems, 'step-up');
      await expectWrongCode(page, 'step-up');
    });
    await second.context.close();
  }, 120_000);

  it('passkey enrolment at login and the set-password page', async () => {
    await policy({ forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_U2F'] });
    const { context, page, problems } = await watchedPage(browser);
    await screenshotOnFailure(page, 'branding-passkey', async () => {
      await signIn(page, 'dan@brand.test');
      expect(await page.textContent('h1')).toBe('Add a passkey');
      await expectBranded(page, problems, 'passkey enrolment at login');

      const { token } = await createSetPasswordToken(t.db.prisma, tenantId, danId, 3_600_000, new Date(), 'reset');
      await page.goto(`${t.issuer}/ui/set-password?token=${token}`);
      await expectBranded(page, problems, 'set-password');
    });
    await context.close();
    await policy({});
  }, 60_000);

  it('in a browser that prefers the dark scheme: the dark colours, readable, on the login pages and the second factor', async () => {
    await policy({ forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_OTP'] });
    const { context, page, problems } = await watchedPage(browser, 'dark');
    await screenshotOnFailure(page, 'branding-dark', async () => {
      await page.goto(await authorizationUrl());
      await expectBranded(page, problems, 'dark login email', DARK);
      await page.fill('#email', 'carla@brand.test');
      await submit(page);
      await page.fill('#password', 'Wrong-Password-1');
      await submit(page);
      await expectBranded(page, problems, 'dark password with an error', DARK);
      expect(await page.locator('.error').evaluate((el) => getComputedStyle(el).color)).toBe(rgbOf(DARK.warnColor));
      await page.fill('#password', PASSWORD);
      await submit(page);
      expect(await page.textContent('h1')).toBe('Two-factor authentication');
      await expectBranded(page, problems, 'dark second factor', DARK);
      await expectWrongCode(page, 'dark second factor', DARK);
    });
    await context.close();
    await policy({});
  }, 60_000);

  it('a page sent before the tenant is known has the product look: no tenant stylesheet, logo or name', async () => {
    const res = await fetch(`${t.issuer}/ui/set-password?token=${'x'.repeat(43)}`);
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toContain('/ui/assets/style.css');
    expect(body).not.toContain('/ui/assets/brand/');
    expect(body).not.toContain('class="logo"');
    expect(body).not.toContain('Brand &amp; Co');
  });
});
