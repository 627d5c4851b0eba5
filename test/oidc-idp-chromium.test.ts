// A person in Chromium: the application's authorize URL, our hosted login (email step),
// routed by the email's domain to the external OpenID Connect IdP (node-oidc-provider's
// login page), back through our callback, created just in time, and on to the application.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { chromiumPresent, docScreenshot, launchChromium, screenshotOnFailure, startCallback } from './helpers/chromium.js';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { createPublicApp, startListeningApp, startPkceLogin } from './helpers/oauth.js';
import { startOidcIdp, type TestOidcIdp } from './helpers/oidc-idp.js';

let t: TestApp & { issuer: string };
let idp: TestOidcIdp;
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallback>>;
let tenantId: string;
let clientId: string;
let idpId: string;
// The tenant's own host, served by the same listener.
const tenantOrigin = () => `http://domaincorp.iam.test:${new URL(t.issuer).port}`;

beforeAll(async () => {
  if (!chromiumPresent) return;
  t = await startListeningApp({ OIDC_IDP_ALLOW_CIDRS: '127.0.0.1/32' });
  tenantId = await createTenant(t, 'Domain Corp', 'domaincorp');
  const admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  callback = await startCallback();
  clientId = await createPublicApp(t, admin, 'Browser SPA', callback.redirectUri);
  // The IdP needs our callback URL, which names the IdP id: add the IdP against a first
  // instance, then restart the IdP on the same issuer with the client registered.
  idp = await startOidcIdp([], {});
  const added = await fetch(`${t.issuer}/api/v3/idps/oidc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Corp IdP',
      issuer: idp.issuer,
      clientId: 'iam',
      clientSecret: 'iam-secret-0123456789',
      domains: ['corp.example'],
      jitProvisioning: true,
      jitRoles: ['tenant-contributor'],
    }),
  });
  expect(added.status, await added.clone().text()).toBe(200);
  idpId = (await added.json()).id;
  const port = Number(new URL(idp.issuer).port);
  await idp.close();
  idp = await startOidcIdp(
    [
      {
        client_id: 'iam',
        client_secret: 'iam-secret-0123456789',
        redirect_uris: [`${t.issuer}/oidc-idp/${idpId}/callback`, `${tenantOrigin()}/oidc-idp/${idpId}/callback`],
      },
    ],
    {
      zoe: { email: 'zoe@corp.example', email_verified: true, given_name: 'Zoe', family_name: 'Zed' },
      una: { email: 'una@corp.example', email_verified: false },
      yan: { email: 'yan@corp.example', email_verified: true, given_name: 'Yan', family_name: 'Yu' },
    },
    port,
  );
  const policy = await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', {
    data: { type: 'loginPolicy', attributes: { allowDomainDiscovery: true } },
  });
  expect(policy.statusCode, policy.body).toBe(200);
  // The tenant's own host ({subdomain}.{BASE_DOMAIN}) resolves to this machine, as a deployment's DNS would.
  browser = await launchChromium(['--host-resolver-rules=MAP *.iam.test 127.0.0.1']);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await idp?.close();
  await t?.close();
});

describe.skipIf(!chromiumPresent)('domain-routed sign-in at an OpenID Connect IdP, in Chromium', () => {
  it('routes an unknown user by email domain, signs in at the IdP, creates the user just in time and returns a code', async () => {
    const { config, verifier, state, url } = await startPkceLogin(t.issuer, clientId, callback.redirectUri, { scope: 'openid profile email' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, 'chromium-oidc-idp', async () => {
      await page.goto(url.toString());
      await page.waitForSelector('input[name=email]');
      expect(await page.title()).toContain('Domain Corp');
      await page.fill('input[name=email]', 'zoe@corp.example');
      expect((await context.cookies(t.issuer)).some((c) => c.name.startsWith('iam_oidc'))).toBe(false);
      await docScreenshot(page, 'login-email-sso');
      // The email step sends the browser on to the IdP's own login page.
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(idp.issuer), { timeout: 20_000 }), page.click('button[type=submit]')]);
      await page.waitForSelector('input[name=login]', { timeout: 20_000 });
      expect((await context.cookies(t.issuer)).filter((c) => c.name.startsWith('iam_oidc_'))).toHaveLength(1);
      await page.fill('input[name=login]', 'zoe');
      await page.fill('input[name=password]', 'anything');
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(callback.redirectUri), { timeout: 20_000 }), page.click('button[type=submit]')]);
      const landed = new URL(page.url());
      expect(landed.searchParams.get('state')).toBe(state);
      const tokens = await client.authorizationCodeGrant(config, landed, { pkceCodeVerifier: verifier, expectedState: state });
      const user = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId, email: 'zoe@corp.example' }, include: { roles: true } });
      expect(tokens.claims()?.sub).toBe(user.id);
      expect(tokens.claims()?.amr).toEqual(['ext']);
      expect(user).toMatchObject({ idpId, idpSubject: 'zoe', firstName: 'Zoe', lastName: 'Zed', state: 'active' });
      expect(user.roles.map((r) => r.roleName)).toEqual(['tenant-contributor']);
      // The state cookie went with its use.
      expect((await context.cookies(t.issuer)).some((c) => c.name.startsWith('iam_oidc'))).toBe(false);
    });
    await context.close();
  }, 90_000);

  it('shows a refused just-in-time creation as the hosted login error page, styled, with no internal detail', async () => {
    const { url } = await startPkceLogin(t.issuer, clientId, callback.redirectUri);
    const context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, 'chromium-oidc-idp-refused', async () => {
      await page.goto(url.toString());
      await page.fill('input[name=email]', 'una@corp.example');
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(idp.issuer), { timeout: 20_000 }), page.click('button[type=submit]')]);
      await page.waitForSelector('input[name=login]', { timeout: 20_000 });
      await page.fill('input[name=login]', 'una');
      await page.fill('input[name=password]', 'anything');
      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.url().startsWith(`${t.issuer}/oidc-idp/${idpId}/callback`), { timeout: 20_000 }),
        page.click('button[type=submit]'),
      ]);
      expect(answer.status()).toBe(403);
      expect(answer.headers()['content-type']).toMatch(/^text\/html/);
      await page.waitForSelector('main.card h1');
      expect(await page.textContent('main.card h1')).toBe('Sign-in failed');
      const message = await page.textContent('main.card p');
      expect(message).toMatch(/did not verify this email address/);
      expect(message).not.toMatch(/errors|stack|prisma/i);
      // The hosted login's stylesheet applies: the card is laid out as on the other pages.
      expect(await page.evaluate(() => getComputedStyle(document.querySelector('main.card')!).maxWidth)).not.toBe('none');
      expect(await t.db.prisma.user.count({ where: { tenantId, email: 'una@corp.example' } })).toBe(0);
    });
    await context.close();
  }, 90_000);

  it("signs in through the tenant's own host: the IdP sends the browser back there, to its state cookie", async () => {
    const { config, verifier, state, url } = await startPkceLogin(t.issuer, clientId, callback.redirectUri);
    const onTenantHost = new URL(url.pathname + url.search, tenantOrigin());
    const context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, 'chromium-oidc-idp-tenant-host', async () => {
      await page.goto(onTenantHost.href);
      await page.fill('input[name=email]', 'yan@corp.example');
      const [toIdp] = await Promise.all([
        page.waitForRequest((r) => r.url().startsWith(`${idp.issuer}/auth?`), { timeout: 20_000 }),
        page.click('button[type=submit]'),
      ]);
      expect(new URL(toIdp.url()).searchParams.get('redirect_uri')).toBe(`${tenantOrigin()}/oidc-idp/${idpId}/callback`);
      // The state cookie belongs to the tenant's host, where the login started.
      expect((await context.cookies(tenantOrigin())).some((c) => c.name.startsWith('iam_oidc_'))).toBe(true);
      expect((await context.cookies(t.issuer)).some((c) => c.name.startsWith('iam_oidc_'))).toBe(false);
      await page.waitForSelector('input[name=login]', { timeout: 20_000 });
      await page.fill('input[name=login]', 'yan');
      await page.fill('input[name=password]', 'anything');
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(callback.redirectUri), { timeout: 20_000 }), page.click('button[type=submit]')]);
      const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
      const user = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId, email: 'yan@corp.example' } });
      expect(tokens.claims()?.sub).toBe(user.id);
      // The browser session is the tenant host's, as after a password sign-in there.
      expect((await context.cookies(tenantOrigin())).some((c) => c.name === 'iam_session')).toBe(true);
      expect((await context.cookies(tenantOrigin())).some((c) => c.name.startsWith('iam_oidc_'))).toBe(false);
    });
    await context.close();
  }, 90_000);
});
