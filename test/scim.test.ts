// SCIM 2.0 provisioning, replaying the request sequences Okta and Microsoft Entra ID
// document for their SCIM clients, plus the protocol's edges (filters, PATCH paths,
// ETags, errors, discovery, tenant isolation).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

let t: TestApp;
let tenantA: string;
let tenantB: string;
let patA: string;
let patB: string;
let userPatA: string;

function scim(token: string | undefined, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: method as 'GET',
    url: `/scim/v2${url}`,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
      ...headers,
    },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const A = (method: string, url: string, body?: unknown, headers?: Record<string, string>) => scim(patA, method, url, body, headers);

function expectScimError(res: LightMyRequestResponse, status: number, scimType?: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
  const body = res.json();
  expect(body.schemas).toEqual([ERROR]);
  expect(body.status).toBe(String(status));
  if (scimType) expect(body.scimType).toBe(scimType);
  expect(typeof body.detail).toBe('string');
}

function expectUserShape(u: any) {
  expect(u.schemas).toEqual([USER]);
  expect(u.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(typeof u.userName).toBe('string');
  expect(typeof u.active).toBe('boolean');
  expect(Array.isArray(u.emails)).toBe(true);
  expect(u.meta.resourceType).toBe('User');
  expect(u.meta.location).toBe(`http://auth.iam.test/scim/v2/Users/${u.id}`);
  expect(u.meta.version).toMatch(/^W\/".+"$/);
  expect(Date.parse(u.meta.created)).not.toBeNaN();
  expect(Date.parse(u.meta.lastModified)).not.toBeNaN();
  expect(u).not.toHaveProperty('password');
}

function expectGroupShape(g: any) {
  expect(g.schemas).toEqual([GROUP]);
  expect(g.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(typeof g.displayName).toBe('string');
  expect(g.meta.resourceType).toBe('Group');
  expect(g.meta.location).toBe(`http://auth.iam.test/scim/v2/Groups/${g.id}`);
  expect(g.meta.version).toMatch(/^W\/".+"$/);
}

function expectList(res: LightMyRequestResponse, total: number) {
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
  const body = res.json();
  expect(body.schemas).toEqual([LIST]);
  expect(body.totalResults).toBe(total);
  expect(body.itemsPerPage).toBe(body.Resources.length);
  expect(typeof body.startIndex).toBe('number');
  return body;
}

beforeAll(async () => {
  t = await startTestApp();
  tenantA = await createTenant(t, 'Tenant A', 'tenant-a');
  tenantB = await createTenant(t, 'Tenant B', 'tenant-b');
  patA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
  patB = (await seedServiceAccountPat(t, tenantB, ['tenant-admin'])).pat;
  userPatA = (await seedServiceAccountPat(t, tenantA, ['tenant-user'])).pat;
}, 60_000);
afterAll(async () => t?.close());

describe('authentication', () => {
  it('refuses missing, invalid and non-admin credentials in the SCIM error format', async () => {
    const none = await scim(undefined, 'GET', '/Users');
    expectScimError(none, 401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expectScimError(await scim('pca_nope', 'GET', '/Users'), 401);
    expectScimError(await scim(userPatA, 'GET', '/Users'), 403);
  });
});

describe('Okta provisioning sequence', () => {
  // https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20 : Okta first
  // looks the user up by userName, creates it, then deactivates with a pathless replace.
  let id: string;
  let groupId: string;

  it('looks up a user that does not exist yet', async () => {
    const res = await A('GET', '/Users?filter=' + encodeURIComponent('userName eq "test.user@okta.local"') + '&startIndex=1&count=100');
    const body = expectList(res, 0);
    expect(body.Resources).toEqual([]);
  });

  it('creates the user', async () => {
    const res = await A('POST', '/Users', {
      schemas: [USER],
      userName: 'test.user@okta.local',
      name: { givenName: 'Test', familyName: 'User' },
      emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }],
      displayName: 'Test User',
      locale: 'en-US',
      externalId: '00ujl29u0le5T6Aj10h7',
      groups: [],
      password: 'Passw0rd-long-enough',
      active: true,
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
    const u = res.json();
    expectUserShape(u);
    expect(res.headers.location).toBe(u.meta.location);
    expect(res.headers.etag).toBe(u.meta.version);
    expect(u).toMatchObject({
      userName: 'test.user@okta.local',
      name: { givenName: 'Test', familyName: 'User' },
      emails: [{ value: 'test.user@okta.local', type: 'work', primary: true }],
      externalId: '00ujl29u0le5T6Aj10h7',
      active: true,
      groups: [],
    });
    id = u.id;
    // The same row the /api/v3 routes read.
    const row = await t.db.prisma.user.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ tenantId: tenantA, usernameLower: 'test.user@okta.local', emailLower: 'test.user@okta.local', state: 'active' });
    expect(row.passwordHash).toMatch(/^\$argon2id\$/);
  });

  it('finds it by userName, case-insensitively', async () => {
    const body = expectList(await A('GET', '/Users?filter=' + encodeURIComponent('userName eq "TEST.USER@okta.local"')), 1);
    expect(body.Resources[0].id).toBe(id);
    expectUserShape(body.Resources[0]);
  });

  it('refuses a second user with the same userName (409 uniqueness)', async () => {
    const before = await snapshot(t.db);
    const res = await A('POST', '/Users', { schemas: [USER], userName: 'Test.User@okta.local', emails: [{ value: 'other@okta.local' }] });
    expectScimError(res, 409, 'uniqueness');
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('gets the user', async () => {
    const res = await A('GET', `/Users/${id}`);
    expect(res.statusCode).toBe(200);
    expectUserShape(res.json());
  });

  it('updates the profile with PUT', async () => {
    const res = await A('PUT', `/Users/${id}`, {
      schemas: [USER],
      id,
      userName: 'test.user@okta.local',
      name: { givenName: 'Tess', familyName: 'User' },
      emails: [{ primary: true, value: 'tess.user@okta.local', type: 'work' }],
      active: true,
      externalId: '00ujl29u0le5T6Aj10h7',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ name: { givenName: 'Tess' }, emails: [{ value: 'tess.user@okta.local' }] });
  });

  it('deactivates with a pathless replace, and reactivates', async () => {
    const res = await A('PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(res.statusCode, res.body).toBe(200);
    expectUserShape(res.json());
    expect(res.json().active).toBe(false);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id } })).state).toBe('inactive');
    expectList(await A('GET', '/Users?filter=' + encodeURIComponent('active eq false')), 1);
    const back = await A('PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: true } }] });
    expect(back.json().active).toBe(true);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id } })).state).toBe('active');
  });

  it('pushes a group and its members', async () => {
    // Okta looks the group up by displayName, creates it, then patches members.
    expectList(await A('GET', '/Groups?filter=' + encodeURIComponent('displayName eq "Test SCIMv2"')), 0);
    const created = await A('POST', '/Groups', { schemas: [GROUP], displayName: 'Test SCIMv2', members: [] });
    expect(created.statusCode, created.body).toBe(201);
    const g = created.json();
    expectGroupShape(g);
    expect(g.members).toEqual([]);
    groupId = g.id;

    const add = await A('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'add', path: 'members', value: [{ value: id, display: 'test.user@okta.local' }] }],
    });
    expect(add.statusCode, add.body).toBe(200);
    expect(add.json().members).toEqual([{ value: id, display: 'test.user@okta.local', $ref: `http://auth.iam.test/scim/v2/Users/${id}`, type: 'User' }]);
    const user = (await A('GET', `/Users/${id}`)).json();
    expect(user.groups).toEqual([{ value: groupId, display: 'Test SCIMv2', $ref: `http://auth.iam.test/scim/v2/Groups/${groupId}`, type: 'direct' }]);

    const rename = await A('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', value: { id: groupId, displayName: 'Test SCIMv2 renamed' } }],
    });
    expect(rename.statusCode, rename.body).toBe(200);
    expect(rename.json().displayName).toBe('Test SCIMv2 renamed');

    const remove = await A('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }],
    });
    expect(remove.statusCode, remove.body).toBe(200);
    expect(remove.json().members).toEqual([]);
    expect(await t.db.prisma.groupMembership.count({ where: { groupId } })).toBe(0);
  });

  it('deletes the group', async () => {
    expect((await A('DELETE', `/Groups/${groupId}`)).statusCode).toBe(204);
    expectScimError(await A('GET', `/Groups/${groupId}`), 404);
  });
});

