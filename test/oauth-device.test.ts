// Device authorization grant (RFC 8628), driven by a real client (openid-client) and the hosted pages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { Browser, formField, seedUser, startListeningApp } from './helpers/oauth.js';
import { enrolFromAccount, totpCode } from './helpers/mfa.js';
import { purgeExpired } from '../src/oauth/purge.js';
import { hashToken } from '../src/oauth/tokens.js';
import { decideDevice, findPendingDevice, type PendingDevice } from '../src/oauth/device.js';
import { startInstances, type Instances } from './helpers/instances.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const PASSWORD = 'Correct-Horse-42';
const EMAIL = 'dana@device.test';
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

let t: TestApp & { issuer: string };
let tenantId: string;
let userId: string;
let adminPat: string;
let tv: string;
let portal: { clientId: string; secret: string };

async function rp(clientId: string, secret?: string) {
  return client.discovery(new URL(t.issuer), clientId, secret, secret ? client.ClientSecretBasic(secret) : client.None(), {
    execute: [client.allowInsecureRequests],
  });
}

/** A raw form POST, for the requests and answers openid-client would hide (it retries pending and slow_down). */
async function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const poll = (clientId: string, deviceCode: string) => post('/oauth/v2/token', { grant_type: GRANT, client_id: clientId, device_code: deviceCode });

/** Opens verification_uri_complete and signs in through the hosted login: the password's answer. */
async function passwordAt(browser: Browser, url: string, email = EMAIL): Promise<Response> {
  const start = await browser.get(url);
  expect(start.status).toBe(303);
  const login = start.headers.get('location')!;
  expect(login).toMatch(/^\/ui\/login\?r=/);
  const emailPage = await (await browser.get(login)).text();
  const r = formField(emailPage, 'r')!;
  const step1 = await browser.post('/ui/login', { csrf: formField(emailPage, 'csrf')!, r, email });
  return browser.post('/ui/login/password', { csrf: formField(await step1.text(), 'csrf')!, r, email, password: PASSWORD });
}

/** Opens verification_uri_complete, signs in through the hosted login and lands on the confirmation page. */
async function signInAt(browser: Browser, url: string): Promise<Response> {
  const done = await passwordAt(browser, url);
  expect(done.status).toBe(303);
  return browser.get(done.headers.get('location')!);
}

async function decide(browser: Browser, confirmPage: string, decision: 'approve' | 'deny') {
  return browser.post('/ui/device/decision', { csrf: formField(confirmPage, 'csrf')!, user_code: formField(confirmPage, 'user_code')!, decision });
}

beforeAll(async () => {
  t = await startListeningApp({ DEVICE_CODE_INTERVAL_SECONDS: '1', RATE_LIMIT_DEVICE_CODE: '40' });
  tenantId = await createTenant(t, 'Device Tenant', 'device');
  userId = await seedUser(t, tenantId, { email: EMAIL, password: PASSWORD });
  adminPat = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  // The application API accepts the grant type; a device client needs no redirect URI.
  const created = await call(t.app, adminPat, 'POST', '/api/v3/applications', {
    data: { type: 'applications', attributes: { name: 'Living-room TV', clientType: 'public', grantTypes: [GRANT, 'refresh_token'] } },
  });
  expect(created.statusCode).toBe(201);
  expect(created.json().data.attributes.grantTypes).toEqual([GRANT, 'refresh_token']);
  tv = created.json().data.attributes.clientId;
  const other = await call(t.app, adminPat, 'POST', '/api/v3/applications', {
    data: { type: 'applications', attributes: { name: 'Portal', clientType: 'confidential', redirectUris: ['http://127.0.0.1:9/cb'] } },
  });
  portal = { clientId: other.json().data.attributes.clientId, secret: other.json().data.attributes.clientSecret };
}, 60_000);
afterAll(() => t?.close());

