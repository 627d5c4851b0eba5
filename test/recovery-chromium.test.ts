// Recovery and the account page in a real browser (Debian's Chromium through playwright-core),
// with the reset link read from a real mail (smtp-server in process).
import { type Browser, type Page } from 'playwright-core';
import { chromiumPresent, docScreenshot, launchChromium, screenshotOnFailure } from './helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, startTestApp, type TestApp } from './helpers/app.js';
import { startMailCatcher, type MailCatcher } from './helpers/mail.js';
import { freePort, seedUser } from './helpers/oauth.js';

const PASSWORD = 'Correct-Horse-42';
const NEW_PASSWORD = 'Battery-Staple-77';
const NEWER_PASSWORD = 'Purple-Monkey-58';

let smtp: MailCatcher;
let t: TestApp;
let browser: Browser;
let base: string;

beforeAll(async () => {
  if (!chromiumPresent) return;
  smtp = await startMailCatcher();
  // The tenant's own host, {subdomain}.{BASE_DOMAIN}: *.localhost reaches this machine.
  const port = await freePort();
  base = `http://acme.localhost:${port}`;
  t = await startTestApp({
    BASE_DOMAIN: 'localhost',
    PUBLIC_URL: base,
    SMTP_URL: smtp.url,
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  const tenant = await createTenant(t, 'Acme', 'acme');
  await seedUser(t, tenant, { email: 'carla@acme.test', username: 'carla', password: PASSWORD });
  browser = await launchChromium(['--host-resolver-rules=MAP *.localhost 127.0.0.1']);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await smtp?.close();
});

async function nextMail(after: number): Promise<string> {
  for (let i = 0; i < 200; i++) {
    if (smtp.mails.length > after) return smtp.mails[after]!.text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no mail arrived');
}

/**
 * WCAG 2.1 contrast ratios measured on the rendered page: an element's text against the
 * card behind it, or its border against that card.
 */
function contrastOf(page: Page, selector: string, what: 'color' | 'borderTopColor') {
  return page.evaluate(
    ([sel, prop]) => {
      const rgb = (c: string) => (c.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number);
      const lum = (c: number[]) =>
        c
          .map((v) => v / 255)
          .map((s) => (s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4))
          .reduce((acc, s, i) => acc + s * [0.2126, 0.7152, 0.0722][i]!, 0);
      const el = document.querySelector(sel!)!;
      const card = document.querySelector('.card')!;
      const a = lum(rgb(getComputedStyle(el)[prop as 'color']));
      const b = lum(rgb(getComputedStyle(card).backgroundColor));
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    },
    [selector, what],
  );
}

describe.skipIf(!chromiumPresent)('recovery in Chromium', () => {
  it('forgot password through the real mail, then signs in with the new password; a used link shows no form', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, 'recovery-forgot', async () => {
      await page.goto(`${base}/ui/login`);
      // The login page: labelled inputs that take a username, AA contrast, a visible focus.
      expect(await page.textContent('label[for=email]')).toBe('Email or username');
      expect(await page.getAttribute('#email', 'type')).toBe('text');
      expect(await contrastOf(page, '#email', 'borderTopColor')).toBeGreaterThanOrEqual(3);
      expect(await contrastOf(page, 'label[for=email]', 'color')).toBeGreaterThanOrEqual(4.5);
      expect(await contrastOf(page, 'a[href^="/ui/login/forgot"]', 'color')).toBeGreaterThanOrEqual(4.5);
      await page.focus('#email');
      const outline = await page.$eval('#email', (el) => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth);
      expect(outline).toBe('solid 3px');

      await page.fill('#email', 'carla');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      await Promise.all([page.waitForNavigation(), page.click('text=Forgot password?')]);
      expect(await page.inputValue('#login')).toBe('carla');
      expect(await contrastOf(page, '#forgot-help', 'color')).toBeGreaterThanOrEqual(4.5);
      await docScreenshot(page, 'forgot-password');
      const before = smtp.mails.length;
      await Promise.all([page.waitForNavigation(), page.click('button:has-text("Send reset link")')]);
      expect(await page.textContent('[role=status]')).toContain('If an account with this email or username exists');

      const link = /(http:\/\/acme\.localhost:\d+\/ui\/set-password\?token=[A-Za-z0-9_-]+)/.exec(await nextMail(before))![1]!;
      await page.goto(link);
      expect(await page.textContent('h1')).toBe('Choose a new password');
      // The rules show before anything is typed, tied to the password input.
      expect(await page.textContent('#password-rules')).toMatch(/at least \d+ characters/);
      expect(await page.getAttribute('#password', 'aria-describedby')).toBe('password-rules');
      await page.fill('#password', 'short');
      await page.fill('#confirm', 'short');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      expect(await page.textContent('[role=alert]')).toContain('must be at least');
      expect(await page.getAttribute('#password', 'aria-describedby')).toBe('form-error password-rules');
      await page.fill('#password', NEW_PASSWORD);
      await page.fill('#confirm', NEW_PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      expect(await page.textContent('h1')).toBe('Password set');

      await page.goto(link);
      expect(await page.textContent('main')).toContain('already used');
      expect(await page.locator('form').count()).toBe(0);

      await page.goto(`${base}/ui/login`);
      await page.fill('#email', 'carla@acme.test');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      await page.fill('#password', NEW_PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]:not(.secondary)')]);
      expect(await page.textContent('h1')).toBe('Signed in');
    });
    await context.close();
  }, 90_000);

  it('the account page: sign in and come back, sign out another session, change the password', async () => {
    const mine = await browser.newContext({ userAgent: 'Mine/1.0' });
    const theirs = await browser.newContext({ userAgent: 'Theirs/1.0' });
    const page = await mine.newPage();
    const other = await theirs.newPage();
    const signIn = async (p: Page, password: string) => {
      await p.goto(`${base}/ui/account`);
      expect(new URL(p.url()).pathname).toBe('/ui/login');
      await p.fill('#email', 'carla');
      await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
      await p.fill('#password', password);
      await Promise.all([p.waitForURL(`${base}/ui/account`), p.click('button[type=submit]:not(.secondary)')]);
    };
    await screenshotOnFailure(page, 'recovery-account', async () => {
      await signIn(page, NEW_PASSWORD);
      await signIn(other, NEW_PASSWORD);
      expect(await page.textContent('h1')).toBe('Your account at Acme');
      expect(await page.getAttribute('a[href="/ui/account/totp"]', 'href')).toBe('/ui/account/totp');
      await page.reload();
      // This browser, the other one, and the first test's session.
      expect(await page.locator('tbody tr').count()).toBe(3);
      expect(await page.locator('tbody tr', { hasText: 'Mine/1.0' }).textContent()).toContain('(this browser)');
      expect(await page.textContent('tbody')).toContain('Theirs/1.0');
      // The profile, the sign-in methods, the password form and the sessions: the whole page.
      await docScreenshot(page, 'account', { fullPage: true });

      // The user's own name: a bad one is refused and announced at the inputs, a good one saved.
      await page.$eval('#first-name', (el: HTMLInputElement) => el.removeAttribute('maxlength'));
      await page.fill('#first-name', 'x'.repeat(201));
      await Promise.all([page.waitForNavigation(), page.click('button:has-text("Save name")')]);
      expect(await page.textContent('[role=alert]')).toBe('Enter a first and a last name of at most 200 characters each.');
      expect(await page.getAttribute('#first-name', 'aria-invalid')).toBe('true');
      expect(await page.getAttribute('#current', 'aria-invalid')).toBeNull();
      expect(await page.inputValue('#first-name')).toBe('Test');
      await page.fill('#first-name', 'Carla');
      await page.fill('#last-name', 'Reyes');
      await Promise.all([page.waitForNavigation(), page.click('button:has-text("Save name")')]);
      expect(await page.textContent('[role=status]')).toBe('Your name is saved.');
      expect(await page.inputValue('#last-name')).toBe('Reyes');
      expect(await page.textContent('#admin-managed')).toContain('username and email');

      // Sign out the other browser: its cookie stops working there and at the validate route.
      await Promise.all([page.waitForNavigation(), page.locator('tbody tr', { hasText: 'Theirs/1.0' }).locator('button').click()]);
      expect(await page.textContent('[role=status]')).toContain('The session is signed out');
      const cookie = (await theirs.cookies(base)).find((c) => c.name === 'iam_session')!.value;
      const validate = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: `iam_session=${cookie}` } });
      expect(validate.statusCode).toBe(403);
      await other.goto(`${base}/ui/account`);
      expect(new URL(other.url()).pathname).toBe('/ui/login');

      // Change the password: a wrong current one is refused and announced.
      await page.fill('#current', 'Not-The-Password-1');
      await page.fill('#password', NEWER_PASSWORD);
      await page.fill('#confirm', NEWER_PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('button:has-text("Change password")')]);
      expect(await page.textContent('[role=alert]')).toBe('The current password is not correct.');
      await page.fill('#current', NEW_PASSWORD);
      await page.fill('#password', NEWER_PASSWORD);
      await page.fill('#confirm', NEWER_PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('button:has-text("Change password")')]);
      expect(await page.textContent('[role=status]')).toContain('Your password is changed');
    });
    await mine.close();
    await theirs.close();
  }, 90_000);
});
