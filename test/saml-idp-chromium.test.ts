// A person in Chromium: the application's authorize URL, our hosted login (email step),
// routed by the email's domain to a SAML IdP (samlify, behind its own small web server: a
// login page, then the auto-submitted form that posts its signed response to our ACS),
// created just in time with the IdP's roles, and on to the application with a code; then the
// same sign-in started on the tenant's own host, whose binding cookie must reach the ACS on
// PUBLIC_URL's host (SESSION_COOKIE_DOMAIN, as docs/saml-idps.md says).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { chromiumPresent, launchChromium, screenshotOnFailure, startCallback } from './helpers/chromium.js';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { createPublicApp, freePort, startListeningApp, startPkceLogin } from './helpers/oauth.js';
import { createTestIdp, type TestIdp } from './helpers/saml-idp.js';

interface SamlCorp {
  t: TestApp & { issuer: string };
  tenantId: string;
  clientId: string;
  idpId: string;
  idpSite: { origin: string; close(): Promise<void> };
}
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallback>>;
let direct: SamlCorp;
let viaTenantHost: SamlCorp;

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * The IdP's web side: GET /sso verifies our signed AuthnRequest and shows a login form; its
 * POST answers with a signed response for the typed email, in the HTTP-POST binding's
 * auto-submitted form to our ACS.
 */
async function startIdpSite(idp: TestIdp, host: string, port: number, acs: () => string, spMetadata: () => Promise<string>) {
  const pending = new Map<string, { requestId: string; relayState: string }>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, `http://${host}:${port}`);
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
              `<title>Posting</title><form method="post" action="${acs()}">` +
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
  return { origin: `http://${host}:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * A tenant "Saml Corp" (subdomain samlcorp) with a public application, a SAML IdP that claims
 * saml-corp.example and creates its users just in time, and domain discovery on; `idpHost` is
 * the IdP site's host, as the browser reaches it.
 */
async function setUpSamlCorp(env: Record<string, string>, idpHost: string, listenOn?: number): Promise<SamlCorp> {
  const t = await startListeningApp(env, listenOn);
  const publicUrl = env.PUBLIC_URL ?? t.issuer;
  const tenantId = await createTenant(t, 'Saml Corp', 'samlcorp');
  const admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  const clientId = await createPublicApp(t, admin, 'Browser SPA', callback.redirectUri);

  const port = await freePort();
  const idp = await createTestIdp('https://idp.saml-corp.example/metadata', `http://${idpHost}:${port}/sso`);
  const fd = new FormData();
  fd.append('name', 'Corp SAML IdP');
  fd.append('metadataXmlFile', new Blob([idp.metadata], { type: 'application/xml' }), 'idp.xml');
  fd.append('domains', 'saml-corp.example');
  fd.append('jitProvisioning', 'true');
  fd.append('jitRoles', 'tenant-contributor');
  const added = await fetch(`${t.issuer}/api/v3/idps/saml`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: fd });
  expect(added.status, await added.clone().text()).toBe(200);
  const idpId: string = (await added.json()).id;
  const idpSite = await startIdpSite(
    idp,
    idpHost,
    port,
    () => `${publicUrl}/saml/${idpId}/acs`,
    async () => (await fetch(`${t.issuer}/saml/${idpId}/metadata`)).text(),
  );

  const policy = await call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', {
    data: { type: 'loginPolicy', attributes: { allowDomainDiscovery: true } },
  });
  expect(policy.statusCode, policy.body).toBe(200);
  return { t, tenantId, clientId, idpId, idpSite };
}

beforeAll(async () => {
  if (!chromiumPresent) return;
  callback = await startCallback();
  direct = await setUpSamlCorp({}, '127.0.0.1');
  // A deployment's names: PUBLIC_URL on iam.test, tenants on {subdomain}.iam.test, the IdP on
  // idp.iam.test, all resolving to this machine; the cookies span them through SESSION_COOKIE_DOMAIN.
  const port = await freePort();
  viaTenantHost = await setUpSamlCorp(
    { PUBLIC_URL: `http://iam.test:${port}`, BASE_DOMAIN: 'iam.test', SESSION_COOKIE_DOMAIN: '.iam.test' },
    'idp.iam.test',
    port,
  );
  browser = await launchChromium(['--host-resolver-rules=MAP *.iam.test 127.0.0.1, MAP iam.test 127.0.0.1']);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await callback?.close();
  for (const corp of [direct, viaTenantHost]) {
    await corp?.idpSite.close();
    await corp?.t.close();
  }
});

/**
 * Nina, unknown to the tenant, from the authorization URL `start` in a fresh browser context: the email
 * step, the IdP's form, our ACS, and the application's callback with a code for her, created just in time.
 */
async function signInAsNina(corp: SamlCorp, start: URL, login: Awaited<ReturnType<typeof startPkceLogin>>) {
  const { t, tenantId, idpId, idpSite } = corp;
  const { config, verifier, state } = login;
  expect(await t.db.prisma.user.count({ where: { tenantId, email: 'nina@saml-corp.example' } })).toBe(0);
  const context = await browser.newContext();
  const page = await context.newPage();
  await screenshotOnFailure(page, `chromium-saml-idp-${start.hostname}`, async () => {
    await page.goto(start.toString());
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
  return context;
}

describe.skipIf(!chromiumPresent)('domain-routed sign-in at a SAML IdP, in Chromium', () => {
  it('routes an unknown user by email domain, takes the signed assertion, creates the user just in time and returns a code', async () => {
    const login = await startPkceLogin(direct.t.issuer, direct.clientId, callback.redirectUri, { scope: 'openid profile email' });
    await (await signInAsNina(direct, login.url, login)).close();
  }, 90_000);

  it("completes when started on the tenant's own host: the binding cookie reaches the ACS on PUBLIC_URL's host", async () => {
    const { t } = viaTenantHost;
    const publicOrigin = t.app.config.PUBLIC_URL;
    // The client reaches the server by its address; the documents name PUBLIC_URL, the issuer it checks.
    const discovered = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).text();
    const metadata = JSON.parse(discovered.replaceAll(publicOrigin, t.issuer)) as client.ServerMetadata;
    const config = new client.Configuration({ ...metadata, issuer: publicOrigin }, viaTenantHost.clientId, undefined, client.None());
    client.allowInsecureRequests(config);
    const login = await startPkceLogin(config, viaTenantHost.clientId, callback.redirectUri, { scope: 'openid profile email' });
    const tenantHost = new URL(login.url.pathname + login.url.search, `http://samlcorp.iam.test:${new URL(t.issuer).port}`);
    const context = await signInAsNina(viaTenantHost, tenantHost, login);
    // The session the ACS began is the tenant host's too: its cookie spans SESSION_COOKIE_DOMAIN.
    const session = (await context.cookies(tenantHost.origin)).find((c) => c.name === 'iam_session');
    expect(session?.domain).toBe('.iam.test');
    await context.close();
  }, 90_000);
});
