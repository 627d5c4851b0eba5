// Password recovery, the admin's invitation/reset/session routes and the account page,
// through real HTTP forms and a real SMTP peer (smtp-server, in process).
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESETS_PER_HOUR } from '../src/users/recovery.js';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { startMailCatcher, type Mail, type MailCatcher } from './helpers/mail.js';
import { formField, seedUser } from './helpers/oauth.js';

const PASSWORD = 'Correct-Horse-42';
const NEW_PASSWORD = 'Battery-Staple-77';
const HOST = 'acme.iam.test';

let smtp: MailCatcher;
let mails: Mail[];
let t: TestApp;
let tenant: string;
let otherTenant: string;
let admin: string;
let otherAdmin: string;
let plainUser: string;

beforeAll(async () => {
  smtp = await startMailCatcher();
  mails = smtp.mails;
  t = await startTestApp({ SMTP_URL: smtp.url, SMTP_FROM: 'iam@iam.test' });
  tenant = await createTenant(t, 'Acme', 'acme');
  otherTenant = await createTenant(t, 'Other');
  admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'])).pat;
  otherAdmin = (await seedServiceAccountPat(t, otherTenant, ['tenant-admin'])).pat;
  plainUser = (await seedServiceAccountPat(t, tenant, ['tenant-user'])).pat;
}, 60_000);
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

/** A browser over app.inject: cookies kept per name, forms posted with their CSRF field. */
class Client {
  cookies = new Map<string, string>();
  constructor(
    readonly app: FastifyInstance,
    readonly remoteAddress = '198.51.100.10',
    readonly userAgent = 'TestBrowser/1.0',
  ) {}
  private headers(extra: Record<string, string> = {}) {
    return { host: HOST, 'user-agent': this.userAgent, cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '), ...extra };
  }
  private keep<R extends { cookies: { name: string; value: string }[] }>(res: R): R {
    for (const c of res.cookies) if (c.value) this.cookies.set(c.name, c.value);
    return res;
  }
  async get(url: string) {
    return this.keep(await this.app.inject({ method: 'GET', url, headers: this.headers(), remoteAddress: this.remoteAddress }));
  }
  async post(url: string, form: Record<string, string>) {
    const res = await this.app.inject({
      method: 'POST',
      url,
      headers: this.headers({ 'content-type': 'application/x-www-form-urlencoded' }),
      payload: new URLSearchParams(form).toString(),
      remoteAddress: this.remoteAddress,
    });
    return this.keep(res);
  }
  /** GETs the page holding a form, then posts the form with that page's CSRF token. */
  async submit(pageUrl: string, action: string, form: Record<string, string>) {
    const page = await this.get(pageUrl);
    return this.post(action, { csrf: formField(page.body, 'csrf') ?? '', ...form });
  }
  async signIn(login: string, password: string) {
    const res = await this.submit('/ui/login', '/ui/login/password', { email: login, password });
    return res.statusCode;
  }
  get session() {
    return this.cookies.get('iam_session');
  }
}

const validate = async (session: string | undefined) =>
  (await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: `iam_session=${session}` } })).statusCode;

