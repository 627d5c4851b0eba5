import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argon2Params } from '../src/platform/passwords.js';
import { loadSubject } from '../src/principals/load.js';
import { consumeSetPasswordToken } from '../src/users/invitations.js';
import { recordFailedLogin } from '../src/users/lockout.js';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';

const GOOD_PASSWORD = 'Correct-Horse-42';

let t: TestApp;
let tenant: string;
let admin: string;
let otherTenant: string;
let otherAdmin: string;

beforeAll(async () => {
  t = await startTestApp({ TRUSTED_PROXIES: '127.0.0.1/32' });
  tenant = await createTenant(t, 'Users Inc');
  admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'], { username: 'robot-admin' })).pat;
  otherTenant = await createTenant(t, 'Elsewhere');
  otherAdmin = (await seedServiceAccountPat(t, otherTenant, ['tenant-admin'])).pat;
});
afterAll(() => t?.close());

const userDoc = (attributes: Record<string, unknown>) => ({ data: { type: 'users', attributes } });

async function createUser(attributes: Record<string, unknown>, token = admin) {
  const res = await call(t.app, token, 'POST', '/api/v3/users', userDoc(attributes));
  if (res.statusCode !== 201) throw new Error(`create user: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** Calls as a user, asserted by a trusted proxy (the credential kinds of users arrive with other issues). */
const asUser = (userId: string, method: 'GET' | 'POST', url: string, tenantId = tenant) =>
  t.app.inject({ method, url, remoteAddress: '127.0.0.1', headers: { 'x-forwarded-user-id': userId, 'x-forwarded-tenant-id': tenantId } });

describe('create and read users', () => {
  it('creates an active user with a password, stored as argon2id and never returned', async () => {
    const res = await call(
      t.app,
      admin,
      'POST',
      '/api/v3/users',
      userDoc({ username: 'Alice', email: 'Alice@Example.test', firstName: 'Alice', lastName: 'Liddell', password: GOOD_PASSWORD }),
    );
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toContain('application/vnd.api+json');
    const body = res.json();
    expect(body.data).toMatchObject({ type: 'users', attributes: { username: 'Alice', email: 'Alice@Example.test', state: 'active', roles: [], idpId: null } });
    expect(body.meta).toBeUndefined();
    expect(res.body).not.toContain(GOOD_PASSWORD);
    expect(res.body).not.toContain('password');
    expect(res.headers.location).toBe(`/api/v3/users/${body.data.id}`);
    const row = await t.db.prisma.user.findUniqueOrThrow({ where: { id: body.data.id } });
    expect(row.passwordHash).toMatch(/^\$argon2id\$/);
    expect(row.usernameLower).toBe('alice');
    const events = await t.db.prisma.auditEvent.findMany({ where: { tenantId: tenant, targetId: body.data.id } });
    expect(events.map((e) => e.action)).toEqual(['user.created']);
    expect(JSON.stringify(events)).not.toContain(GOOD_PASSWORD);

    const got = await call(t.app, admin, 'GET', `/api/v3/users/${body.data.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json().data).toEqual(body.data);
  });

  it('invites a user created without password: initial state and a one-time set-password link', async () => {
    const res = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'bob', email: 'bob@example.test' }));
    expect(res.statusCode).toBe(201);
    const { data, meta } = res.json();
    expect(data.attributes.state).toBe('initial');
    expect(meta.invitation).toBe('link');
    const url = new URL(meta.setPasswordUrl);
    expect(`${url.origin}${url.pathname}`).toBe('http://auth.iam.test/ui/set-password');
    const token = url.searchParams.get('token')!;
    expect(token.length).toBeGreaterThanOrEqual(40);

    const rows = await t.db.prisma.setPasswordToken.findMany({ where: { userId: data.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(await snapshot(t.db))).not.toContain(token);

    const params = argon2Params(t.config);
    expect(await consumeSetPasswordToken(t.db.prisma, token, 'short', params)).toMatchObject({ ok: false, reason: 'policy' });
    expect(await consumeSetPasswordToken(t.db.prisma, 'x'.repeat(43), GOOD_PASSWORD, params)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await consumeSetPasswordToken(t.db.prisma, token, GOOD_PASSWORD, params)).toMatchObject({ ok: true, userId: data.id, tenantId: tenant });
    expect(await consumeSetPasswordToken(t.db.prisma, token, GOOD_PASSWORD, params)).toMatchObject({ ok: false, reason: 'used' });
    const row = await t.db.prisma.user.findUniqueOrThrow({ where: { id: data.id } });
    expect(row.state).toBe('active');
    expect(row.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: data.id, action: 'user.password_set' } })).toBe(1);
  });

  it('refuses an expired set-password token', async () => {
    const res = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'late', email: 'late@example.test' }));
    const token = new URL(res.json().meta.setPasswordUrl).searchParams.get('token')!;
    const later = new Date(Date.now() + (t.config.SET_PASSWORD_TOKEN_TTL_HOURS + 1) * 3600_000);
    expect(await consumeSetPasswordToken(t.db.prisma, token, GOOD_PASSWORD, argon2Params(t.config), later)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('spends a set-password token once under concurrent use, and refuses it for a deactivated user', async () => {
    const params = argon2Params(t.config);
    const a = (await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'race', email: 'race@example.test' }))).json();
    const token = new URL(a.meta.setPasswordUrl).searchParams.get('token')!;
    const results = await Promise.all([1, 2, 3].map(() => consumeSetPasswordToken(t.db.prisma, token, GOOD_PASSWORD, params)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.reason)).toEqual(['used', 'used']);

    const b = (await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'gone', email: 'gone@example.test' }))).json();
    await call(t.app, admin, 'PATCH', `/api/v3/users/${b.data.id}`, userDoc({ state: 'inactive' }));
    const tokenB = new URL(b.meta.setPasswordUrl).searchParams.get('token')!;
    expect(await consumeSetPasswordToken(t.db.prisma, tokenB, GOOD_PASSWORD, params)).toMatchObject({ ok: false, reason: 'user_disabled' });
  });

  it('assigns roles on create and refuses unknown or ungrantable ones', async () => {
    const made = await createUser({ username: 'carol', email: 'carol@example.test', password: GOOD_PASSWORD, roles: ['tenant-user', 'tenant-contributor'] });
    expect(made.data.attributes.roles).toEqual(['tenant-contributor', 'tenant-user']);
    const before = await snapshot(t.db);
    const unknown = await call(
      t.app,
      admin,
      'POST',
      '/api/v3/users',
      userDoc({ username: 'dan', email: 'dan@example.test', roles: ['tenant-user', 'wizard'] }),
    );
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().errors).toEqual([expect.objectContaining({ code: 'unknown_role', source: { pointer: '/data/attributes/roles/1' } })]);
    const sky = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'dan', email: 'dan@example.test', roles: ['skylight-admin'] }));
    expect(sky.statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('answers 400 with a pointer per invalid field and changes nothing', async () => {
    const before = await snapshot(t.db);
    const cases: [Record<string, unknown>, string][] = [
      [{ username: 'eve', email: 'not-an-email' }, '/data/attributes/email'],
      [{ email: 'eve@example.test' }, '/data/attributes/username'],
      [{ username: 'has space', email: 'eve@example.test' }, '/data/attributes/username'],
      [{ username: 'eve', email: 'eve@example.test', admin: true }, '/data/attributes'],
      [{ username: 'eve', email: 'eve@example.test', state: 'locked' }, '/data/attributes/state'],
      [{ username: 'x'.repeat(151), email: 'eve@example.test' }, '/data/attributes/username'],
    ];
    for (const [attributes, pointer] of cases) {
      const res = await call(t.app, admin, 'POST', '/api/v3/users', userDoc(attributes));
      expect(res.statusCode, JSON.stringify(attributes)).toBe(400);
      expect(res.json().errors.map((e: { source: { pointer: string } }) => e.source.pointer)).toContain(pointer);
    }
    expect((await call(t.app, admin, 'POST', '/api/v3/users', '{"data":')).statusCode).toBe(400);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('checks the password against the tenant policy, naming every broken rule without echoing it', async () => {
    const before = await snapshot(t.db);
    const res = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'frank', email: 'frank@example.test', password: 'lowercase' }));
    expect(res.statusCode).toBe(400);
    const errs = res.json().errors;
    expect(
      errs.every((e: { code: string; source: { pointer: string } }) => e.code === 'password_policy' && e.source.pointer === '/data/attributes/password'),
    ).toBe(true);
    expect(errs.map((e: { detail: string }) => e.detail)).toEqual([
      'Password must be at least 12 characters long',
      'Password must contain an upper-case letter',
      'Password must contain a digit',
    ]);
    expect(res.body).not.toContain('lowercase');
    expect(await snapshot(t.db)).toEqual(before);

    // A stricter tenant policy applies.
    const strict = await createTenant(t, 'Strict');
    await t.db.prisma.tenant.update({ where: { id: strict }, data: { pwRequireSymbol: true, pwMinLength: 16 } });
    const strictAdmin = (await seedServiceAccountPat(t, strict, ['tenant-admin'])).pat;
    const weak = await call(t.app, strictAdmin, 'POST', '/api/v3/users', userDoc({ username: 'g', email: 'g@example.test', password: 'Abcdefgh1234' }));
    expect(weak.json().errors.map((e: { detail: string }) => e.detail)).toEqual([
      'Password must be at least 16 characters long',
      'Password must contain a symbol',
    ]);
  });

  it('answers 409 for usernames and emails taken case-insensitively, and for a service account username', async () => {
    await createUser({ username: 'henry', email: 'henry@example.test' });
    const before = await snapshot(t.db);
    const cases: [Record<string, unknown>, string[]][] = [
      [{ username: 'HENRY', email: 'other@example.test' }, ['/data/attributes/username']],
      [{ username: 'henry2', email: 'Henry@EXAMPLE.test' }, ['/data/attributes/email']],
      [{ username: 'Henry', email: 'henry@example.test' }, ['/data/attributes/username', '/data/attributes/email']],
      [{ username: 'ROBOT-ADMIN', email: 'robot@example.test' }, ['/data/attributes/username']],
    ];
    for (const [attributes, pointers] of cases) {
      const res = await call(t.app, admin, 'POST', '/api/v3/users', userDoc(attributes));
      expect(res.statusCode, JSON.stringify(attributes)).toBe(409);
      expect(res.json().errors.map((e: { source: { pointer: string } }) => e.source.pointer)).toEqual(pointers);
    }
    expect(await snapshot(t.db)).toEqual(before);
    // The same names are free in another tenant.
    await createUser({ username: 'henry', email: 'henry@example.test' }, otherAdmin);
  });

  it('answers 404 for unknown ids, non-UUID ids and users of another tenant', async () => {
    const mine = await createUser({ username: 'ivy', email: 'ivy@example.test' });
    for (const id of ['0190a0a0-0000-7000-8000-000000000000', 'not-a-uuid', "1' OR '1'='1"]) {
      expect((await call(t.app, admin, 'GET', `/api/v3/users/${encodeURIComponent(id)}`)).statusCode).toBe(404);
    }
    const before = await snapshot(t.db);
    for (const [method, suffix, body] of [
      ['GET', '', undefined],
      ['PATCH', '', userDoc({ firstName: 'x' })],
      ['DELETE', '', undefined],
      ['GET', '/roles', undefined],
      ['GET', '/usergroups', undefined],
      ['POST', '/roles', { data: [{ type: 'roles', id: 'tenant-user' }] }],
      ['DELETE', '/roles/tenant-user', undefined],
    ] as const) {
      const res = await call(t.app, otherAdmin, method, `/api/v3/users/${mine.data.id}${suffix}`, body);
      expect(res.statusCode, `${method} ${suffix}`).toBe(404);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('lets a skylight-admin manage users of the tenant it names', async () => {
    const headers = { 'x-forwarded-tenant-id': tenant };
    const res = await call(
      t.app,
      t.adminPat,
      'POST',
      '/api/v3/users',
      userDoc({ username: 'opal', email: 'opal@example.test', roles: ['tenant-admin'] }),
      headers,
    );
    expect(res.statusCode).toBe(201);
    const row = await t.db.prisma.user.findUniqueOrThrow({ where: { id: res.json().data.id } });
    expect(row.tenantId).toBe(tenant);
    expect((await call(t.app, t.adminPat, 'GET', `/api/v3/users/${row.id}`, undefined, headers)).statusCode).toBe(200);
    // Without the header it acts on its own (operator) tenant, where this user does not exist.
    expect((await call(t.app, t.adminPat, 'GET', `/api/v3/users/${row.id}`)).statusCode).toBe(404);
    // Only a skylight-admin grants skylight-admin.
    const sky = await call(t.app, t.adminPat, 'POST', `/api/v3/users/${row.id}/roles`, { data: [{ type: 'roles', id: 'skylight-admin' }] }, headers);
    expect(sky.json()).toEqual({ errors: [] });
  });

  it('leaves POST /api/v3/users/accept-terms to its own handler', async () => {
    const res = await call(t.app, admin, 'POST', '/api/v3/users/accept-terms');
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].detail).toBe('Only users accept terms');
  });
});

