// The tenant's logo: uploaded by a tenant admin (PNG or JPEG by their first bytes, at most
// 256 KiB; anything else is 400 and changes nothing), served from this origin with a long
// cache and an ETag, shown on the hosted pages with the tenant's name as alt text (Chromium
// decodes it under the pages' CSP), removed again, and carried through export and import.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser as ChromiumBrowser } from 'playwright-core';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { chromiumPresent, docScreenshot, launchChromium, screenshotOnFailure } from './helpers/chromium.js';
import { startListeningApp } from './helpers/oauth.js';
import { solidPng } from './helpers/png.js';

const URL_ = '/api/v3/tenants/logo';
const NAME = 'Logo & Sons';
const PNG = solidPng(120, 40);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 1)]);
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');

let t: TestApp & { issuer: string };
let tenantId: string;
let admin: string;
let userPat: string;
let analyticsUi: { clientId: string; redirect: string };

const upload = (body: Buffer, type = 'image/png', token = admin) =>
  t.app.inject({ method: 'PUT', url: URL_, headers: { authorization: `Bearer ${token}`, 'content-type': type }, payload: body });
const logoRow = () => t.db.prisma.tenantLogo.findUnique({ where: { tenantId } });

beforeAll(async () => {
  t = await startListeningApp();
  tenantId = await createTenant(t, NAME, 'logo');
  admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  userPat = (await seedServiceAccountPat(t, tenantId, ['tenant-user'])).pat;
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } });
  analyticsUi = { clientId: app.clientId, redirect: app.redirectUris[0]! };
}, 60_000);
afterAll(() => t?.close());

