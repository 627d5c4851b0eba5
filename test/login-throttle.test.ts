// Login throttling on the hosted login (security review, finding 5): knowing an email must
// not let anyone lock its user out for good, and password guessing stays refused.
// Client addresses through app.inject's remoteAddress; X-Forwarded-For counts only from TRUSTED_PROXIES.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { loadConfig } from '../src/platform/config.js';
import { releaseExpiredLocks } from '../src/users/lockout.js';
import { TEST_ENV, call, createTenant, seedServiceAccountPat, type TestApp, startTestApp } from './helpers/app.js';
import { testLogger } from './helpers/log-capture.js';
import { formField, seedUser } from './helpers/oauth.js';

const PASSWORD = 'Correct-Horse-42';
const WRONG = 'wrong-password-1';
const PROXY = '10.9.9.9';
const ENV = { LOGIN_MAX_FAILURES: '3', RATE_LIMIT_LOGIN: '100000', TRUSTED_PROXIES: PROXY };

let t: TestApp;
/** A second instance on the same database whose lockouts last 3 seconds. */
let short: FastifyInstance;
let alpha: string;
/** Locks the account after 4 failures from all addresses together. */
let bravo: string;
let bravoAdmin: string;

beforeAll(async () => {
  t = await startTestApp(ENV);
  short = await buildApp({
    config: loadConfig({ ...TEST_ENV, ...ENV, LOGIN_LOCKOUT_SECONDS: '3' }),
    db: t.db,
    masterKey: randomBytes(32),
    logger: testLogger(),
  });
  await short.ready();
  alpha = await createTenant(t, 'Alpha', 'alpha');
  bravo = await createTenant(t, 'Bravo', 'bravo');
  await t.db.prisma.tenant.update({ where: { id: bravo }, data: { lockoutMaxAttempts: 4 } });
  bravoAdmin = (await seedServiceAccountPat(t, bravo, ['tenant-admin'])).pat;
}, 60_000);
afterAll(async () => {
  await short?.close();
  await t?.close();
});

interface Attempt {
  app?: FastifyInstance;
  host?: string;
  headers?: Record<string, string>;
}

/** The hosted login without an authorization request (tenant from the Host subdomain): email page, then password. */
async function login(email: string, password: string, remoteAddress: string, o: Attempt = {}) {
  const app = o.app ?? t.app;
  const host = o.host ?? 'alpha.iam.test';
  const page = await app.inject({ method: 'GET', url: '/ui/login', headers: { host, ...o.headers }, remoteAddress });
  expect(page.statusCode).toBe(200);
  const csrfCookie = page.cookies.find((c) => c.name === 'iam_csrf')!;
  const res = await app.inject({
    method: 'POST',
    url: '/ui/login/password',
    headers: { host, cookie: `iam_csrf=${csrfCookie.value}`, 'content-type': 'application/x-www-form-urlencoded', ...o.headers },
    payload: new URLSearchParams({ csrf: formField(page.body, 'csrf')!, email, password }).toString(),
    remoteAddress,
  });
  const session = res.cookies.find((c) => c.name === 'iam_session')?.value;
  return { status: res.statusCode, message: /<p class="error"[^>]*>([^<]*)<\/p>/.exec(res.body)?.[1], session };
}