describe('list and search users', () => {
  let listTenant: string;
  let listAdmin: string;
  const ids: string[] = [];
  let groupId: string;

  beforeAll(async () => {
    listTenant = await createTenant(t, 'Listing');
    listAdmin = (await seedServiceAccountPat(t, listTenant, ['tenant-admin'])).pat;
    const people = [
      ['jdoe', 'john.doe@acme.test', 'John', 'Doe', ['tenant-user']],
      ['jane', 'jane.DOE@acme.test', 'Jane', 'Doe', []],
      ['mike', 'mike@globex.test', 'Michael', 'Scott', ['tenant-admin']],
      ['pam', 'pam@globex.test', 'Pamela', 'Beesly', []],
      ['dwight', 'dwight@schrute.test', 'Dwight', 'Schrute', []],
      ['oscar', 'oscar@acme.test', 'Oscar', 'Martinez', []],
      ['kevin', 'kevin@acme.test', 'Kevin', 'Malone', []],
    ] as const;
    for (const [username, email, firstName, lastName, roles] of people) {
      ids.push((await createUser({ username, email, firstName, lastName, roles: [...roles], password: GOOD_PASSWORD }, listAdmin)).data.id);
    }
    const g = await call(t.app, listAdmin, 'POST', '/api/v3/usergroups', { data: { attributes: { name: 'Accounting', roles: ['tenant-contributor'] } } });
    groupId = g.json().data.id;
    await call(t.app, listAdmin, 'POST', `/api/v3/usergroups/${groupId}/users`, {
      data: [
        { type: 'users', id: ids[5] },
        { type: 'users', id: ids[6] },
      ],
    });
    await call(t.app, listAdmin, 'PATCH', `/api/v3/users/${ids[4]}`, userDoc({ state: 'inactive' }));
  });

  it('pages through users in creation order, with links and meta', async () => {
    const p1 = (await call(t.app, listAdmin, 'GET', '/api/v3/users?pageSize=3')).json();
    expect(p1.data.map((u: { id: string }) => u.id)).toEqual(ids.slice(0, 3));
    expect(p1.meta).toEqual({ page: 1, pageSize: 3, total: 7, totalPages: 3 });
    expect(p1.links).toMatchObject({ prev: null, next: '/api/v3/users?pageSize=3&page=2', last: '/api/v3/users?pageSize=3&page=3' });
    const last = (await call(t.app, listAdmin, 'GET', '/api/v3/users?page=3&pageSize=3')).json();
    expect(last.data.map((u: { id: string }) => u.id)).toEqual([ids[6]]);
    expect(last.links.next).toBeNull();
    const past = await call(t.app, listAdmin, 'GET', '/api/v3/users?page=9&pageSize=3');
    expect(past.statusCode).toBe(200);
    expect(past.json().data).toEqual([]);
    expect(past.json().meta.total).toBe(7);
    const all = (await call(t.app, listAdmin, 'GET', '/api/v3/users?pageSize=500')).json();
    expect(all.data).toHaveLength(7);
    for (const q of ['pageSize=0', 'pageSize=501', 'page=0', 'page=abc', 'pageSize=-1']) {
      const res = await call(t.app, listAdmin, 'GET', `/api/v3/users?${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().errors[0].source.parameter).toMatch(/page/);
    }
  });

  const search = async (criteria: Record<string, unknown>, query = '') => {
    const res = await call(t.app, listAdmin, 'POST', `/api/v3/users/search${query}`, { data: criteria });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const names = (doc: { data: { attributes: { username: string } }[] }) => doc.data.map((u) => u.attributes.username);

  it('matches names and email case-insensitively by substring', async () => {
    expect(names(await search({ email: 'ACME' }))).toEqual(['jdoe', 'jane', 'oscar', 'kevin']);
    expect(names(await search({ lastName: 'doe' }))).toEqual(['jdoe', 'jane']);
    expect(names(await search({ firstName: 'ME', lastName: 'Be' }))).toEqual(['pam']);
    expect(names(await search({ username: 'WIG' }))).toEqual(['dwight']);
    expect(names(await search({ username: '%' }))).toEqual([]);
    expect(names(await search({ username: '_' }))).toEqual([]);
    const doc = await search({ email: 'acme' }, '?page=2&pageSize=3');
    expect(names(doc)).toEqual(['kevin']);
    expect(doc.bodyFilters).toEqual({ email: 'acme' });
    expect(doc.meta).toEqual({ page: 2, pageSize: 3, total: 4, totalPages: 2 });
  });

  it('matches role (direct or through a group), group, state and IdP exactly', async () => {
    expect(names(await search({ role: 'tenant-admin' }))).toEqual(['mike']);
    expect(names(await search({ role: 'tenant-contributor' }))).toEqual(['oscar', 'kevin']);
    expect(names(await search({ role: 'Tenant-Admin' }))).toEqual([]);
    expect(names(await search({ usergroupId: groupId }))).toEqual(['oscar', 'kevin']);
    expect(names(await search({ state: 'inactive' }))).toEqual(['dwight']);
    expect(names(await search({ role: 'tenant-contributor', email: 'kev' }))).toEqual(['kevin']);
    expect(names(await search({ idpId: '0190a0a0-0000-7000-8000-000000000000' }))).toEqual([]);
    expect((await search({})).meta.total).toBe(7);
  });

  it('counts a role holder once when they hold it both directly and through a group', async () => {
    const grant = (id: string) => call(t.app, listAdmin, 'POST', `/api/v3/users/${id}/roles`, { data: [{ type: 'roles', id: 'tenant-contributor' }] });
    const revoke = (id: string) => call(t.app, listAdmin, 'DELETE', `/api/v3/users/${id}/roles/tenant-contributor`);
    // kevin is in the group too; jdoe only directly.
    for (const id of [ids[6]!, ids[0]!]) expect((await grant(id)).statusCode).toBeLessThan(300);
    try {
      const doc = await search({ role: 'tenant-contributor' });
      expect(names(doc)).toEqual(['jdoe', 'oscar', 'kevin']);
      expect(doc.meta.total).toBe(3);
      const page = await search({ role: 'tenant-contributor' }, '?page=2&pageSize=2');
      expect(names(page)).toEqual(['kevin']);
      expect(page.meta.total).toBe(3);
    } finally {
      for (const id of [ids[6]!, ids[0]!]) expect((await revoke(id)).statusCode).toBe(204);
    }
  });

  it('keeps totals exact while they are cached: API changes at once, other writers within moments', async () => {
    const ct = await createTenant(t, 'Counting');
    const ca = (await seedServiceAccountPat(t, ct, ['tenant-admin'])).pat;
    const total = async (criteria: Record<string, unknown> | undefined) => {
      const res = criteria
        ? await call(t.app, ca, 'POST', '/api/v3/users/search', { data: criteria })
        : await call(t.app, ca, 'GET', '/api/v3/users?pageSize=1');
      expect(res.statusCode, res.body).toBe(200);
      return res.json().meta.total as number;
    };
    const made: string[] = [];
    for (const name of ['cc-a', 'cc-b', 'cc-c']) made.push((await createUser({ username: name, email: `${name}@count.test` }, ca)).data.id);
    const byEmail = { email: 'COUNT.test' };
    const byRole = { role: 'tenant-contributor' };
    for (let i = 0; i < 2; i++) {
      expect(await total(byEmail)).toBe(3);
      expect(await total(undefined)).toBe(3);
      expect(await total(byRole)).toBe(0);
    }
    made.push((await createUser({ username: 'cc-d', email: 'cc-d@count.test' }, ca)).data.id);
    expect(await total(byEmail)).toBe(4);
    expect(await total(undefined)).toBe(4);

    expect((await call(t.app, ca, 'POST', `/api/v3/users/${made[0]}/roles`, { data: [{ type: 'roles', id: 'tenant-contributor' }] })).statusCode).toBeLessThan(
      300,
    );
    expect(await total(byRole)).toBe(1);
    const g = await call(t.app, ca, 'POST', '/api/v3/usergroups', { data: { attributes: { name: 'Counted', roles: ['tenant-contributor'] } } });
    expect(g.statusCode).toBe(201);
    expect((await call(t.app, ca, 'POST', `/api/v3/usergroups/${g.json().data.id}/users`, { data: [{ type: 'users', id: made[1] }] })).statusCode).toBeLessThan(
      300,
    );
    expect(await total(byRole)).toBe(2);
    expect(await total({ ...byRole, email: 'cc-b' })).toBe(1);

    expect((await call(t.app, ca, 'DELETE', `/api/v3/users/${made[3]}`)).statusCode).toBe(204);
    expect(await total(byEmail)).toBe(3);
    expect(await total(undefined)).toBe(3);

    // A writer that is not this API (SQL, another tool): the database triggers tell every instance.
    await t.db.prisma.user.update({ where: { id: made[2] }, data: { email: 'cc-c@elsewhere.test' } });
    const until = Date.now() + 2000;
    while ((await total(byEmail)) !== 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(await total(byEmail)).toBe(2);
    expect(await total(undefined)).toBe(3);
    // Other tenants' counts are their own.
    expect((await call(t.app, otherAdmin, 'POST', '/api/v3/users/search', { data: byEmail })).json().meta.total).toBe(0);
  });

  it('refuses malformed criteria with 400', async () => {
    for (const criteria of [{ usergroupId: 'nope' }, { state: 'sleeping' }, { colour: 'red' }, { username: 5 }]) {
      const res = await call(t.app, listAdmin, 'POST', '/api/v3/users/search', { data: criteria });
      expect(res.statusCode, JSON.stringify(criteria)).toBe(400);
      expect(res.json().errors[0].source.pointer).toMatch(/^\/data/);
    }
  });
});

describe('update and delete users', () => {
  it('updates names, username and email, checking conflicts', async () => {
    const a = await createUser({ username: 'kim', email: 'kim@example.test', password: GOOD_PASSWORD });
    await createUser({ username: 'lou', email: 'lou@example.test' });
    const res = await call(t.app, admin, 'PATCH', `/api/v3/users/${a.data.id}`, userDoc({ firstName: 'Kim', username: 'Kimberly', email: 'KIM@example.test' }));
    expect(res.statusCode).toBe(200);
    expect(res.json().data.attributes).toMatchObject({ firstName: 'Kim', username: 'Kimberly', email: 'KIM@example.test', state: 'active' });
    const before = await snapshot(t.db);
    const dupUser = await call(t.app, admin, 'PATCH', `/api/v3/users/${a.data.id}`, userDoc({ username: 'LOU' }));
    expect(dupUser.statusCode).toBe(409);
    const dupEmail = await call(t.app, admin, 'PATCH', `/api/v3/users/${a.data.id}`, userDoc({ email: 'lou@EXAMPLE.test' }));
    expect(dupEmail.statusCode).toBe(409);
    expect(dupEmail.json().errors[0].source.pointer).toBe('/data/attributes/email');
    const bad = await call(t.app, admin, 'PATCH', `/api/v3/users/${a.data.id}`, userDoc({ state: 'initial', roles: [] }));
    expect(bad.statusCode).toBe(400);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('locks after the tenant maximum of failed logins and stays locked until an admin sets it active', async () => {
    const lockTenant = await createTenant(t, 'Lockout');
    await t.db.prisma.tenant.update({ where: { id: lockTenant }, data: { lockoutMaxAttempts: 3 } });
    const lockAdmin = (await seedServiceAccountPat(t, lockTenant, ['tenant-admin'])).pat;
    const u = (await createUser({ username: 'max', email: 'max@example.test', password: GOOD_PASSWORD }, lockAdmin)).data;
    expect(await recordFailedLogin(t.db.prisma, lockTenant, u.id)).toBe(false);
    expect(await recordFailedLogin(t.db.prisma, lockTenant, u.id)).toBe(false);
    expect(await recordFailedLogin(t.db.prisma, lockTenant, u.id)).toBe(true);
    expect(await recordFailedLogin(t.db.prisma, lockTenant, u.id)).toBe(true);
    expect((await call(t.app, lockAdmin, 'GET', `/api/v3/users/${u.id}`)).json().data.attributes.state).toBe('locked');
    expect(await loadSubject(t.db.prisma, lockTenant, u.id, 'proxy', 'x')).toEqual({ ok: false, reason: 'locked' });

    const unlocked = await call(t.app, lockAdmin, 'PATCH', `/api/v3/users/${u.id}`, userDoc({ state: 'active' }));
    expect(unlocked.json().data.attributes.state).toBe('active');
    const row = await t.db.prisma.user.findUniqueOrThrow({ where: { id: u.id } });
    expect(row.failedLogins).toBe(0);
    expect((await loadSubject(t.db.prisma, lockTenant, u.id, 'proxy', 'x')).ok).toBe(true);
    const audit = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { targetId: u.id, action: 'user.updated' } });
    expect(audit.details).toMatchObject({ state: { from: 'locked', to: 'active' } });
  });

  it('activates an invited user when an admin sets a password, spending the invitation', async () => {
    const res = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'nina', email: 'nina@example.test' }));
    const { data, meta } = res.json();
    const noPw = await call(t.app, admin, 'PATCH', `/api/v3/users/${data.id}`, userDoc({ state: 'active' }));
    expect(noPw.statusCode).toBe(422);
    const weak = await call(t.app, admin, 'PATCH', `/api/v3/users/${data.id}`, userDoc({ password: 'weak' }));
    expect(weak.statusCode).toBe(400);
    const set = await call(t.app, admin, 'PATCH', `/api/v3/users/${data.id}`, userDoc({ password: GOOD_PASSWORD }));
    expect(set.statusCode).toBe(200);
    expect(set.json().data.attributes.state).toBe('active');
    expect(set.body).not.toContain(GOOD_PASSWORD);
    const token = new URL(meta.setPasswordUrl).searchParams.get('token')!;
    expect(await consumeSetPasswordToken(t.db.prisma, token, GOOD_PASSWORD, argon2Params(t.config))).toMatchObject({ ok: false, reason: 'used' });
  });

  it('deletes a user with its memberships and role assignments', async () => {
    const u = (await createUser({ username: 'olga', email: 'olga@example.test', roles: ['tenant-user'] })).data;
    const g = (await call(t.app, admin, 'POST', '/api/v3/usergroups', { data: { attributes: { name: 'Leaving' } } })).json().data;
    await call(t.app, admin, 'POST', `/api/v3/usergroups/${g.id}/users`, { data: [{ type: 'users', id: u.id }] });
    const del = await call(t.app, admin, 'DELETE', `/api/v3/users/${u.id}`);
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expect((await call(t.app, admin, 'GET', `/api/v3/users/${u.id}`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${u.id}`)).statusCode).toBe(404);
    expect(await t.db.prisma.groupMembership.count({ where: { userId: u.id } })).toBe(0);
    expect(await t.db.prisma.roleAssignment.count({ where: { userId: u.id } })).toBe(0);
    expect(await t.db.prisma.setPasswordToken.count({ where: { userId: u.id } })).toBe(0);
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: u.id, action: 'user.deleted' } })).toBe(1);
  });

  it('does not let a tenant-admin change or delete a skylight-admin', async () => {
    const opAdmin = (await seedServiceAccountPat(t, t.operatorTenantId, ['tenant-admin'])).pat;
    const sky = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId: t.operatorTenantId, roles: { some: { roleName: 'skylight-admin' } } } });
    const before = await snapshot(t.db);
    expect((await call(t.app, opAdmin, 'DELETE', `/api/v3/users/${sky.id}`)).statusCode).toBe(403);
    expect((await call(t.app, opAdmin, 'PATCH', `/api/v3/users/${sky.id}`, userDoc({ password: GOOD_PASSWORD }))).statusCode).toBe(403);
    expect((await call(t.app, opAdmin, 'DELETE', `/api/v3/users/${sky.id}/roles/skylight-admin`)).statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
    // The skylight-admin itself may.
    const patched = await call(t.app, t.adminPat, 'PATCH', `/api/v3/users/${sky.id}`, userDoc({ firstName: 'Root' }));
    expect(patched.statusCode).toBe(200);
  });
});

