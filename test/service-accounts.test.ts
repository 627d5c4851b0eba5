import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { hashPat } from '../src/principals/pat.js';

let t: TestApp;
let tenantA: string;
let tenantB: string;
let adminA: string; // tenant-admin of A
let adminB: string; // tenant-admin of B
let userA: { pat: string; serviceAccountId: string }; // tenant-user of A

const SA = '/api/v3/serviceaccounts';
const inDays = (d: number) => new Date(Date.now() + d * 86400_000).toISOString();
const json = { 'content-type': 'application/json' };

/** POST a flat JSON body, as the PCA doc shows for service-account operations. */
const post = (token: string, url: string, body: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, ...json, ...headers }, payload: JSON.stringify(body) });

async function createAccount(token: string, body: Record<string, unknown>, query = '') {
  const res = await post(token, `${SA}${query}`, { accessTokenType: 'Bearer', name: 'Collector', ...body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

beforeAll(async () => {
  t = await startTestApp();
  tenantA = await createTenant(t, 'Tenant A');
  tenantB = await createTenant(t, 'Tenant B');
  adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
  adminB = (await seedServiceAccountPat(t, tenantB, ['tenant-admin'])).pat;
  userA = await seedServiceAccountPat(t, tenantA, ['tenant-user']);
});
afterAll(() => t?.close());

describe('CreateServiceAccount', () => {
  it('creates an account with a PAT shown once, stored only as a hash, defaulting to tenant-admin', async () => {
    const expirationDate = inDays(30);
    const res = await post(adminA, `${SA}?withPAT=true`, {
      accessTokenType: 'Jwt',
      description: 'description for service account',
      expirationDate,
      name: 'ServiceAccount1',
      username: 'ServiceAccount1@pca',
    });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      description: 'description for service account',
      name: 'ServiceAccount1',
      username: 'ServiceAccount1@pca',
      accessTokenType: 'Jwt',
      roles: ['tenant-admin'],
      expirationDate: new Date(expirationDate).toISOString(),
    });
    expect(body.machineUserId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.pat).toMatch(/^pca_/);
    expect(res.headers.location).toBe(`${SA}/${body.machineUserId}`);

    const rows = await t.db.prisma.personalAccessToken.findMany({ where: { serviceAccountId: body.machineUserId } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tokenHash).toBe(hashPat(body.pat));
    const dump =
      JSON.stringify(await t.db.pool.query('SELECT * FROM "PersonalAccessToken"').then((r) => r.rows)) +
      JSON.stringify(await t.db.prisma.auditEvent.findMany());
    expect(dump).not.toContain(body.pat);

    // The PAT authenticates as the new account, which can read itself.
    const self = await call(t.app, body.pat, 'GET', `${SA}/self`);
    expect(self.statusCode).toBe(200);
    expect(self.json().data).toMatchObject({
      type: 'serviceaccounts',
      id: body.machineUserId,
      attributes: { username: 'ServiceAccount1@pca', roles: ['tenant-admin'], accessTokenType: 'Jwt' },
    });

    const events = await t.db.prisma.auditEvent.findMany({ where: { tenantId: tenantA, targetId: { in: [body.machineUserId, rows[0]!.id] } } });
    // The PAT was used once above: its first use is an audit event too (issue 17).
    expect(events.map((e) => e.action).sort()).toEqual(['serviceaccount.created', 'serviceaccount.pat.created', 'serviceaccount.pat.first_used']);
  });

  it('creates without a PAT, with roles from the query and the body (custom roles by name)', async () => {
    await t.db.prisma.customRole.create({ data: { tenantId: tenantA, name: 'Collectors', featureRoles: [] } });
    const body = await createAccount(adminA, { username: 'roles-sa', roles: ['tenant-contributor', 'COLLECTORS'] }, '?roles=tenant-user');
    expect(body.pat).toBeUndefined();
    expect(body.roles.sort()).toEqual(['Collectors', 'tenant-contributor', 'tenant-user']);
    const viaComma = await createAccount(adminA, { username: 'roles-sa-2' }, '?roles=tenant-user,tenant-contributor');
    expect(viaComma.roles.sort()).toEqual(['tenant-contributor', 'tenant-user']);
    const repeated = await createAccount(adminA, { username: 'roles-sa-3' }, '?roles=tenant-user&roles=tenant-contributor');
    expect(repeated.roles.sort()).toEqual(['tenant-contributor', 'tenant-user']);
  });

  it('accepts application/vnd.api+json too, and defaults accessTokenType to Bearer', async () => {
    const res = await call(t.app, adminA, 'POST', SA, { name: 'n', username: 'vnd-sa' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().accessTokenType).toBe('Bearer');
  });

  const refusals: [string, string, unknown, number, string | undefined][] = [
    ['name over 150 characters', '', { name: 'n'.repeat(151), username: 'r1' }, 400, '/name'],
    ['username over 150 characters', '', { name: 'n', username: 'u'.repeat(151) }, 400, '/username'],
    ['description over 400 characters', '', { name: 'n', username: 'r2', description: 'd'.repeat(401) }, 400, '/description'],
    ['empty name', '', { name: ' ', username: 'r3' }, 400, '/name'],
    ['missing username', '', { name: 'n' }, 400, '/username'],
    ['username with spaces', '', { name: 'n', username: 'a b' }, 400, '/username'],
    ['unknown accessTokenType', '', { name: 'n', username: 'r4', accessTokenType: 'Opaque' }, 400, '/accessTokenType'],
    ['unknown attribute', '', { name: 'n', username: 'r5', admin: true }, 400, undefined],
    ['past expirationDate', '?withPAT=true', { name: 'n', username: 'r6', expirationDate: '2021-01-01T01:00:00+00:00' }, 400, '/expirationDate'],
    ['malformed expirationDate', '?withPAT=true', { name: 'n', username: 'r7', expirationDate: 'tomorrow' }, 400, '/expirationDate'],
    ['withPAT=true without expirationDate', '?withPAT=true', { name: 'n', username: 'r8' }, 400, '/expirationDate'],
    ['bad withPAT value', '?withPAT=maybe', { name: 'n', username: 'r9' }, 400, undefined],
    ['unknown role in body', '', { name: 'n', username: 'r10', roles: ['no-such-role'] }, 422, '/roles/0'],
    ['unknown role in query', '?roles=no-such-role', { name: 'n', username: 'r11' }, 422, undefined],
    ["another tenant's custom role", '', { name: 'n', username: 'r12', roles: ['b-only'] }, 422, '/roles/0'],
    ['skylight-admin granted by a tenant-admin (body)', '', { name: 'n', username: 'r13', roles: ['skylight-admin'] }, 403, undefined],
    ['skylight-admin granted by a tenant-admin (query)', '?roles=skylight-admin', { name: 'n', username: 'r14' }, 403, undefined],
    ['username of another service account, other case', '', { name: 'n', username: 'SERVICEACCOUNT1@PCA' }, 409, '/username'],
    ['username of a user of the tenant', '', { name: 'n', username: 'Alice' }, 409, '/username'],
  ];

  it.each(refusals)('refuses %s, changing nothing', async (_name, query, body, status, pointer) => {
    if (!(await t.db.prisma.customRole.findFirst({ where: { tenantId: tenantB, nameLower: 'b-only' } }))) {
      await t.db.prisma.customRole.create({ data: { tenantId: tenantB, name: 'b-only', featureRoles: [] } });
      await t.db.prisma.user.create({
        data: { tenantId: tenantA, username: 'alice', email: 'alice@a.test' },
      });
    }
    const before = await snapshot(t.db);
    const res = await post(adminA, `${SA}${query}`, body);
    expect(res.statusCode, res.body).toBe(status);
    const errors = res.json().errors;
    expect(errors[0].status).toBe(String(status));
    if (pointer) expect(errors.map((e: any) => e.source?.pointer)).toContain(pointer);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('lets a skylight-admin grant skylight-admin in the operator tenant only', async () => {
    const ok = await createAccount(t.adminPat, { username: 'op-robot', roles: ['skylight-admin'] });
    expect(ok.roles).toEqual(['skylight-admin']);
    const before = await snapshot(t.db);
    const res = await post(t.adminPat, SA, { name: 'n', username: 'x-robot', roles: ['skylight-admin'] }, { 'x-forwarded-tenant-id': tenantA });
    expect(res.statusCode).toBe(422);
    expect(await snapshot(t.db)).toEqual(before);
    // A skylight-admin creates in a tenant it names.
    const inA = await post(t.adminPat, SA, { name: 'n', username: 'made-by-operator' }, { 'x-forwarded-tenant-id': tenantA });
    expect(inA.statusCode).toBe(201);
    expect((await t.db.prisma.serviceAccount.findUnique({ where: { id: inA.json().machineUserId } }))!.tenantId).toBe(tenantA);
  });

  it("is refused to a tenant-user and to another tenant's admin naming this tenant", async () => {
    const before = await snapshot(t.db);
    expect((await post(userA.pat, SA, { name: 'n', username: 'nope' })).statusCode).toBe(403);
    expect((await post(adminB, SA, { name: 'n', username: 'nope' }, { 'x-forwarded-tenant-id': tenantA })).statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('refuses a non-JSON body (415) and malformed JSON (400)', async () => {
    const before = await snapshot(t.db);
    const text = await t.app.inject({
      method: 'POST',
      url: SA,
      headers: { authorization: `Bearer ${adminA}`, 'content-type': 'application/xml' },
      payload: '<x/>',
    });
    expect(text.statusCode).toBe(415);
    const bad = await t.app.inject({ method: 'POST', url: SA, headers: { authorization: `Bearer ${adminA}`, ...json }, payload: '{"name":' });
    expect(bad.statusCode).toBe(400);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('lets exactly one of two concurrent creations of the same username succeed', async () => {
    const [a, b] = await Promise.all([post(adminA, SA, { name: 'n', username: 'Racer' }), post(adminA, SA, { name: 'n', username: 'racer' })]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([201, 409]);
    expect(await t.db.prisma.serviceAccount.count({ where: { tenantId: tenantA, usernameLower: 'racer' } })).toBe(1);
  });

  it('allows the same username in another tenant', async () => {
    const b = await createAccount(adminB, { username: 'ServiceAccount1@pca' });
    expect(b.username).toBe('ServiceAccount1@pca');
  });
});

describe('GetServiceAccount', () => {
  it('reads by id as admin, and by id or self as the account itself', async () => {
    const sa = await createAccount(adminA, { username: 'reader', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const byAdmin = await call(t.app, adminA, 'GET', `${SA}/${sa.machineUserId}`);
    expect(byAdmin.statusCode).toBe(200);
    expect(byAdmin.json().data.attributes).toMatchObject({ name: 'Collector', username: 'reader', roles: ['tenant-user'], description: '' });
    expect(byAdmin.json().data.attributes).not.toHaveProperty('pat');
    for (const path of [`${SA}/self`, `${SA}/${sa.machineUserId}`, `${SA}/${sa.machineUserId.toUpperCase()}`]) {
      const res = await call(t.app, sa.pat, 'GET', path);
      expect(res.statusCode, path).toBe(200);
      expect(res.json().data.id).toBe(sa.machineUserId);
    }
  });

  it("refuses a non-admin reading another account (403) and hides other tenants' accounts (404)", async () => {
    const other = await createAccount(adminA, { username: 'hidden' });
    expect((await call(t.app, userA.pat, 'GET', `${SA}/${other.machineUserId}`)).statusCode).toBe(403);
    const cross = await call(t.app, adminB, 'GET', `${SA}/${other.machineUserId}`);
    expect(cross.statusCode).toBe(404);
    expect(cross.json().errors[0].code).toBe('not_found');
    expect((await call(t.app, t.adminPat, 'GET', `${SA}/${other.machineUserId}`)).statusCode).toBe(404); // operator tenant
    expect((await call(t.app, t.adminPat, 'GET', `${SA}/${other.machineUserId}`, undefined, { 'x-forwarded-tenant-id': tenantA })).statusCode).toBe(200);
  });

  it('answers 404 for unknown and malformed ids', async () => {
    for (const id of ['00000000-0000-7000-8000-000000000000', '291606795498498048', 'self%00', "1' OR '1'='1"]) {
      expect((await call(t.app, adminA, 'GET', `${SA}/${encodeURIComponent(id)}`)).statusCode, id).toBe(404);
    }
  });
});

describe('DeleteServiceAccount', () => {
  it('deletes the account and revokes its PATs and keys at once', async () => {
    const sa = await createAccount(adminA, { username: 'doomed', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const key = await post(sa.pat, `${SA}/self/keys`, { expirationDate: inDays(1) });
    expect(key.statusCode).toBe(201);
    expect((await call(t.app, sa.pat, 'GET', `${SA}/self`)).statusCode).toBe(200);

    const del = await call(t.app, adminA, 'DELETE', `${SA}/${sa.machineUserId}`);
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    const after = await call(t.app, sa.pat, 'GET', `${SA}/self`);
    expect(after.statusCode).toBe(401);
    expect(await t.db.prisma.personalAccessToken.count({ where: { serviceAccountId: sa.machineUserId } })).toBe(0);
    expect(await t.db.prisma.serviceAccountKey.count({ where: { serviceAccountId: sa.machineUserId } })).toBe(0);
    expect(await t.db.prisma.roleAssignment.count({ where: { serviceAccountId: sa.machineUserId } })).toBe(0);
    const event = await t.db.prisma.auditEvent.findFirst({ where: { action: 'serviceaccount.deleted', targetId: sa.machineUserId } });
    expect(event?.details).toMatchObject({ username: 'doomed', revokedPats: 1, revokedKeys: 1 });
    expect((await call(t.app, adminA, 'DELETE', `${SA}/${sa.machineUserId}`)).statusCode).toBe(404);
  });

  it("refuses another tenant, non-admins and admins below the account's roles, changing nothing", async () => {
    const victim = await createAccount(adminA, { username: 'victim' });
    const operatorSa = (await t.db.prisma.serviceAccount.findFirst({ where: { tenantId: t.operatorTenantId, username: 'operator' } }))!;
    const opTenantAdmin = (await seedServiceAccountPat(t, t.operatorTenantId, ['tenant-admin'])).pat;
    const before = await snapshot(t.db);
    expect((await call(t.app, adminB, 'DELETE', `${SA}/${victim.machineUserId}`)).statusCode).toBe(404);
    expect((await call(t.app, userA.pat, 'DELETE', `${SA}/${victim.machineUserId}`)).statusCode).toBe(403);
    expect((await call(t.app, opTenantAdmin, 'DELETE', `${SA}/${operatorSa.id}`)).statusCode).toBe(403);
    expect((await call(t.app, adminA, 'DELETE', `${SA}/not-a-uuid`)).statusCode).toBe(404);
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('SearchServiceAccounts', () => {
  it('filters by name and username substrings and exact role, within the tenant, paginated', async () => {
    const tenant = await createTenant(t, 'Search tenant');
    const admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'], { username: 'zz-admin' })).pat;
    for (const [username, name, roles] of [
      ['Alpha.Collector', 'Alpha', ['tenant-user']],
      ['beta.collector', 'Beta', ['tenant-contributor']],
      ['gamma', 'Gamma Collector', ['tenant-user', 'tenant-contributor']],
    ] as const)
      await createAccount(admin, { username, name, roles: [...roles] });
    await createAccount(adminB, { username: 'alpha.collector.b' });

    const search = (data: unknown, q = '') => call(t.app, admin, 'POST', `${SA}/search${q}`, { data });
    const names = (res: any) => res.json().data.map((d: any) => d.attributes.username);

    const byUsername = await search({ username: 'COLLECTOR' });
    expect(byUsername.statusCode).toBe(200);
    expect(names(byUsername)).toEqual(['Alpha.Collector', 'beta.collector']);
    expect(byUsername.json().bodyFilters).toEqual({ username: 'COLLECTOR' });
    expect(names(await search({ name: 'collector' }))).toEqual(['gamma']);
    expect(names(await search({ role: 'TENANT-USER' }))).toEqual(['Alpha.Collector', 'gamma']);
    expect(names(await search({ role: 'tenant' }))).toEqual([]);
    expect(names(await search({ role: 'tenant-contributor', username: 'a' }))).toEqual(['beta.collector', 'gamma']);

    const page = await search({}, '?page=2&pageSize=2');
    expect(page.json().meta).toEqual({ page: 2, pageSize: 2, total: 4, totalPages: 2 });
    expect(names(page)).toEqual(['beta.collector', 'gamma']);
    expect(page.json().links.prev).toContain('page=1');

    expect((await search({ unknown: 1 })).statusCode).toBe(400);
    expect((await search({}, '?pageSize=501')).statusCode).toBe(400);
    expect((await call(t.app, userA.pat, 'POST', `${SA}/search`, { data: {} })).statusCode).toBe(403);
  });
});

describe('PATs', () => {
  it('creates, lists (never the secret) and deletes PATs as admin and as self; deletion is immediate', async () => {
    const sa = await createAccount(adminA, { username: 'rotator', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const tenDays = inDays(10);
    const byAdmin = await post(adminA, `${SA}/${sa.machineUserId}/pats`, { expirationDate: tenDays });
    expect(byAdmin.statusCode, byAdmin.body).toBe(201);
    expect(byAdmin.json()).toMatchObject({ machineUserId: sa.machineUserId, expirationDate: tenDays });
    expect(Object.keys(byAdmin.json()).sort()).toEqual(['credentialId', 'expirationDate', 'machineUserId', 'pat']);

    const bySelf = await post(sa.pat, `${SA}/self/pats`, { expirationDate: '2099-01-01T00:00:00+00:00' });
    expect(bySelf.statusCode).toBe(201);
    expect(bySelf.json().expirationDate).toBe('2099-01-01T00:00:00.000Z');
    const newPat = bySelf.json().pat;
    expect((await call(t.app, newPat, 'GET', `${SA}/self`)).json().data.id).toBe(sa.machineUserId);

    const list = await call(t.app, sa.pat, 'GET', `${SA}/self/pats?pageSize=2`);
    expect(list.statusCode).toBe(200);
    expect(list.json().meta).toMatchObject({ total: 3, totalPages: 2 });
    expect(list.json().data[0]).toMatchObject({ type: 'pats', attributes: { machineUserId: sa.machineUserId } });
    const all = await call(t.app, adminA, 'GET', `${SA}/${sa.machineUserId}/pats`);
    const text = all.body;
    for (const secret of [sa.pat, byAdmin.json().pat, newPat]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(hashPat(secret));
    }
    expect(all.json().data.map((d: any) => d.id)).toContain(bySelf.json().credentialId);

    // The account revokes its old PAT with the new one: the old one stops working at once.
    const oldId = all.json().data[0].id;
    const del = await call(t.app, newPat, 'DELETE', `${SA}/self/pats/${oldId}`);
    expect(del.statusCode).toBe(204);
    expect((await call(t.app, sa.pat, 'GET', `${SA}/self`)).statusCode).toBe(401);
    expect((await call(t.app, newPat, 'DELETE', `${SA}/self/pats/${oldId}`)).statusCode).toBe(404);

    const actions = (
      await t.db.prisma.auditEvent.findMany({
        where: { action: { startsWith: 'serviceaccount.pat.' }, details: { path: ['serviceAccountId'], equals: sa.machineUserId } },
      })
    ).map((e) => e.action);
    expect(actions.filter((a) => a === 'serviceaccount.pat.created')).toHaveLength(3);
    expect(actions).toContain('serviceaccount.pat.deleted');
  });

  it('enforces PAT expiry', async () => {
    // Real expiry, not a database edit: the PAT is verified (and cached) while valid, and
    // must be refused the moment it expires, cache or not.
    const sa = await createAccount(adminA, { username: 'short-lived', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const expiresAt = Date.now() + 1500;
    const created = await post(adminA, `${SA}/${sa.machineUserId}/pats`, { expirationDate: new Date(expiresAt).toISOString() });
    expect(created.statusCode).toBe(201);
    const shortPat = created.json().pat;
    expect((await call(t.app, shortPat, 'GET', `${SA}/self`)).statusCode).toBe(200);
    expect((await call(t.app, shortPat, 'GET', `${SA}/self`)).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 50));
    const res = await call(t.app, shortPat, 'GET', `${SA}/self`);
    expect(res.statusCode).toBe(401);
    expect(res.json().errors[0].detail).toContain('expired');
  });

  it("refuses bad dates, other accounts' PATs, other tenants, non-admins and escalation, changing nothing", async () => {
    const sa = await createAccount(adminA, { username: 'pat-target', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const other = await createAccount(adminA, { username: 'pat-other', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const otherPatId = (await t.db.prisma.personalAccessToken.findFirst({ where: { serviceAccountId: other.machineUserId } }))!.id;
    const operatorSa = (await t.db.prisma.serviceAccount.findFirst({ where: { tenantId: t.operatorTenantId, username: 'operator' } }))!;
    const opTenantAdmin = (await seedServiceAccountPat(t, t.operatorTenantId, ['tenant-admin'])).pat;
    const before = await snapshot(t.db);
    const url = `${SA}/${sa.machineUserId}/pats`;
    const cases: [string, Promise<any>, number][] = [
      ['past date', post(adminA, url, { expirationDate: '2021-01-01T01:00:00+00:00' }), 400],
      ['missing date', post(adminA, url, {}), 400],
      ['date without offset', post(adminA, url, { expirationDate: '2099-01-01 00:00' }), 400],
      ['another tenant', post(adminB, url, { expirationDate: inDays(1) }), 404],
      ['another account (non-admin)', post(other.pat, url, { expirationDate: inDays(1) }), 403],
      [
        'self naming a tenant the caller is not in',
        post(t.adminPat, `${SA}/self/pats`, { expirationDate: inDays(1) }, { 'x-forwarded-tenant-id': tenantA }),
        404,
      ],
      ['list by another account', call(t.app, other.pat, 'GET', url), 403],
      ['list from another tenant', call(t.app, adminB, 'GET', url), 404],
      ["delete another account's PAT via this account", call(t.app, adminA, 'DELETE', `${url}/${otherPatId}`), 404],
      ['delete by another account', call(t.app, other.pat, 'DELETE', `${SA}/${sa.machineUserId}/pats/${otherPatId}`), 403],
      ['delete from another tenant', call(t.app, adminB, 'DELETE', `${SA}/${other.machineUserId}/pats/${otherPatId}`), 404],
      ['malformed credential id', call(t.app, adminA, 'DELETE', `${url}/291606795498498048`), 404],
      ['tenant-admin minting a PAT for a skylight-admin account', post(opTenantAdmin, `${SA}/${operatorSa.id}/pats`, { expirationDate: inDays(1) }), 403],
    ];
    for (const [name, p, status] of cases) expect((await p).statusCode, name).toBe(status);
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('Keys', () => {
  it('creates an RSA key whose file holds the private key; only the public key is stored', async () => {
    const sa = await createAccount(adminA, { username: 'key-holder', roles: ['tenant-user'] });
    const res = await post(adminA, `${SA}/${sa.machineUserId}/keys`, { expirationDate: '2099-01-01T00:00:00+00:00' });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['expirationDate', 'key', 'keyId', 'organizationId', 'projectId', 'type', 'userId']);
    expect(body).toMatchObject({ expirationDate: '2099-01-01T00:00:00.000Z', userId: sa.machineUserId, organizationId: tenantA, type: 'serviceaccount' });
    const file = JSON.parse(Buffer.from(body.key, 'base64').toString('utf8'));
    expect(Object.keys(file).sort()).toEqual(['key', 'keyId', 'type', 'userId']);
    expect(file).toMatchObject({ type: 'serviceaccount', keyId: body.keyId, userId: sa.machineUserId });
    expect(file.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const { createPrivateKey } = await import('node:crypto');
    const pk = createPrivateKey(file.key);
    expect(pk.asymmetricKeyType).toBe('rsa');
    expect(pk.asymmetricKeyDetails?.modulusLength).toBe(2048);

    const row = (await t.db.prisma.serviceAccountKey.findUnique({ where: { id: body.keyId } }))!;
    expect(row.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(row.algorithm).toBe('RS256');
    const privateBody = file.key.split('\n')[5];
    const dump = JSON.stringify((await t.db.pool.query('SELECT * FROM "ServiceAccountKey"')).rows) + JSON.stringify(await t.db.prisma.auditEvent.findMany());
    expect(dump).not.toContain(privateBody);
    expect(await t.db.prisma.auditEvent.count({ where: { action: 'serviceaccount.key.created', targetId: body.keyId } })).toBe(1);
  });

  it('creates an EC P-256 key on request and lets the account rotate its own keys', async () => {
    const sa = await createAccount(adminA, { username: 'ec-holder', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const res = await post(sa.pat, `${SA}/self/keys`, { expirationDate: inDays(5), keyType: 'EC' });
    expect(res.statusCode, res.body).toBe(201);
    const file = JSON.parse(Buffer.from(res.json().key, 'base64').toString('utf8'));
    const { createPrivateKey } = await import('node:crypto');
    expect(createPrivateKey(file.key).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const del = await call(t.app, sa.pat, 'DELETE', `${SA}/self/keys/${res.json().keyId}`);
    expect(del.statusCode).toBe(204);
    expect(await t.db.prisma.serviceAccountKey.count({ where: { id: res.json().keyId } })).toBe(0);
    expect(await t.db.prisma.auditEvent.count({ where: { action: 'serviceaccount.key.deleted', targetId: res.json().keyId } })).toBe(1);
    expect((await call(t.app, sa.pat, 'DELETE', `${SA}/self/keys/${res.json().keyId}`)).statusCode).toBe(404);
  });

  it("refuses bad dates, other tenants, non-admins and other accounts' keys, changing nothing", async () => {
    const sa = await createAccount(adminA, { username: 'key-target', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const other = await createAccount(adminA, { username: 'key-other', roles: ['tenant-user'], expirationDate: inDays(1) }, '?withPAT=true');
    const otherKey = (await post(other.pat, `${SA}/self/keys`, { expirationDate: inDays(1) })).json().keyId;
    const before = await snapshot(t.db);
    const url = `${SA}/${sa.machineUserId}/keys`;
    const cases: [string, Promise<any>, number][] = [
      ['past date', post(adminA, url, { expirationDate: '2021-01-01T01:00:00+00:00' }), 400],
      ['missing date', post(adminA, url, {}), 400],
      ['unknown key type', post(adminA, url, { expirationDate: inDays(1), keyType: 'DSA' }), 400],
      ['another tenant', post(adminB, url, { expirationDate: inDays(1) }), 404],
      ['another account (non-admin)', post(other.pat, url, { expirationDate: inDays(1) }), 403],
      ["delete another account's key via this account", call(t.app, adminA, 'DELETE', `${url}/${otherKey}`), 404],
      ['delete from another tenant', call(t.app, adminB, 'DELETE', `${SA}/${other.machineUserId}/keys/${otherKey}`), 404],
      ['malformed key id', call(t.app, adminA, 'DELETE', `${url}/x`), 404],
    ];
    for (const [name, p, status] of cases) expect((await p).statusCode, name).toBe(status);
    expect(await snapshot(t.db)).toEqual(before);
  });
});
