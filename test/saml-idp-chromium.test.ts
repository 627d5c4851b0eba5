// A person in Chromium: the application's authorize URL, our hosted login (email step),
// routed by the email's domain to a SAML IdP (samlify, behind its own small web server: a
// login page, then the auto-submitted form that posts its signed response to our ACS),
// created just in time with the IdP's roles, and on to the application with a code.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { chromiumPresent, launchChromium, screenshotOnFailure, startCallback } from './helpers/chromium.js';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { freePort, startListeningApp, startPkceLogin } from './helpers/oauth.js';
import { createTestIdp, type TestIdp } from './helpers/saml-idp.js';

let t: TestApp & { issuer: string };
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallback>>;
let idpSite: { origin: string; close(): Promise<void> };
let tenantId: string;
let clientId: string;
let idpId: string;

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * The IdP's web side: GET /sso verifies our signed AuthnRequest and shows a login form; its
 * POST answers with a signed response for the typed email, in the HTTP-POST binding's
 * auto-submitted form to our ACS.
 */
async function startIdpSite(idp: TestIdp, port: number, spMetadata: () => Promise<string>) {
  const pending = new Map<string, { requestId: string; relayState: string }>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, `http://127.0.0.1:${port}`);
    const page = (status: number, body: string) => res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html>${body}`);
    const fail = (err: unknown) => page(400, `<p id="idp-error">${escape((err as Error).message)}</p>`);
    if (req.method === 'GET' && url.pathname === '/sso') {
      spMetadata()
        .then((md) => idp.parseRedirect(url.href, md))
        .then(({ requestId, relayState }) => {
          const ticket = String(pending.size + 1);
          pending.set(ticket, { requestId, relayState });
          page(
            200,
            `<title>Corp SAML IdP</title><form method="post" action="/login"><input type="hidden" name="ticket" value="${ticket}">` +
              '<input name="username"><input name="password" type="password"><button type="submit">Sign in</button></form>',
          );
        }, fail);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/login') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const p = pending.get(form.get('ticket') ?? '');
        if (!p) return page(400, '<p id="idp-error">unknown ticket</p>');
        pending.delete(form.get('ticket')!);
        spMetadata()
          .then((md) => idp.respond(md, p.requestId, form.get('username')!))
          .then((SAMLResponse) =>
            page(
              200,
              `<title>Posting</title><form method="post" action="${t.issuer}/saml/${idpId}/acs">` +
                `<input type="hidden" name="SAMLResponse" value="${escape(SAMLResponse)}"><input type="hidden" name="RelayState" value="${escape(p.relayState)}">` +
                '</form><script>document.forms[0].submit()</script>',
            ),
          )
          .catch(fail);
      });
      return;
    }
    page(404, 'not found');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

beforeAll(async () => {
  if (!chromiumPresent) return;
  t = await startListeningApp();
  tenantId = await createTenant(t, 'Saml Corp', 'samlcorp');
  const admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  callback = await startCallback();
  const app = await call(t.app, admin, 'POST', '/api/v3/applications', {
    data: { attributes: { name: 'Browser SPA', clientType: 'public', redirectUris: [callback.redirectUri] } },
  });
  clientId = app.json().data.attributes.clientId;

  const port = await freePort();
  const idp = await createTestIdp('https://idp.saml-corp.example/metadata', `http://127.0.0.1:${port}/sso`);
  const fd = new FormData();
  fd.append('name', 'Corp SAML IdP');
  fd.append('metadataXmlFile', new Blob([idp.metadata], { type: 'application/xml' }), 'idp.xml');
  fd.append('domains', 'saml-corp.example');
  fd.append('jitProvisioning', 'true');
  fd.append('jitRoles', 'tenant-contributor');
  const added = await fetch(`${t.issuer}/api/v3/idps/saml`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: fd });
  expect(added.status, await added.clone().text()).toBe(200);
  idpId = (await added.json()).id;
  idpSite = await startIdpSite(idp, port, async () => (await fetch(`${t.issuer}/saml/${idpId}/metadata`)).text());

  const policy = await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', {
    data: { type: 'loginPolicy', attributes: { allowDomainDiscovery: true } },
  });
  expect(policy.statusCode, policy.body).toBe(200);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await callback?.close();
  await idpSite?.close();
  await t?.close();
});

describe.skipIf(!chromiumPresent)('domain-routed sign-in at a SAML IdP, in Chromium', () => {
  it('routes an unknown user by email domain, takes the signed assertion, creates the user just in time and returns a code', async () => {
    const { config, verifier, state, url } = await startPkceLogin(t.issuer, clientId, callback.redirectUri, { scope: 'openid profile email' });
    expect(await t.db.prisma.user.count({ where: { tenantId, email: 'nina@saml-corp.example' } })).toBe(0);
    const context = await browser.newContext();
    const page = await context.newPage();
    await screenshotOnFailure(page, 'chromium-saml-idp', async () => {
      await page.goto(url.toString());
      await page.waitForSelector('input[name=email]');
      expect(await page.title()).toContain('Saml Corp');
      await page.fill('input[name=email]', 'nina@saml-corp.example');
      // The email step sends the browser on to the IdP, which verified our signed AuthnRequest before showing its form.
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(`${idpSite.origin}/sso?`), { timeout: 20_000 }), page.click('button[type=submit]')]);
      await page.waitForSelector('input[name=username]', { timeout: 20_000 });
      await page.fill('input[name=username]', 'nina@saml-corp.example');
      await page.fill('input[name=password]', 'anything');
      await Promise.all([page.waitForURL((u) => u.toString().startsWith(callback.redirectUri), { timeout: 20_000 }), page.click('button[type=submit]')]);
      const landed = new URL(page.url());
      expect(landed.searchParams.get('state')).toBe(state);
      const tokens = await client.authorizationCodeGrant(config, landed, { pkceCodeVerifier: verifier, expectedState: state });
      const user = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId, email: 'nina@saml-corp.example' }, include: { roles: true } });
      expect(tokens.claims()?.sub).toBe(user.id);
      expect(tokens.claims()?.amr).toEqual(['ext']);
      expect(user).toMatchObject({ idpId, state: 'active', passwordHash: null });
      expect(user.roles.map((r) => r.roleName)).toEqual(['tenant-contributor']);
      const audit = await t.db.prisma.auditEvent.findMany({ where: { tenantId, targetId: user.id }, select: { action: true } });
      expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['user.jit_created', 'user.saml_assertion_accepted']));
      // The AuthnRequest answered once: nothing pending is left for a replay.
      expect(await t.db.prisma.samlRequest.count({ where: { tenantId, idpId } })).toBe(0);
    });
    await context.close();
  }, 90_000);
});