/** The next mail to `to`, waiting for it (the login page mails after answering). */
async function mailTo(to: string, after: number): Promise<Mail> {
  for (let i = 0; i < 100; i++) {
    const m = mails.slice(after).find((x) => x.to.includes(to));
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no mail to ${to}`);
}
const linkIn = (m: Mail) => /http:\/\/auth\.iam\.test(\/ui\/set-password\?token=[A-Za-z0-9_-]+)/.exec(m.text)![1]!;

describe('forgot password', () => {
  it('answers alike for an unknown account, mails a one-time link to a known one, and the link resets the password', async () => {
    const id = await seedUser(t, tenant, { email: 'rita@acme.test', username: 'rita', password: PASSWORD });
    const old = new Client(t.app, '198.51.100.20');
    expect(await old.signIn('rita', PASSWORD)).toBe(200);
    expect(await validate(old.session)).toBe(200);
    // A temporary lockout (as failed logins set it) is lifted by the reset.
    await t.db.prisma.user.update({ where: { id }, data: { state: 'locked', lockedUntil: new Date(Date.now() + 600_000), failedLogins: 9 } });

    const browser = new Client(t.app, '198.51.100.21');
    const before = mails.length;
    const unknown = await browser.submit('/ui/login/forgot', '/ui/login/forgot', { login: 'nobody@acme.test' });
    const known = await browser.submit('/ui/login/forgot', '/ui/login/forgot', { login: 'Rita@Acme.test' });
    expect(unknown.statusCode).toBe(200);
    expect(known.statusCode).toBe(200);
    expect(known.body).toBe(unknown.body);
    expect(known.body).toContain('If an account');

    const mail = await mailTo('rita@acme.test', before);
    expect(mails.slice(before).filter((m) => !m.to.includes('rita@acme.test'))).toEqual([]);
    expect(mail.text).toContain('Reset your password for Acme');
    const link = linkIn(mail);
    const token = new URL(link, 'http://x').searchParams.get('token')!;
    // Stored hashed: the token itself is nowhere in the database.
    expect(await t.db.prisma.setPasswordToken.count({ where: { tokenHash: token } })).toBe(0);

    const form = await browser.get(link);
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('Choose a new password');
    expect(form.body).toContain('id="password-rules"');
    expect(form.body).toMatch(/aria-describedby="password-rules"/);

    const weak = await browser.post('/ui/set-password', { csrf: formField(form.body, 'csrf')!, token, password: 'short', confirm: 'short' });
    expect(weak.statusCode).toBe(400);
    expect(weak.body).toMatch(/role="alert"[^>]*>The password must be at least/);
    const done = await browser.post('/ui/set-password', { csrf: formField(form.body, 'csrf')!, token, password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain('other sessions are signed out');

    expect(await t.db.prisma.user.findUniqueOrThrow({ where: { id } })).toMatchObject({ state: 'active', lockedUntil: null, failedLogins: 0 });
    expect(await validate(old.session)).toBe(403);
    expect(await new Client(t.app, '198.51.100.22').signIn('rita@acme.test', PASSWORD)).toBe(401);
    expect(await new Client(t.app, '198.51.100.22').signIn('rita', NEW_PASSWORD)).toBe(200);
    const actions = (await t.db.prisma.auditEvent.findMany({ where: { targetId: id }, select: { action: true } })).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['user.password_reset_requested', 'user.password_reset', 'session.revoked']));

    // Used: the page says so before asking for anything.
    const used = await browser.get(link);
    expect(used.statusCode).toBe(400);
    expect(used.body).toContain('already used');
    expect(used.body).toContain('Forgot password?');
    expect(used.body).not.toContain('<form');
  });

  it('an expired link says so, with no form', async () => {
    await seedUser(t, tenant, { email: 'eve@acme.test', password: PASSWORD });
    const before = mails.length;
    await new Client(t.app, '198.51.100.30').submit('/ui/login/forgot', '/ui/login/forgot', { login: 'eve@acme.test' });
    const link = linkIn(await mailTo('eve@acme.test', before));
    await t.db.prisma.setPasswordToken.updateMany({ where: { user: { email: 'eve@acme.test' } }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const page = await new Client(t.app).get(link);
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('This link has expired');
    expect(page.body).not.toContain('<form');
    expect(page.body).not.toContain('name="password"');
  });

  it('mails an account at most RESETS_PER_HOUR links an hour, and refuses bad input without changing anything', async () => {
    const id = await seedUser(t, tenant, { email: 'max@acme.test', password: PASSWORD });
    const before = mails.length;
    for (let i = 0; i < RESETS_PER_HOUR + 2; i++) {
      const res = await new Client(t.app, `198.51.100.${40 + i}`).submit('/ui/login/forgot', '/ui/login/forgot', { login: 'max@acme.test' });
      expect(res.statusCode).toBe(200);
    }
    // The requests are handled after their answers: wait until each one is recorded.
    const recorded = () => t.db.prisma.auditEvent.count({ where: { targetId: id, action: 'user.password_reset_requested' } });
    for (let i = 0; i < 100 && (await recorded()) < RESETS_PER_HOUR + 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: id, action: 'user.password_reset_requested', outcome: 'failure' } })).toBe(2);
    await mailTo('max@acme.test', before);
    await new Promise((r) => setTimeout(r, 500));
    expect(mails.slice(before).filter((m) => m.to.includes('max@acme.test'))).toHaveLength(RESETS_PER_HOUR);

    const c = new Client(t.app, '198.51.100.60');
    const state = await snapshot(t.db);
    expect((await c.submit('/ui/login/forgot', '/ui/login/forgot', { login: '' })).statusCode).toBe(400);
    expect((await c.submit('/ui/login/forgot', '/ui/login/forgot', { login: 'x'.repeat(400) })).statusCode).toBe(400);
    expect((await c.post('/ui/login/forgot', { csrf: 'forged', login: 'max@acme.test' })).statusCode).toBe(403);
    expect((await c.get('/ui/set-password?token=not-a-token')).statusCode).toBe(400);
    expect((await c.post('/ui/set-password', { csrf: 'forged', token: 'x', password: 'a', confirm: 'a' })).statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(state);
  });

  it('throttles reset requests and link guesses per client address', async () => {
    const limited = await startTestApp({ RATE_LIMIT_LOGIN: '3' });
    try {
      const c = new Client(limited.app, '198.51.100.70');
      const forgot: number[] = [];
      for (let i = 0; i < 3; i++) forgot.push((await c.post('/ui/login/forgot', { csrf: 'x', login: 'someone' })).statusCode);
      expect(forgot).toContain(429);
      const guesses: number[] = [];
      for (let i = 0; i < 5; i++) guesses.push((await c.get(`/ui/set-password?token=${'a'.repeat(43)}${i}`)).statusCode);
      expect(guesses.slice(0, 3)).toEqual([400, 400, 400]);
      expect(guesses.slice(3)).toEqual([429, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('admin: invitations and reset links', () => {
  it('resends an invitation: the old link stops working, the new one sets the password', async () => {
    const created = await call(t.app, admin, 'POST', '/api/v3/users', { data: { attributes: { username: 'ivan', email: 'ivan@acme.test' } } });
    const id = created.json().data.id;
    const first = linkIn(await mailTo('ivan@acme.test', 0));
    const before = mails.length;

    expect((await call(t.app, otherAdmin, 'POST', `/api/v3/users/${id}/invitation`)).statusCode).toBe(404);
    expect((await call(t.app, plainUser, 'POST', `/api/v3/users/${id}/invitation`)).statusCode).toBe(403);
    expect((await call(t.app, admin, 'POST', '/api/v3/users/not-a-uuid/invitation')).statusCode).toBe(404);
    const res = await call(t.app, admin, 'POST', `/api/v3/users/${id}/invitation`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ meta: { delivery: 'mailed' } });
    const second = linkIn(await mailTo('ivan@acme.test', before));
    expect(second).not.toBe(first);

    const stale = await new Client(t.app).get(first);
    expect(stale.statusCode).toBe(400);
    expect(stale.body).not.toContain('<form');
    const c = new Client(t.app);
    const page = await c.get(second);
    expect(page.body).toContain('Choose your password');
    const token = new URL(second, 'http://x').searchParams.get('token')!;
    expect((await c.post('/ui/set-password', { csrf: formField(page.body, 'csrf')!, token, password: NEW_PASSWORD, confirm: NEW_PASSWORD })).statusCode).toBe(
      200,
    );

    // Now it has a password: an invitation would be wrong, a reset is the way.
    const again = await call(t.app, admin, 'POST', `/api/v3/users/${id}/invitation`);
    expect(again.statusCode).toBe(409);
    expect(again.body).toContain('send a password reset link instead');
    const reset = await call(t.app, admin, 'POST', `/api/v3/users/${id}/password-reset`);
    expect(reset.statusCode).toBe(200);
    const mail = await mailTo('ivan@acme.test', before + 1);
    expect(mail.text).toContain('Reset your password');
    // Each link sent is recorded with its expiry, never the link itself.
    const sent = await t.db.prisma.auditEvent.findMany({
      where: { targetId: id, action: { in: ['user.invitation_sent', 'user.password_reset_sent', 'user.password_set'] } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    expect(sent.map((e) => e.action)).toEqual(['user.invitation_sent', 'user.password_set', 'user.password_reset_sent']);
    expect(sent[0]!.details).toEqual({ expiresAt: expect.any(String) });
    expect(sent[2]!.details).toEqual({ expiresAt: expect.any(String) });
    expect(JSON.stringify(sent)).not.toContain(token);
  });

  it('returns the link once when no SMTP is configured, and refuses a reset for a user without a password', async () => {
    const plain = await startTestApp();
    try {
      const tid = await createTenant(plain, 'No mail');
      const pat = (await seedServiceAccountPat(plain, tid, ['tenant-admin'])).pat;
      const created = await call(plain.app, pat, 'POST', '/api/v3/users', { data: { attributes: { username: 'nia', email: 'nia@x.test' } } });
      const id = created.json().data.id;
      const state = await snapshot(plain.db);
      const refused = await call(plain.app, pat, 'POST', `/api/v3/users/${id}/password-reset`);
      expect(refused.statusCode).toBe(409);
      expect(await snapshot(plain.db)).toEqual(state);
      const res = await call(plain.app, pat, 'POST', `/api/v3/users/${id}/invitation`);
      expect(res.statusCode).toBe(200);
      expect(res.json().meta.delivery).toBe('link');
      expect(res.json().meta.setPasswordUrl).toMatch(/\/ui\/set-password\?token=/);
    } finally {
      await plain.close();
    }
  });
});

describe('sessions', () => {
  it('an admin lists and revokes a user’s sessions under the privilege policy', async () => {
    const id = await seedUser(t, tenant, { email: 'sam@acme.test', username: 'sam', password: PASSWORD });
    const a = new Client(t.app, '198.51.100.80', 'Browser-A');
    const b = new Client(t.app, '198.51.100.81', 'Browser-B');
    expect(await a.signIn('sam', PASSWORD)).toBe(200);
    expect(await b.signIn('sam@acme.test', PASSWORD)).toBe(200);

    const list = await call(t.app, admin, 'GET', `/api/v3/users/${id}/sessions`);
    expect(list.statusCode).toBe(200);
    const sessions = list.json().data as { id: string; attributes: { userAgent: string; clientAddress: string; amr: string[] } }[];
    expect(sessions.map((s) => s.attributes.userAgent).sort()).toEqual(['Browser-A', 'Browser-B']);
    expect(sessions[0]!.attributes.amr).toEqual(['pwd']);
    const sessionA = sessions.find((s) => s.attributes.userAgent === 'Browser-A')!;
    expect(sessionA.attributes.clientAddress).toBe('198.51.100.80');

    const state = await snapshot(t.db);
    expect((await call(t.app, otherAdmin, 'GET', `/api/v3/users/${id}/sessions`)).statusCode).toBe(404);
    expect((await call(t.app, otherAdmin, 'DELETE', `/api/v3/users/${id}/sessions/${sessionA.id}`)).statusCode).toBe(404);
    expect((await call(t.app, plainUser, 'DELETE', `/api/v3/users/${id}/sessions`)).statusCode).toBe(403);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${id}/sessions/not-a-session`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${id}/sessions/0190a5b0-0000-7000-8000-000000000000`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'GET', `/api/v3/users/${id}/sessions?page=0`)).statusCode).toBe(400);
    expect(await snapshot(t.db)).toEqual(state);

    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${id}/sessions/${sessionA.id}`)).statusCode).toBe(204);
    expect(await validate(a.session)).toBe(403);
    expect(await validate(b.session)).toBe(200);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${id}/sessions/${sessionA.id}`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${id}/sessions`)).statusCode).toBe(204);
    expect(await validate(b.session)).toBe(403);
    expect((await call(t.app, admin, 'GET', `/api/v3/users/${id}/sessions`)).json().data).toEqual([]);
    // One event per revocation, by the admin, naming the sessions ended.
    const revoked = await t.db.prisma.auditEvent.findMany({
      where: { targetId: id, action: 'session.revoked' },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    expect(revoked.map((e) => e.details)).toEqual([
      { sessionIds: [sessionA.id], reason: 'revoked_by_admin', grantsRevoked: 0 },
      { sessionIds: sessions.filter((s) => s !== sessionA).map((s) => s.id), reason: 'revoked_by_admin', grantsRevoked: 0 },
    ]);
    expect(revoked.every((e) => e.actorKind === 'serviceaccount' && e.outcome === 'success')).toBe(true);
  });

  it('a tenant-admin cannot revoke the sessions of a user holding a role it lacks', async () => {
    const sky = await seedUser(t, t.operatorTenantId, { email: 'root@op.test', password: PASSWORD, roles: ['skylight-admin'] });
    const opAdmin = (await seedServiceAccountPat(t, t.operatorTenantId, ['tenant-admin'])).pat;
    expect((await call(t.app, opAdmin, 'DELETE', `/api/v3/users/${sky}/sessions`)).statusCode).toBe(403);
    expect((await call(t.app, opAdmin, 'POST', `/api/v3/users/${sky}/password-reset`)).statusCode).toBe(403);
  });
});

