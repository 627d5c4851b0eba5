import { sha256Hex } from '../src/platform/secrets.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { createTestIdp, type TestIdp } from './helpers/saml-idp.js';
import { findSamlRedirect, SAML_BINDING_COOKIE } from '../src/idps/saml-sp.js';
import { allowList, fetchMetadata } from '../src/idps/fetch-metadata.js';
import { unseal } from '../src/idps/sp-keys.js';

let t: TestApp;
let tenantA: string;
let tenantB: string;
let adminA: string;
let adminB: string;
let idpA: TestIdp;
let idpA2: TestIdp;
let metaServer: http.Server;
let metaBase: string;
const users: Record<string, string> = {};

/** A multipart/form-data body as a browser or curl would send it. */
async function multipart(fields: Record<string, string | { file: string; name: string }>) {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string') fd.append(k, v);
    else fd.append(k, new Blob([v.file], { type: 'application/xml' }), v.name);
  }
  const req = new Request('http://x/', { method: 'POST', body: fd });
  return { payload: Buffer.from(await req.arrayBuffer()), headers: { 'content-type': req.headers.get('content-type')! } };
}

async function postIdp(
  token: string,
  fields: Record<string, string | { file: string; name: string }>,
  method: 'POST' | 'PATCH' = 'POST',
  url = '/api/v3/idps/saml',
) {
  const body = await multipart(fields);
  return t.app.inject({ method, url, payload: body.payload, headers: { ...body.headers, authorization: `Bearer ${token}` } });
}

async function seedUser(tenantId: string, email: string) {
  const u = await t.db.prisma.user.create({
    data: { tenantId, username: email, email },
  });
  return u.id;
}

const spMetadata = async (idpId: string) => (await t.app.inject({ method: 'GET', url: `/saml/${idpId}/metadata` })).body;

/** The SAML binding cookie the SP set on the test's browser when it sent it to the IdP (see startLogin). */
let browserBinding: string | undefined;

/** The IdP's form POST from the test's browser, carrying its binding cookie (or `binding`, another browser's). */
function acs(idpId: string, samlResponse: string, relayState?: string, binding = browserBinding) {
  return t.app.inject({
    method: 'POST',
    url: `/saml/${idpId}/acs`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(binding ? { cookie: `${SAML_BINDING_COOKIE}=${binding}` } : {}) },
    payload: new URLSearchParams({ SAMLResponse: samlResponse, ...(relayState !== undefined ? { RelayState: relayState } : {}) }).toString(),
  });
}

