import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
let tenant: string;
let admin: string;
let reader: string;
let otherAdmin: string;

beforeAll(async () => {
  t = await startTestApp();
  tenant = await createTenant(t, 'Roles Inc');
  admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'])).pat;
  reader = (await seedServiceAccountPat(t, tenant, ['tenant-user'])).pat;
  otherAdmin = (await seedServiceAccountPat(t, await createTenant(t, 'Elsewhere'), ['tenant-admin'])).pat;
});
afterAll(() => t?.close());

const roleDoc = (attributes: Record<string, unknown>) => ({ data: { type: 'roles', attributes } });
async function newRole(attributes: Record<string, unknown>, token = admin) {
  const res = await call(t.app, token, 'POST', '/api/v3/roles', roleDoc(attributes));
  if (res.statusCode !== 201) throw new Error(res.body);
  return res.json().data;
}

describe('feature roles', () => {
  it('lists the catalogue to any principal of the tenant', async () => {
    const res = await call(t.app, reader, 'GET', '/api/v3/roles/feature-roles');
    expect(res.statusCode).toBe(200);
    const data = res.json().data;
    expect(data.length).toBeGreaterThanOrEqual(10);
    expect(data).toContainEqual({
      type: 'featureRoles',
      id: 'dashboards-view',
      attributes: { name: 'dashboards-view', category: 'Dashboards', description: 'View dashboards and their cards' },
    });
  });
});

