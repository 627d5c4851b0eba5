// Events the audit log records beyond admin writes, each read back through the audit API:
// logins (success, failure, lockout), logout, token issuance, PAT first use, key rotation,
// credential lifecycle, the server's start; none of them holds a secret the test used.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { Browser, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';
import { purgeAuditEvents } from '../src/audit/retention.js';

let t: TestApp & { issuer: string };
let alpha: string;
let admin: { pat: string; serviceAccountId: string };
let aliceId: string;
let analyticsUi: { clientId: string; redirect: string };
const PASSWORD = 'Correct-Horse-42';
const WRONG = 'Wrong-Horse-43-guess';
/** Every secret the test handles: none may appear in a recorded event. */
const secrets: string[] = [PASSWORD, WRONG];

type Event = { id: string; attributes: Record<string, unknown> & { details: Record<string, unknown> } };
async function events(query: string, token = admin.pat): Promise<Event[]> {
  const res = await call(t.app, token, 'GET', `/api/v3/audit-events?pageSize=500&${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

async function rp(clientId: string, auth = client.None()) {
  return client.discovery(new URL(t.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

/** The code flow through the hosted login, as a browser and a relying party would run it. */
async function signIn(email: string, password: string) {
  const config = await rp(analyticsUi.clientId);
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: analyticsUi.redirect,
    scope: 'openid profile offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'st',
  });
  const browser = new Browser(t.issuer);
  const res = await loginThrough(browser, url.toString(), email, password);
  return { config, verifier, browser, res };
}

beforeAll(async () => {
  t = await startListeningApp({ LOGIN_MAX_FAILURES: '100', RATE_LIMIT_LOGIN: '100000' });
  alpha = await createTenant(t, 'Alpha', 'alpha');
  await t.db.prisma.tenant.update({ where: { id: alpha }, data: { lockoutMaxAttempts: 3 } });
  admin = await seedServiceAccountPat(t, alpha, ['tenant-admin'], { username: 'alpha-admin' });
  secrets.push(admin.pat);
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: alpha, name: 'AnalyticsUI' } });
  analyticsUi = { clientId: app.clientId, redirect: app.redirectUris[0]! };
  aliceId = await seedUser(t, alpha, { email: 'alice@alpha.test', password: PASSWORD });
  await seedUser(t, alpha, { email: 'carol@alpha.test', password: PASSWORD });
}, 60_000);
afterAll(() => t?.close());

describe('logins', () => {
  it('a password login through the code flow: login.succeeded, then token.issued per grant', async () => {
    const { config, verifier, res } = await signIn('alice@alpha.test', PASSWORD);
    expect(res.status).toBe(303);
    const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location')!), { pkceCodeVerifier: verifier, expectedState: 'st' });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    secrets.push(tokens.access_token, tokens.refresh_token!, tokens.id_token!, refreshed.access_token, refreshed.refresh_token!);

    const [login] = await events(`action=login.succeeded&actorId=${aliceId}`);
    expect(login!.attributes).toMatchObject({
      tenantId: alpha,
      actorKind: 'user',
      actorName: 'alice',
      clientAddress: '127.0.0.1',
      targetType: 'user',
      targetId: aliceId,
      outcome: 'success',
    });
    expect(login!.attributes.requestId).toEqual(expect.any(String));
    expect(login!.attributes.details).toMatchObject({ amr: ['pwd'] });

    const issued = await events(`action=token.issued&actorId=${aliceId}`);
    expect(issued.map((e) => e.attributes.details.grantType).sort()).toEqual(['authorization_code', 'refresh_token']);
    for (const e of issued) expect(e.attributes.details).toMatchObject({ clientId: analyticsUi.clientId });
  });

  it('a wrong password and an unknown account: login.failed, without the name typed for an unknown one', async () => {
    expect((await signIn('alice@alpha.test', WRONG)).res.status).toBe(401);
    expect((await signIn('nobody-here@alpha.test', WRONG)).res.status).toBe(401);
    const failed = await events('action=login.failed&outcome=failure');
    const wrong = failed.find((e) => e.attributes.actorId === aliceId)!;
    expect(wrong.attributes).toMatchObject({ actorName: 'alice', clientAddress: '127.0.0.1', outcome: 'failure' });
    expect(wrong.attributes.details).toEqual({ method: 'pwd', reason: 'bad_credentials' });
    const unknown = failed.find((e) => e.attributes.details.reason === 'unknown_account')!;
    expect(unknown.attributes).toMatchObject({ actorId: null, actorName: null, targetId: null });
    expect(JSON.stringify(failed)).not.toContain('nobody-here');
  });

  it('a lockout: user.locked once the tenant limit is reached, and the refusals after it', async () => {
    for (let i = 0; i < 4; i++) await signIn('carol@alpha.test', WRONG);
    const locked = await events('action=user.locked');
    expect(locked).toHaveLength(1);
    expect(locked[0]!.attributes).toMatchObject({ actorName: 'carol', targetType: 'user', details: { reason: 'failed_logins' } });
    const refused = await events(`action=login.failed&targetId=${locked[0]!.attributes.targetId}`);
    expect(refused.map((e) => e.attributes.details.reason)).toContain('throttled');
  });
});

describe('logout', () => {
  it('RP-initiated logout ends the session: a logout event for the user', async () => {
    const { browser, res } = await signIn('alice@alpha.test', PASSWORD);
    expect(res.status).toBe(303);
    const out = await browser.get(`/oidc/v1/end_session?client_id=${analyticsUi.clientId}`);
    expect(out.status).toBeLessThan(400);
    const [logout] = await events(`action=logout&actorId=${aliceId}`);
    expect(logout!.attributes).toMatchObject({ targetType: 'session', clientAddress: '127.0.0.1', details: { clientId: analyticsUi.clientId } });
  });
});

describe('machine credentials', () => {
  it('client_credentials: every token counted, one event per standing grant per hour', async () => {
    const sa = await call(t.app, admin.pat, 'POST', '/api/v3/serviceaccounts', { name: 'robot', username: 'robot' });
    expect(sa.statusCode, sa.body).toBe(201);
    const saId = sa.json().machineUserId;
    const app = await call(t.app, admin.pat, 'POST', '/api/v3/applications', {
      data: { type: 'applications', attributes: { name: 'Robot', clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId: saId } },
    });
    expect(app.statusCode, app.body).toBe(201);
    const { clientId, clientSecret } = app.json().data.attributes;
    secrets.push(clientSecret);
    const config = await rp(clientId, client.ClientSecretBasic(clientSecret));
    for (let i = 0; i < 3; i++) secrets.push((await client.clientCredentialsGrant(config)).access_token);
    const issued = await events(`action=token.issued&actorId=${saId}`);
    expect(issued).toHaveLength(1);
    expect(issued[0]!.attributes).toMatchObject({ actorKind: 'serviceaccount', actorName: 'robot', targetType: 'grant' });
    expect(issued[0]!.attributes.details).toMatchObject({ grantType: 'client_credentials', clientId, sampled: 'first per grant per hour' });
    const created = await events(`action=application.created&targetId=${app.json().data.id}`);
    expect(created).toHaveLength(1);
  });

  it('a PAT: created, used for the first time (once), revoked', async () => {
    const created = await call(t.app, admin.pat, 'POST', `/api/v3/serviceaccounts/${admin.serviceAccountId}/pats`, {
      expirationDate: new Date(Date.now() + 86400_000).toISOString(),
    });
    expect(created.statusCode, created.body).toBe(201);
    const { pat, credentialId } = created.json();
    secrets.push(pat);
    for (let i = 0; i < 2; i++) expect((await call(t.app, pat, 'GET', '/api/v3/users')).statusCode).toBe(200);
    expect((await events(`action=serviceaccount.pat.created&targetId=${credentialId}`)).length).toBe(1);
    const first = await events(`action=serviceaccount.pat.first_used&targetId=${credentialId}`);
    expect(first).toHaveLength(1);
    expect(first[0]!.attributes).toMatchObject({ actorId: admin.serviceAccountId, actorName: 'alpha-admin', targetType: 'pat' });
    const row = await t.db.prisma.personalAccessToken.findUniqueOrThrow({ where: { id: credentialId } });
    expect(row.lastUsedAt).not.toBeNull();
    const revoked = await call(t.app, admin.pat, 'DELETE', `/api/v3/serviceaccounts/${admin.serviceAccountId}/pats/${credentialId}`);
    expect(revoked.statusCode).toBeLessThan(300);
    expect((await events(`action=serviceaccount.pat.deleted&targetId=${credentialId}`)).length).toBe(1);
  });
});

describe('deployment events', () => {
  it('key rotation, by whom', async () => {
    const rotated = await call(t.app, t.adminPat, 'POST', '/api/v3/signing-keys/rotate');
    expect(rotated.statusCode).toBe(200);
    const [event] = await events('action=signing_keys.rotated', t.adminPat);
    expect(event!.attributes).toMatchObject({ tenantId: null, actorKind: 'serviceaccount', targetType: 'signing_key' });
    expect(event!.attributes.details.activated).toEqual(rotated.json().data.active);
  });

  it('export and import, by whom', async () => {
    const post = (url: string, payload: unknown) =>
      t.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${t.adminPat}`, 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
    const exported = await post('/admin/v1/export', { responseOutput: true, orgIds: [alpha] });
    expect(exported.statusCode, exported.body).toBe(200);
    // An import that changes nothing records nothing: one user goes, the import brings her back.
    await t.db.prisma.user.deleteMany({ where: { tenantId: alpha, email: 'carol@alpha.test' } });
    const imported = await post('/admin/v1/import', { dataOrgs: exported.json() });
    expect(imported.statusCode, imported.body).toBe(200);
    const [out] = await events('action=instance.exported', t.adminPat);
    expect(out!.attributes).toMatchObject({ tenantId: null, actorKind: 'serviceaccount', clientAddress: '127.0.0.1', details: { orgs: 1 } });
    const [back] = await events(`action=tenant.imported&tenantId=${alpha}`, t.adminPat);
    expect(back!.attributes).toMatchObject({ targetType: 'tenant', targetId: alpha, actorKind: 'serviceaccount' });
  });

  it('the server start, with the settings an auditor asks about and no secret', async () => {
    const [started] = await events('action=server.started', t.adminPat);
    expect(started!.attributes).toMatchObject({ tenantId: null, actorKind: 'system', targetType: 'server' });
    expect(started!.attributes.details).toMatchObject({ publicUrl: t.issuer, auditRetentionDays: 365, metrics: 'loopback' });
    expect(JSON.stringify(started)).not.toMatch(/MASTER_KEY|password/i);
  });

  it('a tenant-admin does not read deployment events', async () => {
    expect(await events('action=server.started')).toEqual([]);
  });
});

describe('what is recorded', () => {
  it('holds none of the secrets the test used', async () => {
    secrets.push(t.adminPat);
    const all = JSON.stringify(await events('', t.adminPat));
    expect(all.length).toBeGreaterThan(1000);
    for (const s of secrets) expect(all.includes(s), `a secret of ${s.length} characters is in the audit log`).toBe(false);
  });

  it('forgets events past AUDIT_RETENTION_DAYS', async () => {
    const old = await t.db.prisma.auditEvent.create({
      data: { tenantId: alpha, actorKind: 'system', action: 'test.old', targetType: 'test', createdAt: new Date(Date.now() - 400 * 86400_000) },
    });
    const recent = await t.db.prisma.auditEvent.create({
      data: { tenantId: alpha, actorKind: 'system', action: 'test.old', targetType: 'test', createdAt: new Date(Date.now() - 300 * 86400_000) },
    });
    expect(await purgeAuditEvents(t.db.prisma, 0)).toBe(0);
    expect(await purgeAuditEvents(t.db.prisma, 365)).toBe(1);
    expect((await events('action=test.old')).map((e) => e.id)).toEqual([recent.id]);
    expect(old.id).not.toBe(recent.id);
  });
});