describe('roles of a user', () => {
  it('adds roles in bulk, applying the good items and reporting the others by index', async () => {
    const u = (await createUser({ username: 'pete', email: 'pete@example.test' })).data;
    await call(t.app, admin, 'POST', '/api/v3/roles', { data: { attributes: { name: 'Viewer', featureRoles: ['dashboards-view'] } } });
    const res = await call(t.app, admin, 'POST', `/api/v3/users/${u.id}/roles`, {
      data: [
        { type: 'roles', id: 'tenant-contributor' },
        { type: 'roles', id: 'no-such-role' },
        { type: 'roles', id: 'skylight-admin' },
        { type: 'roles', id: 'viewer' },
        { type: 'roles', id: 'tenant-contributor' },
      ],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().errors).toEqual([
      expect.objectContaining({ status: '404', code: 'not_found', source: { pointer: '/data/1' } }),
      expect.objectContaining({ status: '403', code: 'forbidden', source: { pointer: '/data/2' } }),
    ]);
    const got = (await call(t.app, admin, 'GET', `/api/v3/users/${u.id}`)).json();
    expect(got.data.attributes.roles).toEqual(['Viewer', 'tenant-contributor']);
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: u.id, action: 'user.roles_added' } })).toBe(1);

    const again = await call(t.app, admin, 'POST', `/api/v3/users/${u.id}/roles`, { data: [{ type: 'roles', id: 'tenant-contributor' }] });
    expect(again.json()).toEqual({ errors: [] });
    for (const body of [{ data: [] }, { data: [{ type: 'users', id: 'x' }] }, { data: {} }, {}]) {
      expect((await call(t.app, admin, 'POST', `/api/v3/users/${u.id}/roles`, body)).statusCode, JSON.stringify(body)).toBe(400);
    }
  });

  it('lists own and inherited roles, each marked, and removes one role', async () => {
    const u = (await createUser({ username: 'quinn', email: 'quinn@example.test', roles: ['tenant-user'] })).data;
    const g1 = (
      await call(t.app, admin, 'POST', '/api/v3/usergroups', { data: { attributes: { name: 'Contributors', roles: ['tenant-contributor', 'tenant-user'] } } })
    ).json().data;
    await call(t.app, admin, 'POST', `/api/v3/usergroups/${g1.id}/users`, { data: [{ type: 'users', id: u.id }] });
    const res = await call(t.app, admin, 'GET', `/api/v3/users/${u.id}/roles`);
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toEqual([
      {
        type: 'roles',
        id: 'tenant-contributor',
        attributes: { name: 'tenant-contributor', builtIn: true, direct: false, inherited: true, inheritedFrom: [{ id: g1.id, name: 'Contributors' }] },
      },
      {
        type: 'roles',
        id: 'tenant-user',
        attributes: { name: 'tenant-user', builtIn: true, direct: true, inherited: true, inheritedFrom: [{ id: g1.id, name: 'Contributors' }] },
      },
    ]);
    const page2 = (await call(t.app, admin, 'GET', `/api/v3/users/${u.id}/roles?page=2&pageSize=1`)).json();
    expect(page2.data.map((r: { id: string }) => r.id)).toEqual(['tenant-user']);
    expect(page2.meta).toEqual({ page: 2, pageSize: 1, total: 2, totalPages: 2 });

    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${u.id}/roles/tenant-user`)).statusCode).toBe(204);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/users/${u.id}/roles/tenant-user`)).statusCode).toBe(404);
    const after = (await call(t.app, admin, 'GET', `/api/v3/users/${u.id}/roles`)).json().data;
    expect(after.find((r: { id: string }) => r.id === 'tenant-user').attributes).toMatchObject({ direct: false, inherited: true });
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: u.id, action: 'user.role_removed' } })).toBe(1);
  });
});