describe('custom roles', () => {
  it('creates, reads and lists a custom role', async () => {
    const res = await call(
      t.app,
      admin,
      'POST',
      '/api/v3/roles',
      roleDoc({ name: 'NOC operator', description: 'Watches alerts', featureRoles: ['alerts-view', 'alerts-manage', 'alerts-view'] }),
    );
    expect(res.statusCode).toBe(201);
    const role = res.json().data;
    expect(role).toMatchObject({
      type: 'roles',
      attributes: { name: 'NOC operator', description: 'Watches alerts', featureRoles: ['alerts-view', 'alerts-manage'] },
    });
    expect(res.headers.location).toBe(`/api/v3/roles/${role.id}`);
    expect((await call(t.app, admin, 'GET', `/api/v3/roles/${role.id}`)).json().data).toEqual(role);
    expect(await t.db.prisma.auditEvent.count({ where: { targetId: role.id, action: 'role.created' } })).toBe(1);
  });

  it('refuses built-in names (422), taken names (409), unknown feature roles and malformed input (400)', async () => {
    await newRole({ name: 'Auditor', featureRoles: ['audit-view'] });
    const before = await snapshot(t.db);
    for (const name of ['tenant-admin', 'Skylight-Admin', 'TENANT-USER']) {
      const res = await call(t.app, admin, 'POST', '/api/v3/roles', roleDoc({ name }));
      expect(res.statusCode, name).toBe(422);
    }
    const dup = await call(t.app, admin, 'POST', '/api/v3/roles', roleDoc({ name: 'AUDITOR' }));
    expect(dup.statusCode).toBe(409);
    expect(dup.json().errors[0].source.pointer).toBe('/data/attributes/name');
    const unknown = await call(t.app, admin, 'POST', '/api/v3/roles', roleDoc({ name: 'X', featureRoles: ['dashboards-view', 'launch-missiles', 'sudo'] }));
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().errors.map((e: { source: { pointer: string } }) => e.source.pointer)).toEqual([
      '/data/attributes/featureRoles/1',
      '/data/attributes/featureRoles/2',
    ]);
    for (const attrs of [
      {},
      { name: '' },
      { name: '-leading' },
      { name: 'x'.repeat(101) },
      { name: 'ok', featureRoles: 'dashboards-view' },
      { name: 'ok', extra: 1 },
    ]) {
      expect((await call(t.app, admin, 'POST', '/api/v3/roles', roleDoc(attrs))).statusCode, JSON.stringify(attrs)).toBe(400);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('renames a role and keeps its assignments to users and groups', async () => {
    const role = await newRole({ name: 'Reporter', featureRoles: ['reports-view'] });
    const user = (
      await call(t.app, admin, 'POST', '/api/v3/users', { data: { attributes: { username: 'zoe', email: 'zoe@x.test', roles: ['reporter'] } } })
    ).json().data;
    expect(user.attributes.roles).toEqual(['Reporter']);
    const group = (await call(t.app, admin, 'POST', '/api/v3/usergroups', { data: { attributes: { name: 'Reporters', roles: ['Reporter'] } } })).json().data;
    const res = await call(
      t.app,
      admin,
      'PATCH',
      `/api/v3/roles/${role.id}`,
      roleDoc({ name: 'Report writer', featureRoles: ['reports-view', 'reports-manage'] }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().data.attributes).toMatchObject({ name: 'Report writer', featureRoles: ['reports-view', 'reports-manage'] });
    expect((await call(t.app, admin, 'GET', `/api/v3/users/${user.id}`)).json().data.attributes.roles).toEqual(['Report writer']);
    expect((await call(t.app, admin, 'GET', `/api/v3/usergroups/${group.id}`)).json().data.attributes.roles).toEqual(['Report writer']);
    expect(await t.db.prisma.roleAssignment.count({ where: { tenantId: tenant, roleName: 'Reporter' } })).toBe(0);

    await newRole({ name: 'Other' });
    const before = await snapshot(t.db);
    expect((await call(t.app, admin, 'PATCH', `/api/v3/roles/${role.id}`, roleDoc({ name: 'other' }))).statusCode).toBe(409);
    expect((await call(t.app, admin, 'PATCH', `/api/v3/roles/${role.id}`, roleDoc({ name: 'tenant-admin' }))).statusCode).toBe(422);
    expect((await call(t.app, admin, 'PATCH', `/api/v3/roles/${role.id}`, roleDoc({ featureRoles: ['nope'] }))).statusCode).toBe(400);
    expect(await snapshot(t.db)).toEqual(before);
    // Changing only the case of its own name is not a conflict.
    expect((await call(t.app, admin, 'PATCH', `/api/v3/roles/${role.id}`, roleDoc({ name: 'REPORT WRITER' }))).statusCode).toBe(200);
    expect((await call(t.app, admin, 'GET', `/api/v3/users/${user.id}`)).json().data.attributes.roles).toEqual(['REPORT WRITER']);
  });

  it('deletes a role with the PCA answer and removes its assignments', async () => {
    const role = await newRole({ name: 'Temp' });
    const user = (
      await call(t.app, admin, 'POST', '/api/v3/users', { data: { attributes: { username: 'tim', email: 'tim@x.test', roles: ['Temp', 'tenant-user'] } } })
    ).json().data;
    const res = await call(t.app, admin, 'DELETE', `/api/v3/roles/${role.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('"Custom role successfully deleted"');
    expect(res.json()).toBe('Custom role successfully deleted');
    expect((await call(t.app, admin, 'GET', `/api/v3/roles/${role.id}`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'DELETE', `/api/v3/roles/${role.id}`)).statusCode).toBe(404);
    expect((await call(t.app, admin, 'GET', `/api/v3/users/${user.id}`)).json().data.attributes.roles).toEqual(['tenant-user']);
    expect(await t.db.prisma.auditEvent.findFirst({ where: { targetId: role.id, action: 'role.deleted' } })).toMatchObject({
      details: { name: 'Temp', assignmentsRemoved: 1 },
    });
  });

  it('refuses to change or delete built-in roles, and answers 404 across tenants', async () => {
    const role = await newRole({ name: 'Private' });
    const before = await snapshot(t.db);
    for (const name of ['tenant-admin', 'skylight-admin']) {
      expect((await call(t.app, admin, 'PATCH', `/api/v3/roles/${name}`, roleDoc({ description: 'x' }))).statusCode).toBe(422);
      expect((await call(t.app, admin, 'DELETE', `/api/v3/roles/${name}`)).statusCode).toBe(422);
    }
    expect((await call(t.app, admin, 'GET', '/api/v3/roles/0190a0a0-0000-7000-8000-000000000000')).statusCode).toBe(404);
    expect((await call(t.app, otherAdmin, 'GET', `/api/v3/roles/${role.id}`)).statusCode).toBe(404);
    expect((await call(t.app, otherAdmin, 'PATCH', `/api/v3/roles/${role.id}`, roleDoc({ name: 'Mine now' }))).statusCode).toBe(404);
    expect((await call(t.app, otherAdmin, 'DELETE', `/api/v3/roles/${role.id}`)).statusCode).toBe(404);
    // Another tenant cannot assign this tenant's custom role either.
    const u = (await call(t.app, otherAdmin, 'POST', '/api/v3/users', { data: { attributes: { username: 'spy', email: 'spy@x.test' } } })).json().data;
    const add = await call(t.app, otherAdmin, 'POST', `/api/v3/users/${u.id}/roles`, { data: [{ type: 'roles', id: 'Private' }] });
    expect(add.json().errors[0]).toMatchObject({ status: '404', source: { pointer: '/data/0' } });
    await t.db.prisma.auditEvent.deleteMany({ where: { targetId: u.id } });
    await t.db.prisma.user.delete({ where: { id: u.id } });
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('listing roles with filters', () => {
  let lAdmin: string;
  beforeAll(async () => {
    lAdmin = (await seedServiceAccountPat(t, await createTenant(t, 'Role list'), ['tenant-admin'])).pat;
    for (const [name, featureRoles] of [
      ['Analyst', ['dashboards-view', 'data-explore']],
      ['analytics lead', ['dashboards-view', 'dashboards-edit', 'data-explore']],
      ['Billing', ['reports-view']],
      ['Ops', ['alerts-view', 'dashboards-view']],
      ['zeta', []],
    ] as const)
      await newRole({ name, featureRoles: [...featureRoles] }, lAdmin);
  });
  const list = async (q: string) => {
    const res = await call(t.app, lAdmin, 'GET', `/api/v3/roles${q}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const names = (d: { data: { attributes: { name: string } }[] }) => d.data.map((r) => r.attributes.name);

  it('lists by name with pagination edges', async () => {
    expect(names(await list(''))).toEqual(['Analyst', 'analytics lead', 'Billing', 'Ops', 'zeta']);
    const p2 = await list('?page=2&pageSize=2');
    expect(names(p2)).toEqual(['Billing', 'Ops']);
    expect(p2.meta).toEqual({ page: 2, pageSize: 2, total: 5, totalPages: 3 });
    expect(names(await list('?page=3&pageSize=2'))).toEqual(['zeta']);
    expect(names(await list('?page=4&pageSize=2'))).toEqual([]);
    expect((await call(t.app, lAdmin, 'GET', '/api/v3/roles?pageSize=501')).statusCode).toBe(400);
  });

  it('filters by NameFilter regular expression and by feature roles', async () => {
    expect(names(await list(`?NameFilter=${encodeURIComponent('^[Aa]naly')}`))).toEqual(['Analyst', 'analytics lead']);
    expect(names(await list(`?NameFilter=${encodeURIComponent('s$|^O')}`))).toEqual(['Ops']);
    const paged = await list(`?NameFilter=${encodeURIComponent('a')}&page=2&pageSize=2`);
    // Case-sensitive, as regular expressions are: 'Billing' and 'Ops' hold no lower-case a.
    expect(names(paged)).toEqual(['zeta']);
    expect(paged.meta.total).toBe(3);
    expect(paged.bodyFilters).toEqual({ NameFilter: 'a' });
    expect(names(await list('?FeatureRolesFilter=dashboards-view'))).toEqual(['Analyst', 'analytics lead', 'Ops']);
    expect(names(await list('?FeatureRolesFilter=dashboards-view,data-explore'))).toEqual(['Analyst', 'analytics lead']);
    expect(names(await list(`?FeatureRolesFilter=dashboards-view&NameFilter=${encodeURIComponent('^O')}`))).toEqual(['Ops']);
    expect(names(await list('?FeatureRolesFilter=unknown'))).toEqual([]);
    // Alternation outside repetitions and Unicode classes are fine.
    expect(names(await list(`?NameFilter=${encodeURIComponent('^(?:Ops|Billing)$')}`))).toEqual(['Billing', 'Ops']);
    expect(names(await list(`?NameFilter=${encodeURIComponent('^\\p{Ll}+$')}`))).toEqual(['zeta']);
  });

  it('refuses invalid, catastrophic and oversized NameFilter patterns with 400', async () => {
    // (a|a)*b has star height one, which safe-regex2 accepts, yet backtracks exponentially.
    for (const pattern of ['(', '[a-', '(a+)+$', '(x*)*y', '^(a|a*)+$', '(a|a)*b', '(?:x|xy){2,}z', 'a'.repeat(201)]) {
      const res = await call(t.app, lAdmin, 'GET', `/api/v3/roles?NameFilter=${encodeURIComponent(pattern)}`);
      expect(res.statusCode, pattern).toBe(400);
      expect(res.json().errors[0].source).toEqual({ parameter: 'NameFilter' });
    }
  });
});
