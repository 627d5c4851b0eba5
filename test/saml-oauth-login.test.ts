// The whole federated login: authorize -> hosted login (email) -> redirect to the user's
// SAML IdP (a real samlify IdP) -> signed response to our ACS -> code -> tokens -> the
// token is accepted by the proxy validation route. Then the invitation link's page.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, call, createTenant } from './helpers/app.js';
import { Browser, formField, seedUser, startListeningApp } from './helpers/oauth.js';
import { createTestIdp, type TestIdp } from './helpers/saml-idp.js';

let t: Awaited<ReturnType<typeof startListeningApp>>;
let tenantId: string;
let idp: TestIdp;
let idpId: string;
let clientId: string;
const redirectUri = 'https://acme.iam.test/login';

beforeAll(async () => {
  t = await startListeningApp();
  tenantId = await createTenant(t, 'Acme', 'acme');
  clientId = (await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } })).clientId;
  idp = await createTestIdp('https://idp.acme.test/metadata');
  const fd = new FormData();
  fd.append('name', 'Acme IdP');
  fd.append('metadataXmlFile', new Blob([idp.metadata], { type: 'application/xml' }), 'idp.xml');
  const added = await fetch(`${t.issuer}/api/v3/idps/saml`, { method: 'POST', headers: { ...bearer(t.adminPat), 'x-forwarded-tenant-id': tenantId }, body: fd });
  expect(added.status).toBe(200);
  idpId = (await added.json()).id;
});
afterAll(() => t?.close());

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

describe('SAML login through the hosted page and the OAuth code flow', () => {
  it('signs an IdP-associated user in and ends with tokens for the application', async () => {
    const userId = await seedUser(t, tenantId, { email: 'fed@acme.test', state: 'initial' });
    const assoc = await call(t.app, t.adminPat, 'PUT', `/api/v3/users/${userId}/idps`, { data: { ids: [idpId] } }, { 'x-forwarded-tenant-id': tenantId });
    expect(assoc.statusCode).toBe(200);

    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString('hex');
    const authorize = `/oauth/v2/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid profile email', code_challenge: challenge, code_challenge_method: 'S256', state, nonce: 'n1' })}`;
    const browser = new Browser(t.issuer);
    const start = await browser.get(authorize);
    expect(start.status).toBe(302);
    const emailPage = await (await browser.get(start.headers.get('location')!)).text();
    const step = await browser.post('/ui/login', { csrf: formField(emailPage, 'csrf')!, r: formField(emailPage, 'r')!, email: 'FED@acme.test' });
    expect(step.status).toBe(200);
    const idpUrl = /<a href="([^"]+)">/.exec(await step.text())![1]!.replace(/&amp;/g, '&');
    expect(idpUrl.startsWith('https://idp.test/sso?')).toBe(true);

    const spMetadata = await (await fetch(`${t.issuer}/saml/${idpId}/metadata`)).text();
    const { requestId, relayState } = await idp.parseRedirect(idpUrl, spMetadata);
    expect(Buffer.byteLength(relayState)).toBeLessThanOrEqual(80);
    const SAMLResponse = await idp.respond(spMetadata, requestId, 'fed@acme.test');

    // The IdP's auto-submitted form: a cross-site POST, so no cookie of ours comes with it.
    const acs = await fetch(`${t.issuer}/saml/${idpId}/acs`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ SAMLResponse, RelayState: relayState }).toString(),
    });
    expect(acs.status).toBe(303);
    const back = new URL(acs.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(redirectUri);
    expect(back.searchParams.get('state')).toBe(state);
    const code = back.searchParams.get('code')!;

    const tokenRes = await fetch(`${t.issuer}/oauth/v2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
    });
    expect(tokenRes.status).toBe(200);
    const tokens = await tokenRes.json();
    expect(tokens.id_token).toBeTruthy();
    const v = await fetch(`${t.issuer}/api/v3/session/validate-token`, { headers: bearer(tokens.access_token) });
    expect(v.status).toBe(200);
    expect(v.headers.get('x-forwarded-user-id')).toBe(userId);

    // The pending authorization was single use: replaying the IdP's answer gets nowhere.
    const replay = await fetch(`${t.issuer}/saml/${idpId}/acs`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ SAMLResponse, RelayState: relayState }).toString(),
    });
    expect(replay.status).toBeGreaterThanOrEqual(400);
  });
});

describe('set-password page of an invitation', () => {
  it('sets the password once, under the tenant policy, and activates the user', async () => {
    const created = await call(t.app, t.adminPat, 'POST', '/api/v3/users', { data: { type: 'users', attributes: { username: 'invitee', email: 'invitee@acme.test' } } }, { 'x-forwarded-tenant-id': tenantId });
    expect(created.statusCode).toBe(201);
    const link = new URL(created.json().meta.setPasswordUrl);
    const userId = created.json().data.id;
    const browser = new Browser(t.issuer);
    const page = await (await browser.get(link.pathname + link.search)).text();
    const submit = (password: string, confirm = password) =>
      browser.post('/ui/set-password', { csrf: formField(page, 'csrf')!, token: formField(page, 'token')!, password, confirm });

    expect((await browser.post('/ui/set-password', { csrf: 'forged', token: formField(page, 'token')!, password: 'Xx1!aaaaaaaaaaaa', confirm: 'Xx1!aaaaaaaaaaaa' })).status).toBe(403);
    expect((await submit('Aa1-differs-0001', 'Aa1-differs-0002')).status).toBe(400);
    const weak = await submit('short');
    expect(weak.status).toBe(400);
    expect(await weak.text()).toContain('at least');
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } })).state).toBe('initial');

    const ok = await submit('Correct-Horse-42-Battery');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('Password set');
    const user = await t.db.prisma.user.findUniqueOrThrow({ where: { id: userId } });
    expect(user.state).toBe('active');
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    expect((await submit('Another-Horse-42-Battery')).status).toBe(400);
  });
});