describe('account page', () => {
  it('sends a browser without a session to the login, and back to the account page after it', async () => {
    await seedUser(t, tenant, { email: 'ada@acme.test', username: 'ada', password: PASSWORD });
    const c = new Client(t.app, '198.51.100.90');
    const first = await c.get('/ui/account');
    expect(first.statusCode).toBe(303);
    expect(first.headers.location).toBe('/ui/login?next=%2Fui%2Faccount');
    const login = await c.get(first.headers.location as string);
    expect(login.body).toContain('name="next" value="/ui/account"');
    const done = await c.post('/ui/login/password', { csrf: formField(login.body, 'csrf')!, next: '/ui/account', email: 'ada', password: PASSWORD });
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe('/ui/account');
    const page = await c.get('/ui/account');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('ada@acme.test');
    expect(page.body).toContain('href="/ui/account/totp"');
    expect(page.body).toContain('(this browser)');

    // Only the account page is a place to come back to: anything else is ignored.
    const elsewhere = await new Client(t.app, '198.51.100.91').submit('/ui/login', '/ui/login/password', {
      next: 'https://evil.example/',
      email: 'ada',
      password: PASSWORD,
    });
    expect(elsewhere.statusCode).toBe(200);
    expect(elsewhere.headers.location).toBeUndefined();
  });

  it('comes back to the account page through the terms step too', async () => {
    await seedUser(t, tenant, { email: 'tess@acme.test', username: 'tess', password: PASSWORD });
    await t.db.prisma.tenant.update({ where: { id: tenant }, data: { termsRequired: true } });
    try {
      const c = new Client(t.app, '198.51.100.92');
      const login = await c.get('/ui/login?next=%2Fui%2Faccount');
      const terms = await c.post('/ui/login/password', { csrf: formField(login.body, 'csrf')!, next: '/ui/account', email: 'tess', password: PASSWORD });
      expect(terms.statusCode, terms.body).toBe(200);
      expect(terms.body).toContain('name="pending"');
      const done = await c.post('/ui/login/terms', { csrf: formField(terms.body, 'csrf')!, pending: formField(terms.body, 'pending')!, accept: 'yes' });
      expect(done.statusCode, done.body).toBe(303);
      expect(done.headers.location).toBe('/ui/account');
    } finally {
      await t.db.prisma.tenant.update({ where: { id: tenant }, data: { termsRequired: false } });
    }
  });

  it('changes the password (current one required) and signs out other sessions, one or all', async () => {
    const id = await seedUser(t, tenant, { email: 'bo@acme.test', username: 'bo', password: PASSWORD });
    const me = new Client(t.app, '198.51.100.100', 'Mine');
    const other = new Client(t.app, '198.51.100.101', 'Other');
    const third = new Client(t.app, '198.51.100.102', 'Third');
    for (const c of [me, other, third]) expect(await c.signIn('bo', PASSWORD)).toBe(200);

    const state = await snapshot(t.db);
    const wrong = await me.submit('/ui/account', '/ui/account/password', { current: 'Not-The-One-1', password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toMatch(/role="alert"[^>]*>The current password is not correct/);
    const differ = await me.submit('/ui/account', '/ui/account/password', { current: PASSWORD, password: NEW_PASSWORD, confirm: 'x' });
    expect(differ.statusCode).toBe(400);
    const weak = await me.submit('/ui/account', '/ui/account/password', { current: PASSWORD, password: 'short', confirm: 'short' });
    expect(weak.statusCode).toBe(400);
    expect(weak.body).toContain('at least');
    expect((await me.post('/ui/account/password', { csrf: 'forged', current: PASSWORD, password: NEW_PASSWORD, confirm: NEW_PASSWORD })).statusCode).toBe(403);
    expect((await me.submit('/ui/account', '/ui/account/sessions/revoke', { session: 'junk' })).statusCode).toBe(400);
    // The wrong password counted as a failed login; nothing else changed.
    const changed = Object.entries(await snapshot(t.db))
      .filter(([k, v]) => state[k] !== v)
      .map(([k]) => k);
    expect(changed.filter((k) => k !== 'User' && k !== 'LoginThrottle')).toEqual([]);

    // Sign out one other session from the list.
    const page = await me.get('/ui/account');
    const otherId = (await t.db.prisma.browserSession.findFirstOrThrow({ where: { userId: id, userAgent: 'Other' } })).id;
    expect(page.body).toContain(`name="session" value="${otherId}"`);
    const out = await me.post('/ui/account/sessions/revoke', { csrf: formField(page.body, 'csrf')!, session: otherId });
    expect(out.statusCode).toBe(200);
    expect(out.body).toContain('The session is signed out');
    expect(await validate(other.session)).toBe(403);
    expect((await other.get('/ui/account')).statusCode).toBe(303);
    expect(await validate(me.session)).toBe(200);

    const ok = await me.submit('/ui/account', '/ui/account/password', { current: PASSWORD, password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('Your password is changed');
    expect(await validate(third.session)).toBe(403);
    expect(await validate(me.session)).toBe(200);
    expect(await new Client(t.app, '198.51.100.103').signIn('bo', NEW_PASSWORD)).toBe(200);
    const actions = (await t.db.prisma.auditEvent.findMany({ where: { targetId: id }, select: { action: true, outcome: true } })).map(
      (a) => `${a.action}:${a.outcome}`,
    );
    expect(actions).toEqual(expect.arrayContaining(['user.password_changed:failure', 'user.password_changed:success', 'session.revoked:success']));
  });
});

describe('account page: own name', () => {
  it('a signed-in user edits their own first and last name: audited with the user as actor; bad input is refused and changes nothing', async () => {
    const id = await seedUser(t, tenant, { email: 'nia@acme.test', username: 'nia', password: PASSWORD });
    const me = new Client(t.app, '198.51.100.110');
    expect(await me.signIn('nia', PASSWORD)).toBe(200);
    const page = await me.get('/ui/account');
    expect(page.body).toContain('<label for="first-name">First name</label>');
    expect(page.body).toContain('Your administrator manages your username and email address.');

    const state = await snapshot(t.db);
    const bad: Record<string, string>[] = [{ firstName: 'x'.repeat(201), lastName: 'Okafor' }, { firstName: 'Nia' }];
    for (const form of bad) {
      const res = await me.submit('/ui/account', '/ui/account/profile', form);
      expect(res.statusCode).toBe(400);
      expect(res.body).toMatch(/role="alert"[^>]*>Enter a first and a last name of at most 200 characters each/);
      expect(res.body).toMatch(/id="first-name"[^>]*aria-describedby="form-error" aria-invalid="true"/);
    }
    expect((await me.post('/ui/account/profile', { csrf: 'forged', firstName: 'Nia', lastName: 'Okafor' })).statusCode).toBe(403);
    // Without a session: asked to sign in again.
    expect((await new Client(t.app, '198.51.100.111').submit('/ui/login', '/ui/account/profile', { firstName: 'A', lastName: 'B' })).statusCode).toBe(401);
    expect(await snapshot(t.db)).toEqual(state);

    // The username and email are not the user's to change: extra fields are ignored.
    const ok = await me.submit('/ui/account', '/ui/account/profile', { firstName: '  Nia ', lastName: 'Okafor', username: 'mallory', email: 'm@evil.test' });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('Your name is saved.');
    expect(ok.body).toContain('value="Okafor"');
    const user = await t.db.prisma.user.findUniqueOrThrow({ where: { tenantId_id: { tenantId: tenant, id } } });
    expect(user).toMatchObject({ firstName: 'Nia', lastName: 'Okafor', username: 'nia', email: 'nia@acme.test' });
    const event = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { targetId: id, action: 'user.updated' } });
    expect(event).toMatchObject({ actorKind: 'user', actorId: id, outcome: 'success', details: { fields: ['firstName', 'lastName'] } });
  });
});

describe('login names', () => {
  it('the login form takes a username as well as an email, and says so', async () => {
    await seedUser(t, tenant, { email: 'lee@acme.test', username: 'lee.k', password: PASSWORD });
    const page = await new Client(t.app).get('/ui/login');
    expect(page.body).toContain('<label for="email">Email or username</label>');
    expect(page.body).toMatch(/<input id="email" name="email" type="text"/);
    expect(page.body).toContain('href="/ui/login/forgot"');
    expect(await new Client(t.app).signIn('LEE.K', PASSWORD)).toBe(200);
    expect(await new Client(t.app).signIn('lee@acme.test', PASSWORD)).toBe(200);
  });
});

describe('branding', () => {
  it("the login pages link the tenant's branding stylesheet, which carries its stored colours", async () => {
    await t.db.prisma.tenant.update({ where: { id: tenant }, data: { branding: { primaryColor: '#7a1f5c', backgroundColor: '#eeeeff' } } });
    const page = await new Client(t.app).get('/ui/login');
    expect(page.body).toContain(`<link rel="stylesheet" href="/ui/assets/brand/${tenant}.css">`);
    const css = await t.app.inject({ method: 'GET', url: `/ui/assets/brand/${tenant}.css` });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toContain('text/css');
    expect(css.body).toContain('background:#7a1f5c');
    expect(css.body).toContain('body{background:#eeeeff}');
    // Unknown or malformed names get an empty stylesheet, never an error page.
    for (const url of ['/ui/assets/brand/nope.css', `/ui/assets/brand/${otherTenant}.css`, '/ui/assets/brand/..%2F..%2Fetc.css']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toBe('');
    }
    await t.db.prisma.tenant.update({ where: { id: tenant }, data: { branding: {} } });
  });
});

describe('the login policy', () => {
  it('hidePasswordReset takes the link off the login pages and closes the forgot-password page', async () => {
    const policy = (hidePasswordReset: boolean) =>
      call(t.app, admin, 'PUT', '/api/v3/tenants/login-policy', { data: { type: 'loginPolicy', attributes: { hidePasswordReset } } });
    expect((await policy(true)).statusCode).toBe(200);
    try {
      const c = new Client(t.app, '198.51.100.90');
      const page = await c.get('/ui/login');
      expect(page.statusCode).toBe(200);
      expect(page.body).not.toContain('/ui/login/forgot');
      expect((await c.get('/ui/login/forgot')).statusCode).toBe(404);
      const before = mails.length;
      expect((await c.post('/ui/login/forgot', { csrf: formField(page.body, 'csrf') ?? '', login: 'lee@acme.test' })).statusCode).toBe(404);
      await new Promise((r) => setTimeout(r, 300));
      expect(mails.length).toBe(before);
    } finally {
      expect((await policy(false)).statusCode).toBe(200);
    }
    expect((await new Client(t.app, '198.51.100.91').get('/ui/login')).body).toContain('href="/ui/login/forgot"');
  });
});