/** The hosted login's first page for the tenant, reached through an authorization request. */
async function loginPageUrl() {
  const config = await client.discovery(new URL(t.issuer), analyticsUi.clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: analyticsUi.redirect,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const res = await fetch(url, { redirect: 'manual' });
  return new URL(res.headers.get('location')!, t.issuer).toString();
}

describe('uploading the logo', () => {
  it('a tenant admin uploads a PNG: stored, audited, served under /ui/ with a long cache and an ETag', async () => {
    const res = await upload(PNG);
    expect(res.statusCode, res.body).toBe(200);
    const { attributes } = res.json().data;
    expect(attributes).toMatchObject({ contentType: 'image/png', size: PNG.length, url: `/ui/assets/logo/${tenantId}?v=${attributes.etag}` });
    expect(Buffer.from((await logoRow())!.data).equals(PNG)).toBe(true);
    const event = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { tenantId, action: 'tenant.logo.updated' } });
    expect(event.details).toMatchObject({ contentType: 'image/png', size: PNG.length });

    const served = await fetch(`${t.issuer}${attributes.url}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(served.headers.get('etag')).toBe(`"${attributes.etag}"`);
    expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);
    const again = await fetch(`${t.issuer}${attributes.url}`, { headers: { 'if-none-match': `"${attributes.etag}"` } });
    expect(again.status).toBe(304);
    // An older version's URL gets the current image, cached only briefly.
    const stale = await fetch(`${t.issuer}/ui/assets/logo/${tenantId}?v=old`);
    expect(stale.headers.get('cache-control')).toBe('public, max-age=300');
  });

  it('accepts a JPEG, recognised by its bytes whatever the declared type', async () => {
    const res = await upload(JPEG, 'application/octet-stream');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().data.attributes.contentType).toBe('image/jpeg');
    expect((await upload(PNG)).statusCode).toBe(200);
  });

  it.each([
    ['an SVG, which can carry script', SVG, 'image/svg+xml', /PNG or JPEG/],
    ['an SVG declared as PNG', SVG, 'image/png', /PNG or JPEG/],
    ['a GIF', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'), 'image/gif', /PNG or JPEG/],
    ['an empty body', Buffer.alloc(0), 'image/png', /empty/],
    ['a PNG over 256 KiB', Buffer.concat([PNG, Buffer.alloc(256 * 1024)]), 'image/png', /at most 262144/],
  ])('refuses %s with 400 and changes nothing', async (_name, body, type, detail) => {
    const before = await snapshot(t.db);
    const res = await upload(body, type);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().errors[0].detail).toMatch(detail);
    expect(res.body).not.toMatch(/prisma|at \w+ \(/i);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('refuses a body that is no image upload (415), a far larger one (413), and a tenant-user (403), changing nothing', async () => {
    const before = await snapshot(t.db);
    expect((await upload(Buffer.from('{}'), 'application/json')).statusCode).toBe(415);
    expect((await upload(Buffer.alloc(600 * 1024), 'image/png')).statusCode).toBe(413);
    expect((await upload(PNG, 'image/png', userPat)).statusCode).toBe(403);
    expect((await call(t.app, userPat, 'DELETE', URL_)).statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('on the hosted pages', () => {
  it('the login page shows the logo, alt text the tenant name, under a CSP allowing images from this site', async () => {
    const res = await fetch(await loginPageUrl());
    const html = await res.text();
    const etag = (await logoRow())!.etag;
    expect(html).toContain(`<img class="logo" src="/ui/assets/logo/${tenantId}?v=${etag}" alt="Logo &amp; Sons">`);
    expect(res.headers.get('content-security-policy')).toContain("img-src 'self'");
  });

  describe.skipIf(!chromiumPresent)('in Chromium', () => {
    let browser: ChromiumBrowser;
    beforeAll(async () => {
      browser = await launchChromium();
    }, 60_000);
    afterAll(() => browser?.close());

    it('decodes and draws the logo', async () => {
      const page = await browser.newPage({ viewport: { width: 800, height: 700 } });
      await screenshotOnFailure(page, 'chromium-tenant-logo', async () => {
        await page.goto(await loginPageUrl());
        const logo = page.locator('img.logo');
        expect(await logo.getAttribute('alt')).toBe(NAME);
        await expect.poll(() => logo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(120);
        const box = await logo.boundingBox();
        expect(box!.width).toBeGreaterThan(0);
        await docScreenshot(page, 'tenant-logo-login');
      });
      await page.close();
    }, 60_000);
  });

  it('DELETE removes it: 204, audited, the page shows none and its URL answers 404', async () => {
    expect((await call(t.app, admin, 'DELETE', URL_)).statusCode).toBe(204);
    expect(await logoRow()).toBeNull();
    expect(await t.db.prisma.auditEvent.count({ where: { tenantId, action: 'tenant.logo.deleted' } })).toBe(1);
    expect(await (await fetch(await loginPageUrl())).text()).not.toContain('class="logo"');
    expect((await fetch(`${t.issuer}/ui/assets/logo/${tenantId}`)).status).toBe(404);
    // Removing again is no error.
    expect((await call(t.app, admin, 'DELETE', URL_)).statusCode).toBe(204);
  });
});

describe('export and import', () => {
  it('carries the logo bytes in the pca section, base64, to another server; a bad one there is reported and not written', async () => {
    expect((await upload(PNG)).statusCode).toBe(200);
    const exported = await t.app.inject({
      method: 'POST',
      url: '/admin/v1/export',
      headers: { authorization: `Bearer ${t.adminPat}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ orgIds: [tenantId] }),
    });
    expect(exported.statusCode, exported.body).toBe(200);
    const doc = exported.json();
    expect(doc.orgs[0].pca.logo).toBe(PNG.toString('base64'));

    const dst = await startTestApp();
    try {
      const importInto = (orgs: unknown) =>
        dst.app.inject({
          method: 'POST',
          url: '/admin/v1/import',
          headers: { authorization: `Bearer ${dst.adminPat}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ orgs }),
        });
      const res = await importInto(doc.orgs);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().orgs[0]).toMatchObject({ status: 'imported', errors: [] });
      const row = await dst.db.prisma.tenantLogo.findUniqueOrThrow({ where: { tenantId } });
      expect(Buffer.from(row.data).equals(PNG)).toBe(true);
      expect(row.contentType).toBe('image/png');

      // The upload's rules apply to an import: an SVG is reported and the tenant keeps its logo.
      const bad = structuredClone(doc.orgs);
      bad[0].pca.logo = SVG.toString('base64');
      const refused = await importInto(bad);
      expect(refused.statusCode, refused.body).toBe(200);
      expect(refused.json().orgs[0].errors).toEqual([expect.objectContaining({ type: 'pca', field: 'logo', message: expect.stringMatching(/PNG or JPEG/) })]);
      expect(Buffer.from((await dst.db.prisma.tenantLogo.findUniqueOrThrow({ where: { tenantId } })).data).equals(PNG)).toBe(true);
    } finally {
      await dst.close();
    }
  }, 120_000);
});
