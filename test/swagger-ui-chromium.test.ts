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
    expect(await page.textContent('body')).toContain('Check that the process is alive');
    // Swagger UI renders only the operations near the viewport: scroll through the whole list, and every
    // operation of the document must have been rendered on the way (one that fails to render is missing).
    const rendered = new Set<string>();
    for (let lastY = -1; ;) {
      // An operation's element id ends in "-" and its operationId (the tag before it is escaped).
      for (const id of await page.$$eval('.opblock[id]', (els) => els.map((e) => e.id))) rendered.add(id.slice(id.lastIndexOf('-') + 1));
      const y = await page.evaluate(() => {
        window.scrollBy(0, window.innerHeight / 2);
        return window.scrollY;
      });
      if (y === lastY) break;
      lastY = y;
      await page.waitForTimeout(50);
    }
    const doc = (await (await fetch(`${t.issuer}/docs/json`)).json()) as { paths: Record<string, Record<string, { operationId?: string }>> };
    const expected = Object.values(doc.paths).flatMap((ops) => Object.values(ops).flatMap((op) => op.operationId ?? []));
    expect(expected.length).toBeGreaterThan(100);
    expect(expected.filter((id) => !rendered.has(id))).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
