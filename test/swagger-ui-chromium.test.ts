// Swagger UI at /docs in a real browser (Debian's Chromium through playwright-core): it carries the product's
// name, not Fastify's logo, and its Content-Security-Policy refuses nothing the page needs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser } from 'playwright-core';
import { chromiumPresent, launchChromium } from './helpers/chromium.js';
import type { TestApp } from './helpers/app.js';
import { startListeningApp } from './helpers/oauth.js';

let t: TestApp & { issuer: string };
let browser: Browser;

beforeAll(async () => {
  if (!chromiumPresent) return;
  t = await startListeningApp();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe.skipIf(!chromiumPresent)('Swagger UI in Chromium', () => {
  it("shows the product's name and the operations, with no console error and no CSP violation", async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    await page.exposeFunction('reportViolation', (v: string) => problems.push(`CSP: ${v}`));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) =>
        (window as unknown as { reportViolation(v: string): void }).reportViolation(`${e.violatedDirective} ${e.blockedURI}`),
      );
    });

    await page.goto(`${t.issuer}/docs`);
    await page.waitForSelector('.opblock-summary', { timeout: 30_000 });
    await page.waitForSelector('#swagger-ui .topbar .topbar-wrapper a.link img', { timeout: 10_000 });

    expect(await page.title()).toBe('PCA IAM API');
    const logo = await page.$eval('#swagger-ui .topbar .topbar-wrapper a.link img', (img) => (img as HTMLImageElement).src);
    expect(Buffer.from(logo.replace(/^data:image\/svg\+xml;base64,/, ''), 'base64').toString()).toContain('PCA IAM');
    expect(await page.$eval('#swagger-ui .topbar', (el) => el.innerHTML)).not.toMatch(/fastify/i);
    // The operations' summaries, as the document gives them.
    expect(await page.textContent('body')).toContain('List users');
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