beforeAll(async () => {
  t = await startTestApp({ SAML_METADATA_ALLOW_CIDRS: '127.0.0.1/32', SAML_METADATA_MAX_BYTES: '65536' });
  tenantA = await createTenant(t, 'Tenant A');
  tenantB = await createTenant(t, 'Tenant B');
  adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
  adminB = (await seedServiceAccountPat(t, tenantB, ['tenant-admin'])).pat;
  idpA = await createTestIdp('https://idp-a.test/metadata');
  idpA2 = await createTestIdp('https://idp-a2.test/metadata');
  for (const email of ['alice@a.test', 'bob@a.test', 'carol@a.test']) users[email] = await seedUser(tenantA, email);
  users['dave@b.test'] = await seedUser(tenantB, 'dave@b.test');
  metaServer = http.createServer((req, res) => {
    if (req.url === '/idp-a.xml') return res.writeHead(200, { 'content-type': 'application/xml' }).end(idpA.metadata);
    if (req.url === '/big.xml') return res.writeHead(200).end('<x>' + 'a'.repeat(200_000) + '</x>');
    if (req.url === '/redirect') return res.writeHead(302, { location: '/idp-a.xml' }).end();
    if (req.url === '/redirect-internal') return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' }).end();
    if (req.url === '/redirect-file') return res.writeHead(302, { location: 'file:///etc/passwd' }).end();
    if (req.url === '/hang') return; // never answers
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => metaServer.listen(0, '127.0.0.1', r));
  metaBase = `http://127.0.0.1:${(metaServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  metaServer?.closeAllConnections();
  metaServer?.close();
  await t?.close();
});

let idA: string; // idpA in tenant A (by URL)
let idA2: string; // idpA2 in tenant A (by file)

/** The user whose browser session the ACS answer opened (its session cookie, looked up by hash). */
async function signedInUser(res: { cookies: unknown }) {
  const cookie = (res.cookies as { name: string; value: string }[]).find((c) => c.name === 'iam_session');
  if (!cookie) return undefined;
  const row = await t.db.prisma.browserSession.findUnique({ where: { tokenHash: sha256Hex(cookie.value) } });
  return row ? { userId: row.userId, tenantId: row.tenantId } : undefined;
}

describe('IdP management', () => {
  it('adds a SAML IdP from a metadata URL and lists it', async () => {
    const res = await postIdp(adminA, { name: 'Corp IdP', metadataUrl: `${metaBase}/idp-a.xml`, isDefault: 'true' });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toEqual({ id: expect.any(String), isDefault: true, name: 'Corp IdP', type: 'IDENTITY_PROVIDER_TYPE_SAML' });
    idA = body.id;
    const list = await call(t.app, adminA, 'GET', '/api/v3/idps');
    expect(list.statusCode).toBe(200);
    expect(list.json().data.idps).toEqual([
      {
        id: idA,
        name: 'Corp IdP',
        type: 'IDENTITY_PROVIDER_TYPE_SAML',
        isDefault: true,
        state: 'IDP_STATE_ACTIVE',
        entityId: 'https://idp-a.test/metadata',
        domains: [],
        jitProvisioning: false,
        jitRoles: [],
        autoLinkByEmail: false,
      },
    ]);
  });

  it('adds a SAML IdP from a metadata file; the SP key is stored encrypted', async () => {
    const res = await postIdp(adminA, { name: 'Second', metadataXmlFile: { file: idpA2.metadata, name: 'idp.xml' } });
    expect(res.statusCode, res.body).toBe(200);
    idA2 = res.json().id;
    expect(res.json().isDefault).toBe(false);
    const row = await t.db.prisma.identityProvider.findUniqueOrThrow({ where: { id: idA2 } });
    expect(row.spPrivateKeyEnc).not.toContain('PRIVATE KEY');
    expect(unseal(t.app.masterKey, row.spPrivateKeyEnc!, `saml-sp-key:${tenantA}:${idA2}`)).toContain('BEGIN PRIVATE KEY');
    expect(() => unseal(t.app.masterKey, row.spPrivateKeyEnc!, `saml-sp-key:${tenantB}:${idA2}`)).toThrow();
  });

  it('follows a redirect from the metadata URL', async () => {
    const res = await postIdp(adminB, { name: 'B via redirect', metadataUrl: `${metaBase}/redirect` });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('refuses both or neither of metadataUrl / metadataXmlFile with 400, changing nothing', async () => {
    const before = await snapshot(t.db);
    const both = await postIdp(adminA, { name: 'x', metadataUrl: `${metaBase}/idp-a.xml`, metadataXmlFile: { file: idpA.metadata, name: 'm.xml' } });
    expect(both.statusCode).toBe(400);
    expect(both.json().errors[0].detail).toMatch(/Exactly one/);
    const neither = await postIdp(adminA, { name: 'x' });
    expect(neither.statusCode).toBe(400);
    const noName = await postIdp(adminA, { metadataUrl: `${metaBase}/idp-a.xml` });
    expect(noName.statusCode).toBe(400);
    expect(noName.json().errors[0].source.pointer).toBe('/name');
    const badBool = await postIdp(adminA, { name: 'x', metadataUrl: `${metaBase}/idp-a.xml`, isDefault: 'maybe' });
    expect(badBool.statusCode).toBe(400);
    const huge = await postIdp(adminA, { name: 'x', metadataXmlFile: { file: '<x>' + 'a'.repeat(70_000) + '</x>', name: 'm.xml' } });
    expect(huge.statusCode).toBe(413);
    const json = await call(t.app, adminA, 'POST', '/api/v3/idps/saml', { name: 'x', metadataUrl: `${metaBase}/idp-a.xml` });
    expect(json.statusCode).toBe(415);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('refuses invalid metadata with 422: DTDs (XXE, entity expansion), expiry, missing email NameID, no cert, not XML', async () => {
    const before = await snapshot(t.db);
    const xxe = `<?xml version="1.0"?><!DOCTYPE md [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + idpA.metadata.replace(/^<\?xml[^>]*>/, '');
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><x>&lol2;</x>`;
    const cases: [string, string, RegExp][] = [
      ['xxe', xxe, /DTD/],
      ['laughs', laughs, /DTD/],
      ['expired', idpA.metadata.replace('<EntityDescriptor', '<EntityDescriptor validUntil="2020-01-01T00:00:00Z"'), /expired/],
      [
        'no email nameid',
        idpA.metadata.replace(/<NameIDFormat>[^<]*<\/NameIDFormat>/g, '<NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>'),
        /emailAddress/,
      ],
      ['no cert', idpA.metadata.replace(/<KeyDescriptor[\s\S]*?<\/KeyDescriptor>/g, ''), /signing certificate/],
      [
        'no redirect sso',
        idpA.metadata.replace(/<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"[^>]*>(<\/SingleSignOnService>)?/, ''),
        /HTTP-Redirect/,
      ],
      ['not xml', 'hello <', /well-formed/],
      ['an SP', '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><SPSSODescriptor/></EntityDescriptor>', /IDPSSODescriptor/],
    ];
    for (const [label, xml, detail] of cases) {
      const res = await postIdp(adminA, { name: label, metadataXmlFile: { file: xml, name: 'm.xml' } });
      expect(res.statusCode, `${label}: ${res.body}`).toBe(422);
      expect(res.json().errors[0].detail, label).toMatch(detail);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it("accepts the guide's example metadata (mocksaml) once well-formed", async () => {
    const guide = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://saml.example.com/entityid" validUntil="2035-12-02T16:11:14.390Z">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
MIIC4jCCAcoCCQC33wnybT5QZDANBgkqhkiG9w0BAQsFADAyMQswCQYDVQQGEwJV SzEPMA0GA1UECgwGQm94eUhRMRIwEAYDVQQDDAlNb2NrIFNBTUwwIBcNMjIwMjI4 MjE0NjM4WhgPMzAyMTA3MDEyMTQ2MzhaMDIxCzAJBgNVBAYTAlVLMQ8wDQYDVQQK DAZCb3h5SFExEjAQBgNVBAMMCU1vY2sgU0FNTDCCASIwDQYJKoZIhvcNAQEBBQAD ggEPADCCAQoCggEBALGfYettMsct1T6tVUwTudNJH5Pnb9GGnkXi9Zw/e6x45DD0 RuRONbFlJ2T4RjAE/uG+AjXxXQ8o2SZfb9+GgmCHuTJFNgHoZ1nFVXCmb/Hg8Hpd 4vOAGXndixaReOiq3EH5XvpMjMkJ3+8+9VYMzMZOjkgQtAqO36eAFFfNKX7dTj3V pwLkvz6/KFCq8OAwY+AUi4eZm5J57D31GzjHwfjH9WTeX0MyndmnNB1qV75qQR3b 2/W5sGHRv+9AarggJkF+ptUkXoLtVA51wcfYm6hILptpde5FQC8RWY1YrswBWAEZ NfyrR4JeSweElNHg4NVOs4TwGjOPwWGqzTfgTlECAwEAATANBgkqhkiG9w0BAQsF AAOCAQEAAYRlYflSXAWoZpFfwNiCQVE5d9zZ0DPzNdWhAybXcTyMf0z5mDf6FWBW 5Gyoi9u3EMEDnzLcJNkwJAAc39Apa4I2/tml+Jy29dk8bTyX6m93ngmCgdLh5Za4 khuU3AM3L63g7VexCuO7kwkjh/+LqdcIXsVGO6XDfu2QOs1Xpe9zIzLpwm/RNYeX UjbSj5ce/jekpAw7qyVVL4xOyh8AtUW1ek3wIw1MJvEgEPt0d16oshWJpoS1OT8L r/22SvYEo3EmSGdTVGgk3x3s+A0qWAqTcyjr7Q4s/GKYRFfomGwz0TZ4Iw1ZN99M m0eo2USlSRTVl7QHRTuiuSThHpLKQQ==
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>
      urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress
    </md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://mocksaml.com/api/saml/sso"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://mocksaml.com/api/saml/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
    const res = await postIdp(adminB, { name: 'MyFirstSAMLIdP', metadataXmlFile: { file: guide, name: 'mock-saml-metadata.xml' } });
    expect(res.statusCode, res.body).toBe(200);
    const row = await t.db.prisma.identityProvider.findUniqueOrThrow({ where: { id: res.json().id } });
    expect(row).toMatchObject({ tenantId: tenantB, entityId: 'https://saml.example.com/entityid', ssoRedirectUrl: 'https://mocksaml.com/api/saml/sso' });
    expect(row.validUntil?.toISOString()).toBe('2035-12-02T16:11:14.390Z');
  });

  it('keeps one default IdP per tenant (PATCH isDefault)', async () => {
    const res = await postIdp(adminA, { isDefault: 'true' }, 'PATCH', `/api/v3/idps/saml/${idA2}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ id: idA2, isDefault: true, name: 'Second', type: 'IDENTITY_PROVIDER_TYPE_SAML' });
    const list = (await call(t.app, adminA, 'GET', '/api/v3/idps')).json().data.idps;
    expect(list.filter((i: { isDefault: boolean }) => i.isDefault).map((i: { id: string }) => i.id)).toEqual([idA2]);
    const back = await postIdp(adminA, { isDefault: 'true' }, 'PATCH', `/api/v3/idps/saml/${idA}`);
    expect(back.json().isDefault).toBe(true);
    const after = (await call(t.app, adminA, 'GET', '/api/v3/idps')).json().data.idps;
    expect(after.filter((i: { isDefault: boolean }) => i.isDefault).map((i: { id: string }) => i.id)).toEqual([idA]);
  });

  it('keeps tenants apart: another tenant sees, patches and disables nothing of tenant A', async () => {
    const list = (await call(t.app, adminB, 'GET', '/api/v3/idps')).json().data.idps;
    expect(list.map((i: { id: string }) => i.id)).not.toContain(idA);
    const before = await snapshot(t.db);
    expect((await postIdp(adminB, { isDefault: 'true' }, 'PATCH', `/api/v3/idps/saml/${idA}`)).statusCode).toBe(404);
    expect((await call(t.app, adminB, 'DELETE', '/api/v3/idps', { data: { ids: [idA] } })).statusCode).toBe(404);
    expect((await call(t.app, adminB, 'PUT', `/api/v3/users/${users['dave@b.test']}/idps`, { data: { ids: [idA] } })).statusCode).toBe(404);
    expect((await call(t.app, adminB, 'GET', `/api/v3/users/${users['alice@a.test']}/idps`)).statusCode).toBe(404);
    expect((await call(t.app, adminB, 'PATCH', '/api/v3/idps/saml/not-a-uuid', {})).statusCode).toBe(404);
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('metadata URL guard (SSRF)', () => {
  const opts = { timeoutMs: 2000, maxBytes: 65536, allow: allowList([]) };

  it('refuses loopback, private and link-local targets, by literal and by resolved name', async () => {
    for (const url of [
      `${metaBase}/idp-a.xml`,
      'http://10.1.2.3/m',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/m',
      'http://[::ffff:127.0.0.1]/m',
    ]) {
      await expect(fetchMetadata(url, opts), url).rejects.toMatchObject({ status: 422 });
    }
    const port = (metaServer.address() as AddressInfo).port;
    await expect(fetchMetadata(`http://localhost:${port}/idp-a.xml`, opts)).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/private or reserved/),
    });
  });

  it('refuses other schemes and credentials in the URL', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.com/m', 'gopher://x/', 'http://u:p@example.com/m', 'not a url']) {
      await expect(fetchMetadata(url, opts), url).rejects.toMatchObject({ status: 400 });
    }
  });

  it('enforces the size limit and the timeout', async () => {
    const allowed = { ...opts, allow: allowList(['127.0.0.1/32']) };
    await expect(fetchMetadata(`${metaBase}/big.xml`, { ...allowed, maxBytes: 65536 })).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/larger/),
    });
    const started = Date.now();
    await expect(fetchMetadata(`${metaBase}/hang`, { ...allowed, timeoutMs: 300 })).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/within 300 ms/),
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await fetchMetadata(`${metaBase}/idp-a.xml`, allowed)).toContain('IDPSSODescriptor');
  });

  it('through the route: a blocked address or an oversized document is 422 and changes nothing', async () => {
    const before = await snapshot(t.db);
    expect((await postIdp(adminA, { name: 'x', metadataUrl: 'http://127.0.0.2:1/m' })).statusCode).toBe(422);
    expect((await postIdp(adminA, { name: 'x', metadataUrl: `${metaBase}/big.xml` })).statusCode).toBe(422);
    expect((await postIdp(adminA, { name: 'x', metadataUrl: `${metaBase}/missing` })).statusCode).toBe(422);
    // A redirect is checked like the first URL.
    expect((await postIdp(adminA, { name: 'x', metadataUrl: `${metaBase}/redirect-internal` })).statusCode).toBe(422);
    expect((await postIdp(adminA, { name: 'x', metadataUrl: `${metaBase}/redirect-file` })).statusCode).toBe(400);
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('user association', () => {
  it("sets, reads and removes the IdP of a user; at most one; validated against the tenant's enabled IdPs", async () => {
    const alice = users['alice@a.test'];
    const put = await call(t.app, adminA, 'PUT', `/api/v3/users/${alice}/idps`, { data: { ids: [idA] } });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().data.ids).toEqual([idA]);
    const get = await call(t.app, adminA, 'GET', `/api/v3/users/${alice}/idps`);
    expect(get.json().data).toMatchObject({ ids: [idA], idps: [{ id: idA, name: 'Corp IdP', state: 'IDP_STATE_ACTIVE' }] });
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: alice } })).state).toBe('active');

    const before = await snapshot(t.db);
    const two = await call(t.app, adminA, 'PUT', `/api/v3/users/${alice}/idps`, { data: { ids: [idA, idA2] } });
    expect(two.statusCode).toBe(422);
    const foreign = await call(t.app, adminA, 'PUT', `/api/v3/users/${alice}/idps`, { data: { ids: ['00000000-0000-4000-8000-000000000000'] } });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().errors[0].source.pointer).toBe('/data/ids/0');
    expect((await call(t.app, adminA, 'PUT', `/api/v3/users/${alice}/idps`, { data: {} })).statusCode).toBe(400);
    expect((await call(t.app, adminA, 'PUT', `/api/v3/users/${users['dave@b.test']}/idps`, { data: { ids: [] } })).statusCode).toBe(404);
    expect(await snapshot(t.db)).toEqual(before);

    const carol = users['carol@a.test'];
    await call(t.app, adminA, 'PUT', `/api/v3/users/${carol}/idps`, { data: { ids: [idA2] } });
    const removed = await call(t.app, adminA, 'PUT', `/api/v3/users/${carol}/idps`, { data: { ids: [] } });
    expect(removed.statusCode).toBe(200);
    expect(removed.json().data).toEqual({ ids: [], idps: [] });
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: carol } })).idpId).toBeNull();
    await call(t.app, adminA, 'PUT', `/api/v3/users/${users['bob@a.test']}/idps`, { data: { ids: [idA] } });
  });
});

