import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from './net.js';

/** Debian's Chromium, driven through playwright-core; the files that need it skip without it. */
export const CHROMIUM = '/usr/bin/chromium';
export const chromiumPresent = existsSync(CHROMIUM);
if (!chromiumPresent) console.warn(`SKIPPED: ${CHROMIUM} is absent (apt-get install -y chromium)`);

export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', ...extraArgs] });
}

/** Runs a browser step; on failure, keeps a screenshot of the page in test-artifacts/ for the CI log's reader. */
export async function screenshotOnFailure(page: Page, name: string, run: () => Promise<void>) {
  try {
    await run();
  } catch (err) {
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: `test-artifacts/${name}.png`, fullPage: true }).catch(() => {});
    throw err;
  }
}

/**
 * A screenshot for the docs (docs/img/<name>.png) when UPDATE_SCREENSHOTS=1, else beside the
 * other test artifacts: at 800x700, so that the images stay small and alike; `fullPage` for a
 * page whose point lies below that fold (the whole page, 800 wide).
 */
export async function docScreenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}) {
  const dir = process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/img' : 'test-artifacts';
  mkdirSync(dir, { recursive: true });
  await page.setViewportSize({ width: 800, height: 700 });
  await page.screenshot({ path: `${dir}/${name}.png`, fullPage: opts.fullPage });
}

/** A client's redirect URI that answers "callback reached": where a browser lands after the login. */
export async function startCallback(): Promise<{ redirectUri: string; close(): Promise<void> }> {
  const port = await freePort();
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('callback reached'));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { redirectUri: `http://127.0.0.1:${port}/callback`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