describe('device authorization (RFC 8628)', () => {
  it('is advertised in discovery', async () => {
    const meta = (await rp(tv)).serverMetadata();
    expect(meta.device_authorization_endpoint).toBe(`${t.issuer}/oauth/v2/device_authorization`);
    expect(meta.grant_types_supported).toContain(GRANT);
  });

  it('answers a device code, a user code and where to enter it, storing only the hash of the device code', async () => {
    const res = await client.initiateDeviceAuthorization(await rp(tv), { scope: 'openid email' });
    expect(res.user_code).toMatch(USER_CODE);
    expect(res.verification_uri).toBe(`${t.issuer}/ui/device`);
    expect(res.verification_uri_complete).toBe(`${t.issuer}/ui/device?user_code=${res.user_code}`);
    expect(res.expires_in).toBe(600);
    expect(res.interval).toBe(1);
    const row = await t.db.prisma.deviceAuthorization.findUniqueOrThrow({ where: { userCode: res.user_code.replace('-', '') } });
    expect(row.deviceCodeHash).toBe(hashToken(res.device_code));
    expect(row.deviceCodeHash).not.toContain(res.device_code);
    expect(row.scope).toBe('openid email');
    // The identity-service alias answers the same.
    const alias = await post('/oidc/oauth2/device_authorization', { client_id: tv });
    expect(alias.status).toBe(200);
    expect(alias.body.user_code).toMatch(USER_CODE);
  });

  it('answers authorization_pending, then slow_down when polled faster than the interval, which grows by 5 s', async () => {
    const res = await client.initiateDeviceAuthorization(await rp(tv), { scope: 'openid' });
    const first = await poll(tv, res.device_code);
    expect(first).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });
    const second = await poll(tv, res.device_code);
    expect(second).toMatchObject({ status: 400, body: { error: 'slow_down' } });
    const row = await t.db.prisma.deviceAuthorization.findUniqueOrThrow({ where: { deviceCodeHash: hashToken(res.device_code) } });
    expect(row.pollInterval).toBe(6);
    // Still too soon for the grown interval.
    await new Promise((r) => setTimeout(r, 1200));
    expect((await poll(tv, res.device_code)).body.error).toBe('slow_down');
  });

  it('issues tokens once the user approved: ID token, refresh token with offline_access, and only once', async () => {
    const config = await rp(tv);
    const res = await client.initiateDeviceAuthorization(config, { scope: 'openid email offline_access' });
    const polling = client.pollDeviceAuthorizationGrant(config, res, undefined, { signal: AbortSignal.timeout(30_000) });
    const browser = new Browser(t.issuer);
    const page = await signInAt(browser, res.verification_uri_complete!);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Living-room TV');
    expect(html).toContain(res.user_code);
    expect(html).toContain('Your email address');
    const approved = await decide(browser, html, 'approve');
    expect(approved.status).toBe(200);
    expect(await approved.text()).toContain('Device connected');

    const tokens = await polling;
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(userId);
    expect(claims.aud).toBe(tv);
    expect(claims.iss).toBe(t.issuer);
    expect(claims.email).toBe(EMAIL);
    expect(claims.amr).toEqual(['pwd']);
    expect(typeof claims.auth_time).toBe('number');
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.scope).toBe('openid email offline_access');
    const info = await client.fetchUserInfo(config, tokens.access_token, userId);
    expect(info.email).toBe(EMAIL);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);

    // One-time: a second poll after success is refused.
    expect(await poll(tv, res.device_code)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // So is a second approval of the same code.
    expect((await browser.get(res.verification_uri_complete!)).status).toBe(400);

    const events = await t.db.prisma.auditEvent.findMany({ where: { tenantId, action: { in: ['device_authorization.approved', 'token.issued'] } } });
    expect(events.find((e) => e.action === 'device_authorization.approved')).toMatchObject({ actorId: userId, outcome: 'success' });
    expect(events.some((e) => e.action === 'token.issued' && (e.details as { grantType?: string }).grantType === GRANT)).toBe(true);
  });

  it('issues no refresh token without offline_access, and no ID token without openid', async () => {
    const config = await rp(tv);
    const res = await client.initiateDeviceAuthorization(config, { scope: 'email' });
    const browser = new Browser(t.issuer);
    const page = await signInAt(browser, res.verification_uri_complete!);
    await decide(browser, await page.text(), 'approve');
    const tokens = await client.pollDeviceAuthorizationGrant(config, res, undefined, { signal: AbortSignal.timeout(30_000) });
    expect(tokens.id_token).toBeUndefined();
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('asks a user with a second factor for it before the confirmation, as the login policy does for authorize', async () => {
    const email = 'mfa@device.test';
    const mfaUser = await seedUser(t, tenantId, { email, password: PASSWORD });
    const setup = new Browser(t.issuer);
    const first = await client.initiateDeviceAuthorization(await rp(tv), {});
    expect((await passwordAt(setup, first.verification_uri_complete!, email)).status).toBe(303);
    const { secret } = await enrolFromAccount(setup);

    const res = await client.initiateDeviceAuthorization(await rp(tv), { scope: 'openid' });
    const browser = new Browser(t.issuer);
    const afterPassword = await passwordAt(browser, res.verification_uri_complete!, email);
    expect(afterPassword.status).toBe(200);
    const factorPage = await afterPassword.text();
    expect(factorPage).toContain('action="/ui/login/second-factor"');
    // No session yet: the code page sends the browser back to the login.
    expect((await browser.get(res.verification_uri_complete!)).status).toBe(303);
    const passed = await browser.post('/ui/login/second-factor', {
      csrf: formField(factorPage, 'csrf')!,
      pending: formField(factorPage, 'pending')!,
      code: totpCode(secret, 1),
    });
    expect(passed.status).toBe(303);
    expect(passed.headers.get('location')).toBe(`/ui/device?user_code=${res.user_code}`);
    const confirmPage = await (await browser.get(passed.headers.get('location')!)).text();
    expect(confirmPage).toContain('mfa');
    await decide(browser, confirmPage, 'approve');
    const tokens = await client.pollDeviceAuthorizationGrant(await rp(tv), res, undefined, { signal: AbortSignal.timeout(30_000) });
    expect(tokens.claims()!.sub).toBe(mfaUser);
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
  });

  it('answers access_denied when the user denies', async () => {
    const config = await rp(tv);
    const res = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    const browser = new Browser(t.issuer);
    const page = await signInAt(browser, res.verification_uri_complete!);
    const denied = await decide(browser, await page.text(), 'deny');
    expect(await denied.text()).toContain('Request denied');
    const err = await client.pollDeviceAuthorizationGrant(config, res, undefined, { signal: AbortSignal.timeout(30_000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    expect((err as client.ResponseBodyError).error).toBe('access_denied');
    const event = await t.db.prisma.auditEvent.findFirst({ where: { tenantId, action: 'device_authorization.denied' } });
    expect(event?.actorId).toBe(userId);
  });

  it('takes the code typed by hand, in any case and without the dash, once signed in', async () => {
    const res = await client.initiateDeviceAuthorization(await rp(tv), { scope: 'openid' });
    const browser = new Browser(t.issuer);
    // Signing in through another request's link leaves a session that serves this one too.
    const other = await client.initiateDeviceAuthorization(await rp(tv), { scope: 'openid' });
    expect((await signInAt(browser, other.verification_uri_complete!)).status).toBe(200);
    const form = await (await browser.get('/ui/device')).text();
    expect(form).toContain('<label for="user_code">');
    const typed = await browser.post('/ui/device', { csrf: formField(form, 'csrf')!, user_code: ` ${res.user_code.replace('-', '').toLowerCase()} ` });
    expect(typed.status).toBe(200);
    expect(await typed.text()).toContain(res.user_code);
  });

  it('refuses a client that may not use the grant, at both endpoints', async () => {
    const config = await rp(portal.clientId, portal.secret);
    const err = await client.initiateDeviceAuthorization(config, { scope: 'openid' }).catch((e: unknown) => e);
    expect((err as client.ResponseBodyError).error).toBe('unauthorized_client');
    const basic = `Basic ${Buffer.from(`${portal.clientId}:${portal.secret}`).toString('base64')}`;
    const token = await post('/oauth/v2/token', { grant_type: GRANT, device_code: 'x' }, { authorization: basic });
    expect(token).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect(await t.db.prisma.deviceAuthorization.count({ where: { application: { clientId: portal.clientId } } })).toBe(0);
  });

  it('answers bad input with OAuth errors, and refuses a device code to another client', async () => {
    expect(await post('/oauth/v2/device_authorization', {})).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await post('/oauth/v2/device_authorization', { client_id: 'nobody' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const notForm = await fetch(`${t.issuer}/oauth/v2/device_authorization`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(notForm.status).toBeGreaterThanOrEqual(400);
    expect(notForm.status).toBeLessThan(500);
    expect(await post('/oauth/v2/token', { grant_type: GRANT, client_id: tv })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await poll(tv, 'not-a-device-code')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await poll(tv, 'x'.repeat(5000))).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    // Another application of the tenant, also a device client, cannot redeem the TV's code.
    const second = await call(t.app, adminPat, 'POST', '/api/v3/applications', {
      data: { type: 'applications', attributes: { name: 'Printer', clientType: 'public', grantTypes: [GRANT] } },
    });
    const printer = second.json().data.attributes.clientId;
    const res = await client.initiateDeviceAuthorization(await rp(tv), {});
    expect(await poll(printer, res.device_code)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // refresh_token needs a grant type that issues one.
    const refused = await call(t.app, adminPat, 'POST', '/api/v3/applications', {
      data: { type: 'applications', attributes: { name: 'Bad', clientType: 'public', grantTypes: ['refresh_token'] } },
    });
    expect(refused.statusCode).toBe(422);
  });

  it('says clearly when a code is malformed, unknown or used, and refuses forms without the CSRF token', async () => {
    const browser = new Browser(t.issuer);
    const malformed = await browser.get('/ui/device?user_code=AAAA-AAAA');
    expect(malformed.status).toBe(400);
    const text = await malformed.text();
    expect(text).toContain('role="alert"');
    expect(text).toContain('not a valid code');
    expect(text).toContain('aria-invalid="true"');
    const unknown = await browser.get('/ui/device?user_code=BCDF-GHJK');
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('That code is not valid');
    expect((await browser.post('/ui/device', { user_code: 'BCDF-GHJK' })).status).toBe(403);
    expect((await browser.post('/ui/device/decision', { user_code: 'BCDF-GHJK', decision: 'approve' })).status).toBe(403);
    const form = await (await browser.get('/ui/device')).text();
    const odd = await browser.post('/ui/device/decision', { csrf: formField(form, 'csrf')!, user_code: 'BCDF-GHJK', decision: 'maybe' });
    expect(odd.status).toBe(400);
    // Without a session, a decision for a live code goes to the login first and changes nothing.
    const res = await client.initiateDeviceAuthorization(await rp(tv), {});
    const early = await browser.post('/ui/device/decision', { csrf: formField(form, 'csrf')!, user_code: res.user_code, decision: 'approve' });
    expect(early.status).toBe(303);
    expect(early.headers.get('location')).toMatch(/^\/ui\/login\?r=/);
    expect((await t.db.prisma.deviceAuthorization.findUniqueOrThrow({ where: { deviceCodeHash: hashToken(res.device_code) } })).status).toBe('pending');
  });

  it('is purged a day after it expired', async () => {
    const res = await client.initiateDeviceAuthorization(await rp(tv), {});
    const where = { deviceCodeHash: hashToken(res.device_code) };
    await t.db.prisma.deviceAuthorization.update({ where, data: { expiresAt: new Date(Date.now() - 2 * 86400_000) } });
    const purged = await purgeExpired(t.db.prisma);
    expect(purged.devices).toBeGreaterThanOrEqual(1);
    expect(await t.db.prisma.deviceAuthorization.count({ where })).toBe(0);
  });

  // Last: it spends this address's allowance of code checks.
  it('throttles guessing: every code checked counts, and past the limit even a right one is refused', async () => {
    const browser = new Browser(t.issuer);
    let throttledAt = 0;
    for (let i = 1; i <= 60 && !throttledAt; i++) {
      const res = await browser.get(`/ui/device?user_code=BCDF-${'GHJK'}`);
      if (res.status === 429) {
        throttledAt = i;
        expect(await res.text()).toContain('Too many attempts');
      }
    }
    expect(throttledAt).toBeGreaterThan(0);
    expect(throttledAt).toBeLessThanOrEqual(41);
    const res = await client.initiateDeviceAuthorization(await rp(tv), {});
    expect((await browser.get(res.verification_uri_complete!)).status).toBe(429);
  });
});

describe('device authorization expiry', () => {
  let short: TestApp & { issuer: string };
  let clientId: string;
  beforeAll(async () => {
    short = await startListeningApp({ DEVICE_CODE_LIFETIME_SECONDS: '2', DEVICE_CODE_INTERVAL_SECONDS: '1' });
    const tenant = await createTenant(short, 'Short Tenant', 'short');
    const pat = (await seedServiceAccountPat(short, tenant, ['tenant-admin'])).pat;
    const created = await call(short.app, pat, 'POST', '/api/v3/applications', {
      data: { type: 'applications', attributes: { name: 'Kiosk', clientType: 'public', grantTypes: [GRANT] } },
    });
    clientId = created.json().data.attributes.clientId;
  }, 60_000);
  afterAll(() => short?.close());

  it('answers expired_token once the configured lifetime passed, and the page says the code expired', async () => {
    const config = await client.discovery(new URL(short.issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const res = await client.initiateDeviceAuthorization(config, {});
    expect(res.expires_in).toBe(2);
    const err = await client.pollDeviceAuthorizationGrant(config, res, undefined, { signal: AbortSignal.timeout(20_000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(client.ResponseBodyError);
    expect((err as client.ResponseBodyError).error).toBe('expired_token');
    const page = await new Browser(short.issuer).get(res.verification_uri_complete!);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('That code has expired');
  });
});

// Polls, decisions and issuance spread over instances behind a load balancer act as on one.
describe.runIf(process.env.TEST_DATABASE_URL)('device authorization across instances', () => {
  let s: Instances;
  let cli: string;
  const form = (o: Record<string, string>) => ({ 'content-type': 'application/x-www-form-urlencoded', payload: new URLSearchParams(o).toString() });
  const send = (i: number, url: string, o: Record<string, string>) => {
    const { payload, ...headers } = form(o);
    return s.apps[i]!.inject({ method: 'POST', url, headers, payload });
  };
  beforeAll(async () => {
    s = await startInstances(process.env.TEST_DATABASE_URL!, 2, { DEVICE_CODE_INTERVAL_SECONDS: '2' });
    const created = await call(s.apps[0]!, s.pat, 'POST', '/api/v3/applications', {
      data: { type: 'applications', attributes: { name: 'CLI', clientType: 'public', grantTypes: [GRANT] } },
    });
    cli = created.json().data.attributes.clientId;
  }, 60_000);
  afterAll(() => s?.close());

  it('counts polls on every instance, and issues once whichever instance is asked', async () => {
    const started = await send(0, '/oauth/v2/device_authorization', { client_id: cli, scope: 'openid' });
    expect(started.statusCode).toBe(200);
    const { device_code, user_code } = started.json() as { device_code: string; user_code: string };
    const pollOn = (i: number) => send(i, '/oauth/v2/token', { grant_type: GRANT, client_id: cli, device_code });
    expect((await pollOn(1)).json().error).toBe('authorization_pending');
    expect((await pollOn(0)).json().error).toBe('slow_down');

    const userId = await seedUser({ db: s.dbs[0]! } as TestApp, s.tenantId, { email: 'sam@instances.test', password: PASSWORD });
    const found = await findPendingDevice(s.dbs[1]!.prisma, user_code.replace('-', ''));
    expect(found.ok).toBe(true);
    const device = (found as { device: PendingDevice }).device;
    const user = { id: userId, username: 'sam', authTime: new Date(), amr: ['pwd'] };
    expect(await decideDevice(s.dbs[1]!.prisma, { device, approve: true, user })).toBe(true);
    // A second decision, on the other instance, changes nothing.
    expect(await decideDevice(s.dbs[0]!.prisma, { device, approve: false, user })).toBe(false);

    const tokens = await pollOn(1);
    expect(tokens.statusCode).toBe(200);
    expect(tokens.json().id_token).toBeTruthy();
    expect((await pollOn(0)).json().error).toBe('invalid_grant');
  });
});
