import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSubject } from '../src/principals/load.js';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
let tenant: string;
let admin: string;
let otherAdmin: string;
let otherUserId: string;

beforeAll(async () => {
  t = await startTestApp();
  tenant = await createTenant(t, 'Groups Inc');
  admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'])).pat;
  const other = await createTenant(t, 'Elsewhere');
  otherAdmin = (await seedServiceAccountPat(t, other, ['tenant-admin'])).pat;
  otherUserId = (await call(t.app, otherAdmin, 'POST', '/api/v3/users', { data: { attributes: { username: 'stranger', email: 's@x.test' } } })).json().data.id;
});
afterAll(() => t?.close());

const groupDoc = (attributes: Record<string, unknown>) => ({ data: { type: 'usergroups', attributes } });
async function newUser(username: string) {
  const res = await call(t.app, admin, 'POST', '/api/v3/users', { data: { attributes: { username, email: `${username}@example.test` } } });
  return res.json().data.id as string;
}
async function newGroup(attributes: Record<string, unknown>) {
  const res = await call(t.app, admin, 'POST', '/api/v3/usergroups', groupDoc(attributes));
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().data;
}

describe('user groups', () => {
  it('creates a group with roles and reads it back', async () => {
    const res = await call(
      t.app,
      admin,
      'POST',
      '/api/v3/usergroups',
      groupDoc({ name: 'NOC Engineers', description: 'Night shift', roles: ['tenant-contributor'] }),
    );
    expect(res.statusCode).toBe(201);
    const g = res.json().data;
    expect(g).toMatchObject({
      type: 'usergroups',
      attributes: { name: 'NOC Engineers', description: 'Night shift', roles: ['tenant-contributor'], memberCount: 0 },
    });
    expect(res.headers.location).toBe(`/api/v3/usergroups/${g.id}`);
    expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${g.id}`)).json().data).toEqual(g);
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: g.id, action: 'usergroup.created' } })).toBe(1);
  });

  it('refuses invalid groups, duplicate names (case-insensitive) and roles the caller cannot grant', async () => {
    await newGroup({ name: 'Unique' });
    const before = await snapshot(t.db);
    const dup = await call(t.app, admin, 'POST', '/api/v3/usergroups', groupDoc({ name: 'UNIQUE' }));
    expect(dup.statusCode).toBe(409);
    expect(dup.json().errors[0].source.pointer).toBe('/data/attributes/name');
    for (const [attrs, pointer] of [
      [{ name: '' }, '/data/attributes/name'],
      [{ name: 'x'.repeat(201) }, '/data/attributes/name'],
      [{}, '/data/attributes/name'],
      [{ name: 'ok', members: [] }, '/data/attributes'],
      [{ name: 'ok', roles: ['tenant-user', 'ghost'] }, '/data/attributes/roles/1'],
    ] as const) {
      const res = await call(t.app, admin, 'POST', '/api/v3/usergroups', groupDoc(attrs));
      expect(res.statusCode, JSON.stringify(attrs)).toBe(400);
      expect(res.json().errors.map((e: { source: { pointer: string } }) => e.source.pointer)).toContain(pointer);
    }
    expect((await call(t.app, admin, 'POST', '/api/v3/usergroups', groupDoc({ name: 'Gods', roles: ['skylight-admin'] }))).statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('updates name, description and roles (replacing them), with 409 on a taken name', async () => {
    const g = await newGroup({ name: 'Analysts', roles: ['tenant-user'] });
    await newGroup({ name: 'Taken' });
    const res = await call(
      t.app,
      admin,
      'PATCH',
      `/api/v3/usergroups/${g.id}`,
      groupDoc({ name: 'Senior analysts', description: 'd', roles: ['tenant-admin', 'tenant-contributor'] }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().data.attributes).toMatchObject({ name: 'Senior analysts', description: 'd', roles: ['tenant-admin', 'tenant-contributor'] });
    const same = await call(t.app, admin, 'PATCH', `/api/v3/usergroups/${g.id}`, groupDoc({ name: 'senior ANALYSTS' }));
    expect(same.statusCode).toBe(200);
    const before = await snapshot(t.db);
    expect((await call(t.app, admin, 'PATCH', `/api/v3/usergroups/${g.id}`, groupDoc({ name: 'taken' }))).statusCode).toBe(409);
    expect((await call(t.app, admin, 'PATCH', `/api/v3/usergroups/${g.id}`, groupDoc({ roles: ['nope'] }))).statusCode).toBe(400);
    expect((await call(t.app, admin, 'PATCH', `/api/v3/usergroups/${g.id}`, groupDoc({ roles: ['skylight-admin'] }))).statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('adds members in bulk, applying good items and reporting bad ones by index; members inherit the roles', async () => {
    const g = await newGroup({ name: 'Inheritors', roles: ['tenant-contributor'] });
    const u1 = await newUser('ursula');
    const u2 = await newUser('victor');
    const res = await call(t.app, admin, 'POST', `/api/v3/usergroups/${g.id}/users`, {
      data: [
        { type: 'users', id: u1 },
        { type: 'users', id: 'not-a-uuid' },
        { type: 'users', id: otherUserId },
        { type: 'users', id: u2 },
        { type: 'users', id: u1 },
      ],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().errors).toEqual([
      expect.objectContaining({ status: '404', source: { pointer: '/data/1' } }),
      expect.objectContaining({ status: '404', source: { pointer: '/data/2' } }),
    ]);
    expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${g.id}`)).json().data.attributes.memberCount).toBe(2);
    expect(await t.db.prisma.groupMembership.count({ where: { userId: otherUserId } })).toBe(0);
    const all = await call(t.app, admin, 'POST', `/api/v3/usergroups/${g.id}/users`, { data: [{ type: 'users', id: u2 }] });
    expect(all.json()).toEqual({ errors: [] });

    // Inherited roles reach the principal; make the user able to log in first.
    await t.db.prisma.user.update({ where: { id: u1 }, data: { state: 'active' } });
    const v = await loadSubject(t.db.prisma, tenant, u1, 'proxy', 'x');
    expect(v.ok && v.principal.roles).toEqual(['tenant-contributor']);
    expect(v.ok && v.principal.groups).toEqual([g.id]);

    for (const body of [{ data: [] }, { data: [{ type: 'roles', id: u1 }] }, { data: Array.from({ length: 501 }, () => ({ id: u1 })) }]) {
      expect((await call(t.app, admin, 'POST', `/api/v3/usergroups/${g.id}/users`, body)).statusCode).toBe(400);
    }
  });

  it('lists members with pagination edges, removes a member, and answers 404 for non-members', async () => {
    const g = await newGroup({ name: 'Paged' });
    const ids = [await newUser('m1'), await newUser('m2'), await newUser('m3')];
    await call(t.app, admin, 'POST', `/api/v3/usergroups/${g.id}/users`, { data: ids.map((id) => ({ type: 'users', id })) });
    const p1 = (await call(t.app, admin, 'GET', `/api/v3/usergroups/${g.id}/users?pageSize=2`)).json();
    expect(p1.data.map((u: { id: string }) => u.id)).toEqual(ids.slice(0, 2));
    expect(p1.data[0].type).toBe('users');
    expect(p1.meta).toEqual({ page: 1, pageSize: 2, total: 3, totalPages: 2 });
    const p2 = (await call(t.app, admin, 'GET', `/api/v3/usergroups/${g.id}/users?page=2&pageSize=2`)).json();
    expect(p2.data.map((u: { id: string }) => u.id)).toEqual([ids[2]]);
    expect(p2.links.next).toBeNull();
    expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${g.id}/users?page=3&pageSize=2`)).json().data).toEqual([]);
    expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${g.id}/users?pageSize=501`)).statusCode).toBe(400);

    expect((await call(t.app, admin, 'DELETE', `/api/v3/usergroups/${g.id}/users/${ids[0]}`)).statusCode).toBe(204);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/usergroups/${g.id}/users/${ids[0]}`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/usergroups/${g.id}/users/garbage`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${g.id}`)).json().data.attributes.memberCount).toBe(2);
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: g.id, action: 'usergroup.member_removed' } })).toBe(1);
  });

  it('deletes a group, its memberships and role assignments; members lose the inherited roles', async () => {
    const g = await newGroup({ name: 'Doomed', roles: ['tenant-admin'] });
    const u = await newUser('walt');
    await call(t.app, admin, 'POST', `/api/v3/usergroups/${g.id}/users`, { data: [{ type: 'users', id: u }] });
    expect((await call(t.app, admin, 'GET', `/api/v3/users/${u}/roles`)).json().data.map((r: { id: string }) => r.id)).toEqual(['tenant-admin']);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/usergroups/${g.id}`)).statusCode).toBe(204);
    expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${g.id}`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/usergroups/${g.id}`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'GET', `/api/v3/users/${u}/roles`)).json().data).toEqual([]);
    expect(await t.db.prisma.roleAssignment.count({ where: { groupId: g.id } })).toBe(0);
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: g.id, action: 'usergroup.deleted' } })).toBe(1);
  });

  it("answers 404 for unknown ids and for another tenant's groups, changing nothing", async () => {
    const g = await newGroup({ name: 'Mine', roles: ['tenant-user'] });
    const u = await newUser('xena');
    await call(t.app, admin, 'POST', `/api/v3/usergroups/${g.id}/users`, { data: [{ type: 'users', id: u }] });
    for (const id of ['0190a0a0-0000-7000-8000-000000000000', 'nope']) {
      expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${id}`)).statusCode).toBe(404);
      expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${id}/users`)).statusCode).toBe(404);
    }
    const before = await snapshot(t.db);
    for (const [method, suffix, body] of [
      ['GET', '', undefined],
      ['PATCH', '', groupDoc({ name: 'Stolen' })],
      ['DELETE', '', undefined],
      ['GET', '/users', undefined],
      ['POST', '/users', { data: [{ type: 'users', id: otherUserId }] }],
      ['DELETE', `/users/${u}`, undefined],
    ] as const) {
      expect((await call(t.app, otherAdmin, method, `/api/v3/usergroups/${g.id}${suffix}`, body)).statusCode, `${method} ${suffix}`).toBe(404);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('searches groups by name substring and by member', async () => {
    const s = await createTenant(t, 'Search groups');
    const sAdmin = (await seedServiceAccountPat(t, s, ['tenant-admin'])).pat;
    const mk = async (name: string) => (await call(t.app, sAdmin, 'POST', '/api/v3/usergroups', groupDoc({ name }))).json().data.id as string;
    const ids = { alpha: await mk('Alpha Team'), beta: await mk('beta team'), gamma: await mk('Gamma'), pct: await mk('100% club') };
    const user = (await call(t.app, sAdmin, 'POST', '/api/v3/users', { data: { attributes: { username: 'yuri', email: 'y@x.test' } } })).json().data.id;
    await call(t.app, sAdmin, 'POST', `/api/v3/usergroups/${ids.beta}/users`, { data: [{ type: 'users', id: user }] });
    await call(t.app, sAdmin, 'POST', `/api/v3/usergroups/${ids.gamma}/users`, { data: [{ type: 'users', id: user }] });
    const search = async (data: Record<string, unknown>, q = '') => {
      const res = await call(t.app, sAdmin, 'POST', `/api/v3/usergroups/search${q}`, { data });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const names = (d: { data: { attributes: { name: string } }[] }) => d.data.map((g) => g.attributes.name);
    expect(names(await search({ name: 'TEAM' }))).toEqual(['Alpha Team', 'beta team']);
    expect(names(await search({ name: '%' }))).toEqual(['100% club']);
    expect(names(await search({ userId: user }))).toEqual(['beta team', 'Gamma']);
    expect(names(await search({ userId: user, name: 'gam' }))).toEqual(['Gamma']);
    const page = await search({}, '?page=2&pageSize=3');
    expect(names(page)).toEqual(['Gamma']);
    expect(page.meta).toEqual({ page: 2, pageSize: 3, total: 4, totalPages: 2 });
    expect((await call(t.app, sAdmin, 'POST', '/api/v3/usergroups/search', { data: { userId: 'x' } })).statusCode).toBe(400);
    expect((await call(t.app, sAdmin, 'POST', '/api/v3/usergroups/search', { data: { owner: 'x' } })).statusCode).toBe(400);
  });
});