const userRow = (id: string) => t.db.prisma.user.findUniqueOrThrow({ where: { id } });
const validate = async (session: string, app = t.app) =>
  (await app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: `iam_session=${session}` } })).statusCode;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('login throttling', () => {
  it('an attacker at one address cannot keep the user from signing in at another', async () => {
    const id = await seedUser(t, alpha, { email: 'dora@alpha.test', password: PASSWORD });
    // Twice the tenant's account-wide maximum (10), from one address.
    for (let i = 0; i < 20; i++) expect((await login('dora@alpha.test', `${WRONG}-${i}`, '198.51.100.1')).status).toBe(401);
    // Only the attempts before that address's limit counted: the account is not locked.
    expect(await userRow(id)).toMatchObject({ state: 'active', failedLogins: 3, lockedUntil: null });
    const other = await login('dora@alpha.test', PASSWORD, '203.0.113.5');
    expect(other.status).toBe(200);
    expect(other.session).toBeTruthy();
  });

  it('after LOGIN_MAX_FAILURES at one address, even the right password is refused there, with the same answer', async () => {
    await seedUser(t, alpha, { email: 'erin@alpha.test', password: PASSWORD });
    const a = '198.51.100.2';
    const wrong = await login('erin@alpha.test', WRONG, a);
    expect(wrong.status).toBe(401);
    expect(wrong.message).toBeTruthy();
    for (let i = 0; i < 2; i++) await login('erin@alpha.test', WRONG, a);
    const right = await login('erin@alpha.test', PASSWORD, a);
    expect(right).toEqual({ status: 401, message: wrong.message, session: undefined });
    // An unknown account answers the same.
    expect((await login('nobody@alpha.test', WRONG, a)).message).toBe(wrong.message);
    // X-Forwarded-For from a peer that is not a trusted proxy changes nothing...
    expect((await login('erin@alpha.test', PASSWORD, a, { headers: { 'x-forwarded-for': '192.0.2.77' } })).status).toBe(401);
    // ...from a trusted proxy it names the client: the same client is refused, another is not.
    expect((await login('erin@alpha.test', PASSWORD, PROXY, { headers: { 'x-forwarded-for': a } })).status).toBe(401);
    expect((await login('erin@alpha.test', PASSWORD, PROXY, { headers: { 'x-forwarded-for': '192.0.2.77' } })).status).toBe(200);
    // The other addresses of an IPv6 /64 are the same client.
    for (let i = 0; i < 3; i++) await login('erin@alpha.test', WRONG, `2001:db8:5:6::${i + 1}`);
    expect((await login('erin@alpha.test', PASSWORD, '2001:db8:5:6:ffff::1')).status).toBe(401);
    expect((await login('erin@alpha.test', PASSWORD, '2001:db8:5:7::1')).status).toBe(200);
  });

  it('failures spread over addresses lock the account for a while: its sessions are refused, then it unlocks by itself', async () => {
    const id = await seedUser(t, bravo, { email: 'finn@bravo.test', password: PASSWORD });
    const on = { app: short, host: 'bravo.iam.test' };
    const signedIn = await login('finn@bravo.test', PASSWORD, '192.0.2.10', on);
    expect(signedIn.status).toBe(200);
    expect(await validate(signedIn.session!, short)).toBe(200);

    const wrong = await login('finn@bravo.test', WRONG, '198.51.100.11', on);
    for (const a of ['198.51.100.12', '198.51.100.13', '198.51.100.14']) await login('finn@bravo.test', WRONG, a, on);
    const locked = await userRow(id);
    expect(locked.state).toBe('locked');
    expect(locked.lockedUntil!.getTime()).toBeGreaterThan(Date.now());
    expect(locked.lockedUntil!.getTime()).toBeLessThanOrEqual(Date.now() + 3000);
    // The session is refused as soon as the failure that locked the account has answered.
    expect(await validate(signedIn.session!, short)).toBe(403);
    // A new address with the right password: refused, and the answer does not tell.
    expect(await login('finn@bravo.test', PASSWORD, '192.0.2.99', on)).toEqual({ status: 401, message: wrong.message, session: undefined });

    // Nobody signs in; the lock ends by itself and the session works again.
    await sleep(locked.lockedUntil!.getTime() - Date.now() + 50);
    let status = 0;
    for (let i = 0; i < 60 && status !== 200; i++) {
      status = await validate(signedIn.session!, short);
      if (status !== 200) await sleep(100);
    }
    expect(status).toBe(200);
    expect(await userRow(id)).toMatchObject({ state: 'active', lockedUntil: null, failedLogins: 0 });
    expect((await login('finn@bravo.test', PASSWORD, '192.0.2.99', on)).status).toBe(200);
  });

  it("an admin sees the lock and clears it, with every address's throttling", async () => {
    const on = { host: 'bravo.iam.test' };
    const id = await seedUser(t, bravo, { email: 'gina@bravo.test', password: PASSWORD });
    for (let i = 0; i < 3; i++) await login('gina@bravo.test', WRONG, '198.51.100.21', on);
    await login('gina@bravo.test', WRONG, '198.51.100.22', on);

    const seen = (await call(t.app, bravoAdmin, 'GET', `/api/v3/users/${id}`)).json().data.attributes;
    expect(seen.state).toBe('locked');
    const until = Date.parse(seen.lockedUntil);
    expect(until).toBeGreaterThan(Date.now() + 800_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 900_000);
    const listed = (await call(t.app, bravoAdmin, 'POST', '/api/v3/users/search', { data: { state: 'locked' } })).json();
    expect(listed.data.map((u: { id: string }) => u.id)).toContain(id);

    const cleared = await call(t.app, bravoAdmin, 'PATCH', `/api/v3/users/${id}`, { data: { attributes: { state: 'active' } } });
    expect(cleared.statusCode).toBe(200);
    expect(cleared.json().data.attributes).toMatchObject({ state: 'active', lockedUntil: null });
    expect(await userRow(id)).toMatchObject({ state: 'active', lockedUntil: null, failedLogins: 0 });
    // The address that had reached its own limit is let in again too.
    expect((await login('gina@bravo.test', PASSWORD, '198.51.100.21', on)).status).toBe(200);
  });

  it('during an account lock, the user still signs in from an address they signed in from before', async () => {
    const on = { host: 'bravo.iam.test' };
    const id = await seedUser(t, bravo, { email: 'hugo@bravo.test', password: PASSWORD });
    expect((await login('hugo@bravo.test', PASSWORD, '192.0.2.50', on)).status).toBe(200);
    for (const a of ['198.51.100.31', '198.51.100.32', '198.51.100.33', '198.51.100.34']) await login('hugo@bravo.test', WRONG, a, on);
    expect((await userRow(id)).state).toBe('locked');
    expect((await login('hugo@bravo.test', PASSWORD, '192.0.2.51', on)).status).toBe(401);
    // The known address with the right password: signed in, and the lock is lifted.
    expect((await login('hugo@bravo.test', PASSWORD, '192.0.2.50', on)).status).toBe(200);
    expect(await userRow(id)).toMatchObject({ state: 'active', lockedUntil: null, failedLogins: 0 });
  });

  it("an admin's lock neither expires nor lets a login through", async () => {
    const on = { host: 'bravo.iam.test' };
    const id = await seedUser(t, bravo, { email: 'ivy@bravo.test', password: PASSWORD });
    expect((await login('ivy@bravo.test', PASSWORD, '192.0.2.60', on)).status).toBe(200);
    const res = await call(t.app, bravoAdmin, 'PATCH', `/api/v3/users/${id}`, { data: { attributes: { state: 'locked' } } });
    expect(res.json().data.attributes).toMatchObject({ state: 'locked', lockedUntil: null });
    await releaseExpiredLocks(t.db.prisma, new Date(Date.now() + 86400_000));
    expect((await login('ivy@bravo.test', PASSWORD, '192.0.2.60', on)).status).toBe(401);
    expect((await userRow(id)).state).toBe('locked');
  });
});