describe('Microsoft Entra ID provisioning sequence', () => {
  // https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
  let id: string;
  let groupId: string;

  it('queries by a random userName first (connection test) and finds nothing', async () => {
    const res = await A('GET', '/Users?filter=' + encodeURIComponent('userName eq "non-existent user"'));
    expect(expectList(res, 0).Resources).toEqual([]);
  });

  it('creates a user with the enterprise extension', async () => {
    const res = await A('POST', '/Users', {
      schemas: [USER, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
      userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1',
      active: true,
      emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com' }],
      meta: { resourceType: 'User' },
      name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
      roles: [],
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Sales' },
    });
    expect(res.statusCode, res.body).toBe(201);
    const u = res.json();
    expectUserShape(u);
    expect(u.userName).toBe('Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1');
    expect(u.emails[0].value).toBe('Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com');
    id = u.id;
  });

  it('finds it by userName and by externalId', async () => {
    const byName = expectList(await A('GET', '/Users?filter=' + encodeURIComponent('userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"')), 1);
    expect(byName.Resources[0].id).toBe(id);
    const byExt = expectList(await A('GET', '/Users?filter=' + encodeURIComponent('externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')), 1);
    expect(byExt.Resources[0].id).toBe(id);
    // externalId is case-exact.
    expectList(await A('GET', '/Users?filter=' + encodeURIComponent('externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"')), 0);
  });

  it('updates with capitalised ops, value-filtered paths and string booleans', async () => {
    const res = await A('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
        { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
        { op: 'Add', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department', value: 'Marketing' },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      emails: [{ value: 'updatedEmail@microsoft.com', type: 'work', primary: true }],
      name: { familyName: 'updatedFamilyName', givenName: 'givenName' },
    });
    const off = await A('PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json().active).toBe(false);
  });

  it('creates a group, adds and removes members the Entra way', async () => {
    const created = await A('POST', '/Groups', {
      schemas: [GROUP],
      externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
      displayName: 'displayName',
      meta: { resourceType: 'Group' },
    });
    expect(created.statusCode, created.body).toBe(201);
    const g = created.json();
    expectGroupShape(g);
    expect(g.externalId).toBe('8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159');
    groupId = g.id;

    const byName = expectList(await A('GET', '/Groups?excludedAttributes=members&filter=' + encodeURIComponent('displayName eq "displayName"')), 1);
    expect(byName.Resources[0]).not.toHaveProperty('members');
    expect(byName.Resources[0].id).toBe(groupId);

    const add = await A('PATCH', `/Groups/${groupId}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ value: id }] }] });
    expect(add.statusCode, add.body).toBe(200);
    // Entra checks membership with a members filter.
    const check = expectList(await A('GET', '/Groups?excludedAttributes=members&filter=' + encodeURIComponent(`id eq "${groupId}" and members eq "${id}"`)), 1);
    expect(check.Resources[0].id).toBe(groupId);

    const remove = await A('PATCH', `/Groups/${groupId}`, { schemas: [PATCH], Operations: [{ op: 'Remove', path: 'members', value: [{ value: id }] }] });
    expect(remove.statusCode, remove.body).toBe(200);
    expectList(await A('GET', '/Groups?filter=' + encodeURIComponent(`id eq "${groupId}" and members eq "${id}"`)), 0);

    const rename = await A('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'Replace', path: 'displayName', value: '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName' }],
    });
    expect(rename.json().displayName).toBe('1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName');
  });

  it('deletes the user and it is gone', async () => {
    expect((await A('DELETE', `/Users/${id}`)).statusCode).toBe(204);
    expectScimError(await A('GET', `/Users/${id}`), 404);
    expect(await t.db.prisma.user.count({ where: { id } })).toBe(0);
  });
});

describe('filters, paging, sorting and projection', () => {
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    for (const [u, first, ext] of [
      ['alice', 'Alice', 'ext-1'],
      ['bob', 'Bob', null],
      ['carol', 'Carol', 'ext-3'],
      ['dave%x', 'Dave', 'ext-4'],
    ] as const) {
      const res = await A('POST', '/Users', {
        schemas: [USER],
        userName: u,
        name: { givenName: first, familyName: 'F' },
        emails: [{ value: `${u.replace('%', '')}@f.test` }],
        ...(ext ? { externalId: ext } : {}),
      });
      expect(res.statusCode, res.body).toBe(201);
      ids[u] = res.json().id;
    }
  });
  const q = async (filter: string, extra = '') => {
    const res = await A('GET', '/Users?filter=' + encodeURIComponent(filter) + extra);
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().Resources as any[])
      .map((r) => r.userName)
      .filter((n) => ['alice', 'bob', 'carol', 'dave%x'].includes(n))
      .sort();
  };

  it('supports every operator, logic and grouping', async () => {
    expect(await q('userName eq "ALICE"')).toEqual(['alice']);
    expect(await q('userName ne "alice" and name.familyName eq "F"')).toEqual(['bob', 'carol', 'dave%x']);
    expect(await q('userName co "aro"')).toEqual(['carol']);
    expect(await q('userName sw "b"')).toEqual(['bob']);
    expect(await q('userName ew "OL"')).toEqual(['carol']);
    expect(await q('externalId pr and name.familyName eq "F"')).toEqual(['alice', 'carol', 'dave%x']);
    expect(await q('userName gt "bob" and name.familyName eq "F"')).toEqual(['carol', 'dave%x']);
    expect(await q('userName ge "bob" and userName le "carol"')).toEqual(['bob', 'carol']);
    expect(await q('userName lt "b" and name.familyName eq "F"')).toEqual(['alice']);
    expect(await q('(userName eq "alice" or userName eq "bob") and not (name.givenName eq "bob")')).toEqual(['alice']);
    expect(await q('emails[type eq "work" and value co "@f.test"] and userName sw "c"')).toEqual(['carol']);
    expect(await q('emails.value eq "BOB@F.TEST"')).toEqual(['bob']);
    expect(await q('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob"')).toEqual(['bob']);
    expect(await q(`meta.created ge "2000-01-01T00:00:00Z" and id eq "${ids.alice}"`)).toEqual(['alice']);
    expect(await q('meta.lastModified lt "2000-01-01T00:00:00Z"')).toEqual([]);
  });

  it('treats LIKE wildcards and quotes in values as literal text', async () => {
    expect(await q('userName co "%"')).toEqual(['dave%x']);
    expect(await q('userName co "_"')).toEqual([]);
    expect(await q('userName co "\\\\"')).toEqual([]);
    expect(await q(`userName eq "x\\" or \\"1\\"=\\"1"`)).toEqual([]);
  });

  it('pages with startIndex and count, and sorts', async () => {
    const all = (await A('GET', '/Users?sortBy=userName&sortOrder=descending')).json();
    const names = all.Resources.map((r: any) => r.userName);
    expect(names).toEqual([...names].sort().reverse());
    const page = (await A('GET', '/Users?sortBy=userName&startIndex=2&count=2')).json();
    expect(page.startIndex).toBe(2);
    expect(page.itemsPerPage).toBe(2);
    expect(page.totalResults).toBe(all.totalResults);
    expect(page.Resources.map((r: any) => r.userName)).toEqual([...names].sort().slice(1, 3));
    const zero = (await A('GET', '/Users?count=0')).json();
    expect(zero.Resources).toEqual([]);
    expect(zero.totalResults).toBe(all.totalResults);
    expectScimError(await A('GET', '/Users?sortBy=password'), 400, 'invalidValue');
  });

  it('projects attributes and excludedAttributes', async () => {
    const only = (await A('GET', `/Users/${ids.alice}?attributes=userName,name.givenName`)).json();
    expect(only).toEqual({ schemas: [USER], id: ids.alice, userName: 'alice', name: { givenName: 'Alice' } });
    const without = (await A('GET', `/Users/${ids.alice}?excludedAttributes=emails,meta,groups`)).json();
    expect(without).not.toHaveProperty('emails');
    expect(without).not.toHaveProperty('meta');
    expect(without.userName).toBe('alice');
  });

  it('also searches with POST .search', async () => {
    const res = await A('POST', '/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: 'userName sw "a"',
      attributes: ['userName'],
      startIndex: 1,
      count: 10,
    });
    const body = expectList(res, 1);
    expect(body.Resources[0]).toEqual({ schemas: [USER], id: ids.alice, userName: 'alice' });
  });

  it('answers malformed filters with 400 invalidFilter', async () => {
    for (const bad of [
      'userName eq',
      'userName xx "a"',
      '(userName eq "a"',
      'userName eq "a" and',
      'userName eq "unterminated',
      'emails[type eq "work"',
      'password eq "x"',
      'active co "t"',
      'meta.created gt "not a date"',
      'not userName eq "a"',
      'userName eq "a")',
      '"a" eq userName',
      'emails[value[type eq "x"]]',
    ]) {
      const res = await A('GET', '/Users?filter=' + encodeURIComponent(bad));
      expectScimError(res, 400, 'invalidFilter');
    }
    expectScimError(await A('GET', '/Groups?filter=' + encodeURIComponent('members co "x"')), 400, 'invalidFilter');
    expectScimError(await A('GET', '/Users?filter=' + encodeURIComponent('('.repeat(100) + 'userName eq "a"' + ')'.repeat(100))), 400, 'invalidFilter');
  });

  it('handles long or-chains as one flat query', async () => {
    const names = Array.from({ length: 120 }, (_, i) => `userName eq "n${i}"`).concat('userName eq "bob"');
    expect(await q(names.join(' or '))).toEqual(['bob']);
  });
});

describe('PATCH paths and errors', () => {
  let id: string;
  beforeAll(async () => {
    id = (await A('POST', '/Users', { schemas: [USER], userName: 'patchy', emails: [{ value: 'patchy@p.test', type: 'work' }] })).json().id;
  });

  it('adds an email through a value-filtered path that matches nothing yet', async () => {
    const other = await A('POST', '/Users', { schemas: [USER], userName: 'nomail@p.test' });
    expect(other.statusCode, other.body).toBe(201);
    expect(other.json().emails).toEqual([{ value: 'nomail@p.test', type: 'work', primary: true }]);
    const res = await A('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'new@p.test' }],
    });
    expect(res.json().emails[0].value).toBe('new@p.test');
  });

  it('adds a new primary email, which replaces the stored one', async () => {
    const res = await A('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'add', path: 'emails', value: [{ value: 'primary@p.test', type: 'home', primary: true }] }],
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().emails).toEqual([{ value: 'primary@p.test', type: 'work', primary: true }]);
  });

  it('removes a name part and replaces userName with a qualified path', async () => {
    const res = await A('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [
        { op: 'add', path: 'name', value: { givenName: 'Pat', familyName: 'Chy' } },
        { op: 'remove', path: 'name.familyName' },
        { op: 'replace', path: 'urn:ietf:params:scim:schemas:core:2.0:User:userName', value: 'Patchy2' },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ userName: 'Patchy2', name: { givenName: 'Pat', familyName: '' } });
  });

  it('refuses bad PATCH requests with the right scimType and changes nothing', async () => {
    const before = await snapshot(t.db);
    const cases: [unknown, string][] = [
      [{ schemas: ['wrong'], Operations: [{ op: 'add', path: 'userName', value: 'x' }] }, 'invalidSyntax'],
      [{ schemas: [PATCH] }, 'invalidSyntax'],
      [{ schemas: [PATCH], Operations: [{ op: 'move', path: 'userName', value: 'x' }] }, 'invalidSyntax'],
      [{ schemas: [PATCH], Operations: [{ op: 'add', path: 'userName' }] }, 'invalidSyntax'],
      [{ schemas: [PATCH], Operations: [{ op: 'remove' }] }, 'noTarget'],
      [{ schemas: [PATCH], Operations: [{ op: 'replace', path: 'emails[type eq "work"', value: 'x' }] }, 'invalidPath'],
      [{ schemas: [PATCH], Operations: [{ op: 'replace', path: 'nosuchattr', value: 'x' }] }, 'invalidPath'],
      [{ schemas: [PATCH], Operations: [{ op: 'replace', path: 'userName[value eq "x"]', value: 'x' }] }, 'invalidPath'],
      [{ schemas: [PATCH], Operations: [{ op: 'replace', path: 'groups', value: [] }] }, 'mutability'],
      [{ schemas: [PATCH], Operations: [{ op: 'replace', path: 'id', value: 'x' }] }, 'mutability'],
      [{ schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: 'maybe' }] }, 'invalidValue'],
      [{ schemas: [PATCH], Operations: [{ op: 'replace', path: 'emails[type eq "home"]', value: { value: 'h@p.test' } }] }, 'noTarget'],
      [{ schemas: [PATCH], Operations: [{ op: 'remove', path: 'userName' }] }, 'invalidValue'],
      [{ schemas: [PATCH], Operations: [{ op: 'replace', path: 'userName', value: 'nomail@p.test' }] }, 'uniqueness'],
    ];
    for (const [body, scimType] of cases) {
      const res = await A('PATCH', `/Users/${id}`, body);
      expectScimError(res, scimType === 'uniqueness' ? 409 : 400, scimType);
    }
    expectScimError(await A('PATCH', `/Users/${id}`, '{not json'), 400, 'invalidSyntax');
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('refuses a group member that is not a user of the tenant', async () => {
    const g = (await A('POST', '/Groups', { schemas: [GROUP], displayName: 'strict' })).json();
    const before = await snapshot(t.db);
    const foreign = (await scim(patB, 'POST', '/Users', { schemas: [USER], userName: 'b-user@b.test' })).json().id;
    const after = await snapshot(t.db);
    const res = await A('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: foreign }] }] });
    expectScimError(res, 400, 'invalidValue');
    expect(await snapshot(t.db)).toEqual(after);
    expect(before).not.toEqual(after);
    expectScimError(await A('POST', '/Groups', { schemas: [GROUP], displayName: 'STRICT' }), 409, 'uniqueness');
  });
});

describe('versions and If-Match', () => {
  it('rejects a stale If-Match with 412 and accepts the current one', async () => {
    const created = await A('POST', '/Users', { schemas: [USER], userName: 'etag@e.test' });
    const u = created.json();
    const v1 = u.meta.version;
    const ok = await A(
      'PATCH',
      `/Users/${u.id}`,
      { schemas: [PATCH], Operations: [{ op: 'replace', path: 'name.givenName', value: 'E' }] },
      { 'if-match': v1 },
    );
    expect(ok.statusCode, ok.body).toBe(200);
    const v2 = ok.json().meta.version;
    expect(v2).not.toBe(v1);
    expect(ok.headers.etag).toBe(v2);
    const stale = await A(
      'PATCH',
      `/Users/${u.id}`,
      { schemas: [PATCH], Operations: [{ op: 'replace', path: 'name.givenName', value: 'F' }] },
      { 'if-match': v1 },
    );
    expectScimError(stale, 412);
    expectScimError(await A('DELETE', `/Users/${u.id}`, undefined, { 'if-match': v1 }), 412);
    const notModified = await A('GET', `/Users/${u.id}`, undefined, { 'if-none-match': v2 });
    expect(notModified.statusCode).toBe(304);
    expect((await A('DELETE', `/Users/${u.id}`, undefined, { 'if-match': v2 })).statusCode).toBe(204);
  });

  it('moves a group version when its members change', async () => {
    const g = (await A('POST', '/Groups', { schemas: [GROUP], displayName: 'versioned' })).json();
    const u = (await A('POST', '/Users', { schemas: [USER], userName: 'member@v.test' })).json();
    const res = await A(
      'PATCH',
      `/Groups/${g.id}`,
      { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: u.id }] }] },
      { 'if-match': g.meta.version },
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().meta.version).not.toBe(g.meta.version);
    const put = await A('PUT', `/Groups/${g.id}`, { schemas: [GROUP], displayName: 'versioned', members: [] }, { 'if-match': g.meta.version });
    expectScimError(put, 412);
  });
});

describe('tenant isolation', () => {
  it("answers 404 for another tenant's users and groups and changes nothing", async () => {
    const u = (await A('POST', '/Users', { schemas: [USER], userName: 'private@a.test' })).json();
    const g = (await A('POST', '/Groups', { schemas: [GROUP], displayName: 'private group' })).json();
    const before = await snapshot(t.db);
    for (const [method, url, body] of [
      ['GET', `/Users/${u.id}`],
      ['PUT', `/Users/${u.id}`, { schemas: [USER], userName: 'stolen@b.test' }],
      ['PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] }],
      ['DELETE', `/Users/${u.id}`],
      ['GET', `/Groups/${g.id}`],
      ['PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: 'members' }] }],
      ['DELETE', `/Groups/${g.id}`],
      ['GET', '/Users/not-a-uuid'],
    ] as [string, string, unknown?][]) {
      expectScimError(await scim(patB, method, url, body), 404);
    }
    expect(await snapshot(t.db)).toEqual(before);
    const list = (await scim(patB, 'GET', '/Users?filter=' + encodeURIComponent('userName eq "private@a.test"'))).json();
    expect(list.totalResults).toBe(0);
    const members = (await scim(patB, 'GET', '/Groups?filter=' + encodeURIComponent(`members eq "${u.id}"`))).json();
    expect(members.totalResults).toBe(0);
  });

  it('refuses a userName a service account already holds', async () => {
    const sa = await seedServiceAccountPat(t, tenantA, [], { username: 'robot-1' });
    expect(sa.pat).toBeTruthy();
    expectScimError(await A('POST', '/Users', { schemas: [USER], userName: 'ROBOT-1', emails: [{ value: 'r@a.test' }] }), 409, 'uniqueness');
  });
});

describe('operator protection', () => {
  it('lets only a skylight-admin change skylight-admins or groups granting that role', async () => {
    const op = t.operatorTenantId;
    const opAdmin = (await seedServiceAccountPat(t, op, ['tenant-admin'])).pat;
    const root = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId: op, roles: { some: { roleName: 'skylight-admin' } } } });
    const plain = (await scim(opAdmin, 'POST', '/Users', { schemas: [USER], userName: 'plain@op.test' })).json();
    const group = (await scim(opAdmin, 'POST', '/Groups', { schemas: [GROUP], displayName: 'operators' })).json();
    await t.db.prisma.roleAssignment.create({ data: { tenantId: op, groupId: group.id, roleName: 'skylight-admin' } });
    const before = await snapshot(t.db);
    const deactivate = { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] };
    expectScimError(await scim(opAdmin, 'PATCH', `/Users/${root.id}`, deactivate), 403);
    expectScimError(await scim(opAdmin, 'DELETE', `/Users/${root.id}`), 403);
    expectScimError(
      await scim(opAdmin, 'PATCH', `/Groups/${group.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: plain.id }] }] }),
      403,
    );
    expectScimError(await scim(opAdmin, 'DELETE', `/Groups/${group.id}`), 403);
    expect(await snapshot(t.db)).toEqual(before);
    const bySky = await scim(t.adminPat, 'PATCH', `/Groups/${group.id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'add', path: 'members', value: [{ value: plain.id }] }],
    });
    expect(bySky.statusCode, bySky.body).toBe(200);
    // Now a skylight-admin through the group: protected as well.
    expectScimError(await scim(opAdmin, 'PATCH', `/Users/${plain.id}`, deactivate), 403);
  });
});

describe('discovery', () => {
  it('serves ServiceProviderConfig, ResourceTypes and Schemas', async () => {
    const spc = await A('GET', '/ServiceProviderConfig');
    expect(spc.statusCode).toBe(200);
    expect(spc.headers['content-type']).toMatch(/^application\/scim\+json/);
    expect(spc.json()).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      patch: { supported: true },
      bulk: { supported: false },
      filter: { supported: true, maxResults: 1000 },
      sort: { supported: true },
      etag: { supported: true },
      authenticationSchemes: [{ type: 'oauthbearertoken' }],
    });
    const types = expectList(await A('GET', '/ResourceTypes'), 2);
    expect(types.Resources.map((r: any) => r.endpoint)).toEqual(['/Users', '/Groups']);
    expect((await A('GET', '/ResourceTypes/User')).json().schema).toBe(USER);
    const schemas = expectList(await A('GET', '/Schemas'), 2);
    expect(schemas.Resources.map((s: any) => s.id)).toEqual([USER, GROUP]);
    const user = (await A('GET', `/Schemas/${USER}`)).json();
    expect(user.attributes.find((a: any) => a.name === 'userName')).toMatchObject({ required: true, uniqueness: 'server', caseExact: false });
    expectScimError(await A('GET', '/Schemas/urn:nope'), 404);
    expectScimError(await A('GET', '/NoSuchEndpoint'), 404);
    expectScimError(await A('GET', '/Me'), 501);
    expectScimError(await A('POST', '/Bulk', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [] }), 501);
  });

  it('accepts application/json request bodies too', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/scim/v2/Groups',
      headers: { authorization: `Bearer ${patA}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ schemas: [GROUP], displayName: 'json group' }),
    });
    expect(res.statusCode, res.body).toBe(201);
  });

  it('writes audit events for SCIM changes', async () => {
    const n = await t.db.prisma.auditEvent.count({
      where: { tenantId: tenantA, action: { in: ['user.created', 'group.updated', 'user.deleted'] }, details: { path: ['via'], equals: 'scim' } },
    });
    expect(n).toBeGreaterThan(5);
  });
});

describe('database outage', () => {
  it('answers 503 with Retry-After in the SCIM format, so the IdP retries', async () => {
    const other = await startTestApp();
    const tenant = await createTenant(other, 'Outage');
    const { pat } = await seedServiceAccountPat(other, tenant, ['tenant-admin']);
    await other.db.close();
    const res = await other.app.inject({ method: 'GET', url: '/scim/v2/Users', headers: { authorization: `Bearer ${pat}` } });
    expectScimError(res, 503);
    expect(res.headers['retry-after']).toBe('2');
    await other.app.close();
  }, 30_000);
});