describe('SAML login', () => {
  // The hosted login's step for the test's browser: it sends its binding cookie, if any, and keeps the one set.
  async function startLogin(email: string, authz = 'authz-123') {
    const redirect = await findSamlRedirect(t.app, tenantA, email, authz, browserBinding);
    expect(redirect).toBeDefined();
    expect(redirect!.binding).toMatch(/^[0-9A-Za-z]{43}$/);
    browserBinding = redirect!.binding;
    return redirect!.url;
  }

  it('publishes SP metadata per IdP with its ACS and signing certificate', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/saml/${idA}/metadata` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/samlmetadata+xml');
    expect(res.body).toContain(`entityID="http://auth.iam.test/saml/${idA}/metadata"`);
    expect(res.body).toContain(`Location="http://auth.iam.test/saml/${idA}/acs"`);
    expect(res.body).toContain('AuthnRequestsSigned="true"');
    expect(res.body).toContain('WantAssertionsSigned="true"');
    expect(res.body).toMatch(/<ds:X509Certificate>MII/);
    expect((await t.app.inject({ method: 'GET', url: '/saml/00000000-0000-4000-8000-000000000000/metadata' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/saml/nope/metadata' })).statusCode).toBe(404);
  });

  it('redirects only users associated with an enabled IdP', async () => {
    expect(await findSamlRedirect(t.app, tenantA, 'carol@a.test', 'x')).toBeUndefined();
    expect(await findSamlRedirect(t.app, tenantA, 'nobody@a.test', 'x')).toBeUndefined();
    expect(await findSamlRedirect(t.app, tenantB, 'alice@a.test', 'x')).toBeUndefined();
    const url = new URL(await startLogin('ALICE@a.test'));
    expect(url.origin + url.pathname).toBe('https://idp.test/sso');
    expect(url.searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(url.searchParams.get('Signature')).toBeTruthy();
  });

  it('logs in: signed AuthnRequest → IdP → signed response → ACS → the linked user', async () => {
    const md = await spMetadata(idA);
    const url = await startLogin('alice@a.test', 'authz-42');
    const req = await idpA.parseRedirect(url, md); // the IdP verifies our AuthnRequest signature
    expect(req.relayState).toBe('authz-42');
    expect(req.extract.request.assertionConsumerServiceUrl).toBe(`http://auth.iam.test/saml/${idA}/acs`);
    const response = await idpA.respond(md, req.requestId, 'alice@a.test');
    const res = await acs(idA, response, req.relayState);
    expect(res.statusCode, res.body).toBe(200);
    expect(await signedInUser(res)).toEqual({ userId: users['alice@a.test'], tenantId: tenantA });
    const events = await t.db.prisma.auditEvent.findMany({ where: { tenantId: tenantA, action: 'user.saml_assertion_accepted' } });
    expect(events.map((e) => e.targetId)).toEqual([users['alice@a.test']]);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: users['alice@a.test'] } })).lastLoginAt).not.toBeNull();

    // Replaying the same response is refused.
    const replay = await acs(idA, response, req.relayState);
    expect(replay.statusCode).toBe(403);
    expect(replay.json().errors[0].code).toBe('saml_refused');
  });

  it('signs the AuthnRequest: the IdP rejects a redirect whose parameters were altered', async () => {
    const md = await spMetadata(idA);
    const url = new URL(await startLogin('alice@a.test', 'authz-7'));
    url.searchParams.set('RelayState', 'authz-8');
    await expect(idpA.parseRedirect(url.toString(), md)).rejects.toBeDefined();
  });

  it('accepts one of two concurrent submissions of the same response', async () => {
    const md = await spMetadata(idA);
    const req = await idpA.parseRedirect(await startLogin('alice@a.test', 'c'), md);
    const response = await idpA.respond(md, req.requestId, 'alice@a.test');
    const results = await Promise.all([acs(idA, response, 'c'), acs(idA, response, 'c'), acs(idA, response, 'c')]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 403, 403]);
  });

  it('accepts a response where only the assertion is signed', async () => {
    const md = await spMetadata(idA);
    const req = await idpA.parseRedirect(await startLogin('bob@a.test', ''), md);
    const res = await acs(idA, await idpA.respond(md, req.requestId, 'bob@a.test', { sign: 'assertion' }), '');
    expect(res.statusCode, res.body).toBe(200);
    expect((await signedInUser(res))?.userId).toBe(users['bob@a.test']);
  });

  async function refused(build: (md: string, requestId: string) => Promise<string>, expectDetail: RegExp, idpId = () => idA) {
    const md = await spMetadata(idpId());
    const req = await idpA.parseRedirect(await startLogin('alice@a.test', 'r'), md).catch(async () => {
      throw new Error('parse failed');
    });
    const before = await snapshot(t.db);
    const res = await acs(idpId(), await build(md, req.requestId), 'r');
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json().errors[0].detail).toMatch(expectDetail);
    expect(await snapshot(t.db)).toEqual(before);
    // The refusal did not burn the request: a correct response still works.
    const ok = await acs(idpId(), await idpA.respond(md, req.requestId, 'alice@a.test'), 'r');
    expect(ok.statusCode, ok.body).toBe(200);
  }

  it('refuses an unsigned response', () => refused((md, id) => idpA.respond(md, id, 'alice@a.test', { sign: 'none' }), /signature/i));

  it('refuses a response whose assertion is unsigned (only the response is signed)', () =>
    refused((md, id) => idpA.respond(md, id, 'alice@a.test', { sign: 'response' }), /signature/i));

  it('refuses an altered response (NameID changed after signing)', () =>
    refused(async (md, id) => {
      const xml = Buffer.from(await idpA.respond(md, id, 'alice@a.test'), 'base64').toString('utf8');
      expect(xml).toContain('alice@a.test');
      return Buffer.from(xml.replace(/alice@a\.test/g, 'bob@a.test')).toString('base64');
    }, /signature/i));

  it('refuses a response for another audience', () =>
    refused((md, id) => idpA.respond(md, id, 'alice@a.test', { tags: { Audience: 'https://evil.test/sp' } }), /audience/i));

  it('refuses an expired response', () => {
    const past = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
    return refused(
      (md, id) =>
        idpA.respond(md, id, 'alice@a.test', {
          tags: { IssueInstant: past(20), ConditionsNotBefore: past(20), ConditionsNotOnOrAfter: past(10), SubjectConfirmationDataNotOnOrAfter: past(10) },
        }),
      /expired|NotOnOrAfter|subject confirmation/i,
    );
  });

  it("refuses a response signed by another IdP's key, and one for another IdP's ACS", async () => {
    const forger = await createTestIdp('https://idp-a.test/metadata'); // same entityID, different key
    await refused((md, id) => forger.respond(md, id, 'alice@a.test'), /signature/i);
    await refused(async (_md, id) => idpA2.respond(await spMetadata(idA2), id, 'alice@a.test'), /signature|Destination|audience/i);
  });

  it('refuses a wrong destination, recipient, issuer or unknown InResponseTo', async () => {
    await refused((md, id) => idpA.respond(md, id, 'alice@a.test', { tags: { Destination: 'https://evil.test/acs' } }), /Destination/);
    await refused((md, id) => idpA.respond(md, id, 'alice@a.test', { tags: { SubjectRecipient: 'https://evil.test/acs' } }), /Recipient/);
    await refused((md, id) => idpA.respond(md, id, 'alice@a.test', { tags: { Issuer: 'https://other.test' } }), /issued by another/);
    await refused((md) => idpA.respond(md, '_unknown', 'alice@a.test'), /InResponseTo/);
  });

  it('refuses a response for a user not associated with the IdP, and a tampered RelayState', async () => {
    await refused((md, id) => idpA.respond(md, id, 'carol@a.test'), /associated/);
    const md = await spMetadata(idA);
    const req = await idpA.parseRedirect(await startLogin('alice@a.test', 'authz-1'), md);
    const res = await acs(idA, await idpA.respond(md, req.requestId, 'alice@a.test'), 'authz-evil');
    expect(res.statusCode).toBe(403);
    expect(res.json().errors[0].detail).toMatch(/RelayState/);
  });

  it('refuses the answer posted from a browser that did not start the login, changing nothing', async () => {
    const md = await spMetadata(idA);
    const req = await idpA.parseRedirect(await startLogin('alice@a.test', 'bound'), md);
    const response = await idpA.respond(md, req.requestId, 'alice@a.test');
    const before = await snapshot(t.db);
    for (const other of ['', 'x'.repeat(43), 'A'.repeat(43), browserBinding!.slice(1) + 'x']) {
      const res = await acs(idA, response, 'bound', other);
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json().errors[0].detail).toMatch(/did not start this sign-in/);
      expect(await signedInUser(res)).toBeUndefined();
    }
    expect(await snapshot(t.db)).toEqual(before);
    const row = await t.db.prisma.samlRequest.findUniqueOrThrow({ where: { tenantId_id: { tenantId: tenantA, id: req.requestId } } });
    expect(row.bindingHash).toBe(sha256Hex(browserBinding!));
    const ok = await acs(idA, response, 'bound');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(await signedInUser(ok)).toEqual({ userId: users['alice@a.test'], tenantId: tenantA });
  });

  it('refuses a SAMLResponse with a DTD and garbage input without a 500', async () => {
    const dtd = Buffer.from('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>').toString('base64');
    expect((await acs(idA, dtd)).statusCode).toBe(403);
    expect((await acs(idA, 'not base64 at all!!')).statusCode).toBe(403);
    const empty = await t.app.inject({
      method: 'POST',
      url: `/saml/${idA}/acs`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: '',
    });
    expect(empty.statusCode).toBe(400);
  });

  it('disabling the IdP detaches its users and ends SAML login at once', async () => {
    const md = await spMetadata(idA);
    const req = await idpA.parseRedirect(await startLogin('alice@a.test', 'late'), md);
    const response = await idpA.respond(md, req.requestId, 'alice@a.test');

    const del = await call(t.app, adminA, 'DELETE', '/api/v3/idps', { data: { ids: [idA] } });
    expect(del.statusCode, del.body).toBe(204);
    const list = (await call(t.app, adminA, 'GET', '/api/v3/idps')).json().data.idps;
    expect(list.find((i: { id: string }) => i.id === idA)).toMatchObject({ state: 'IDP_STATE_INACTIVE', isDefault: false });
    for (const email of ['alice@a.test', 'bob@a.test']) {
      const u = await t.db.prisma.user.findUniqueOrThrow({ where: { id: users[email] } });
      expect(u.idpId).toBeNull();
      expect(u.state).toBe('initial'); // no password: must be re-associated or given one
    }
    expect((await acs(idA, response, 'late')).statusCode).toBe(404);
    expect(await findSamlRedirect(t.app, tenantA, 'alice@a.test', 'x')).toBeUndefined();
    expect((await call(t.app, adminA, 'PUT', `/api/v3/users/${users['alice@a.test']}/idps`, { data: { ids: [idA] } })).statusCode).toBe(422);
    expect((await postIdp(adminA, { isDefault: 'true' }, 'PATCH', `/api/v3/idps/saml/${idA}`)).statusCode).toBe(422);
    // Disabling again is harmless; an unknown id is 404 and nothing changes.
    expect((await call(t.app, adminA, 'DELETE', '/api/v3/idps', { data: { ids: [idA] } })).statusCode).toBe(204);
    const before = await snapshot(t.db);
    expect((await call(t.app, adminA, 'DELETE', '/api/v3/idps', { data: { ids: [idA2, '00000000-0000-4000-8000-000000000000'] } })).statusCode).toBe(404);
    expect(await snapshot(t.db)).toEqual(before);
  });
});