describe('a user acting on itself', () => {
  it('reads itself, its roles and its groups, but nobody else', async () => {
    const me = (await createUser({ username: 'rita', email: 'rita@example.test', password: GOOD_PASSWORD, roles: ['tenant-user'] })).data;
    const other = (await createUser({ username: 'sam', email: 'sam@example.test' })).data;
    const g = (await call(t.app, admin, 'POST', '/api/v3/usergroups', { data: { attributes: { name: 'Rita fans' } } })).json().data;
    const hidden = (await call(t.app, admin, 'POST', '/api/v3/usergroups', { data: { attributes: { name: 'Secret' } } })).json().data;
    await call(t.app, admin, 'POST', `/api/v3/usergroups/${g.id}/users`, { data: [{ type: 'users', id: me.id }] });

    const self = await asUser(me.id, 'GET', `/api/v3/users/${me.id}`);
    expect(self.statusCode).toBe(200);
    expect(self.json().data.attributes.username).toBe('rita');
    expect((await asUser(me.id, 'GET', `/api/v3/users/${me.id}/roles`)).json().data.map((r: { id: string }) => r.id)).toEqual(['tenant-user']);
    expect((await asUser(me.id, 'GET', `/api/v3/users/${me.id}/usergroups`)).json().data.map((x: { id: string }) => x.id)).toEqual([g.id]);
    expect((await asUser(me.id, 'GET', `/api/v3/usergroups/${g.id}`)).statusCode).toBe(200);

    expect((await asUser(me.id, 'GET', `/api/v3/users/${other.id}`)).statusCode).toBe(403);
    expect((await asUser(me.id, 'GET', `/api/v3/users/${other.id}/roles`)).statusCode).toBe(403);
    expect((await asUser(me.id, 'GET', `/api/v3/users/${other.id}/usergroups`)).statusCode).toBe(403);
    expect((await asUser(me.id, 'GET', `/api/v3/usergroups/${hidden.id}`)).statusCode).toBe(404);
    expect((await asUser(me.id, 'GET', '/api/v3/users')).statusCode).toBe(403);
    expect((await asUser(me.id, 'POST', '/api/v3/users/search')).statusCode).toBe(403);
  });
});
