// Every /api route, its auth level (pca-api.md's auth column), and a concrete request
// for it. Adding a route means adding one line here; the first test fails until then.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';

interface Fixtures {
  tenantA: string;
  subdomainA: string;
  /** A service account of tenant A, with one PAT and one key (issue 5). */
  saA: string;
  saPatA: string;
  saKeyA: string;
  /** Seeded in tenant A: a user holding tenant-user, a group it belongs to, a custom role (issue 3). */
  userIdA: string;
  groupIdA: string;
  roleIdA: string;
  /** A confidential application of tenant A. */
  appA: string;
}
type Level = 'none' | 'user' | 'admin' | 'sky';
interface Line {
  method: string;
  url: string;
  auth: Level;
  /** Concrete path aimed at tenant A's resources; defaults to `url`. */
  path?: (f: Fixtures) => string;
  /** A body that would succeed for an authorised caller, so only authorisation stops it. */
  body?: (f: Fixtures) => unknown;
  /**
   * Acts on the caller's own tenant (collections: list, search, create; tenant-wide
   * settings): another tenant's admin may use it for its own tenant, so naming tenant A
   * must be 403, and its own answer must not reveal any of tenant A's ids.
   */
  tenantWide?: true;
}

const ROUTES: Line[] = [
  { method: 'GET', url: '/api/v3/health/liveness', auth: 'none' },
  { method: 'GET', url: '/api/v3/health/readiness', auth: 'none' },
  { method: 'GET', url: '/api/v3/onboarding/tenant-info', auth: 'none' },
  {
    method: 'PUT',
    url: '/api/v3/onboarding/tenant-identity',
    auth: 'sky',
    body: (f) => ({ data: { type: 'tenantInfo', attributes: { tenantId: f.tenantA, subdomain: 'stolen', name: 'x' } } }),
  },
  { method: 'DELETE', url: '/api/v3/onboarding/tenant-identity/:subdomain', auth: 'sky', path: (f) => `/api/v3/onboarding/tenant-identity/${f.subdomainA}` },
  { method: 'GET', url: '/api/v3/tenants/smtp', auth: 'user', tenantWide: true },
  { method: 'GET', url: '/api/v3/tenants/login-policy', auth: 'admin', tenantWide: true },
  {
    method: 'PUT',
    url: '/api/v3/tenants/login-policy',
    auth: 'admin',
    tenantWide: true,
    body: () => ({ data: { type: 'loginPolicy', attributes: { forceMfa: true } } }),
  },
  { method: 'GET', url: '/api/v3/tenants/password-complexity-policy', auth: 'admin', tenantWide: true },
  {
    method: 'PUT',
    url: '/api/v3/tenants/password-complexity-policy',
    auth: 'admin',
    tenantWide: true,
    body: () => ({ data: { type: 'passwordComplexityPolicy', attributes: { minLength: 20 } } }),
  },
  { method: 'PUT', url: '/api/v3/tenants/logo', auth: 'admin', tenantWide: true },
  { method: 'DELETE', url: '/api/v3/tenants/logo', auth: 'admin', tenantWide: true },
  { method: 'POST', url: '/api/v3/users/accept-terms', auth: 'user', tenantWide: true },
  { method: 'GET', url: '/api/v3/session/validate-token', auth: 'none' },
  { method: 'GET', url: '/api/v3/tenants', auth: 'sky' },
  { method: 'POST', url: '/api/v3/tenants', auth: 'sky', body: () => ({ data: { type: 'tenants', attributes: { name: 'Intruder' } } }) },
  { method: 'GET', url: '/api/v3/tenants/:id', auth: 'sky', path: (f) => `/api/v3/tenants/${f.tenantA}` },
  {
    method: 'PATCH',
    url: '/api/v3/tenants/:id',
    auth: 'sky',
    path: (f) => `/api/v3/tenants/${f.tenantA}`,
    body: () => ({ data: { attributes: { name: 'Renamed' } } }),
  },
  { method: 'DELETE', url: '/api/v3/tenants/:id', auth: 'sky', path: (f) => `/api/v3/tenants/${f.tenantA}` },
  {
    method: 'POST',
    url: '/api/v3/serviceaccounts',
    auth: 'admin',
    path: () => '/api/v3/serviceaccounts?withPAT=true',
    body: () => ({ name: 'Intruder', username: 'intruder', expirationDate: '2099-01-01T00:00:00Z' }),
    tenantWide: true,
  },
  { method: 'POST', url: '/api/v3/serviceaccounts/search', auth: 'admin', body: () => ({ data: {} }), tenantWide: true },
  { method: 'GET', url: '/api/v3/serviceaccounts/:machineUserId', auth: 'user', path: (f) => `/api/v3/serviceaccounts/${f.saA}` },
  { method: 'DELETE', url: '/api/v3/serviceaccounts/:machineUserId', auth: 'admin', path: (f) => `/api/v3/serviceaccounts/${f.saA}` },
  {
    method: 'POST',
    url: '/api/v3/serviceaccounts/:machineUserId/keys',
    auth: 'user',
    path: (f) => `/api/v3/serviceaccounts/${f.saA}/keys`,
    body: () => ({ expirationDate: '2099-01-01T00:00:00Z' }),
  },
  {
    method: 'DELETE',
    url: '/api/v3/serviceaccounts/:machineUserId/keys/:credentialId',
    auth: 'user',
    path: (f) => `/api/v3/serviceaccounts/${f.saA}/keys/${f.saKeyA}`,
  },
  {
    method: 'POST',
    url: '/api/v3/serviceaccounts/:machineUserId/pats',
    auth: 'user',
    path: (f) => `/api/v3/serviceaccounts/${f.saA}/pats`,
    body: () => ({ expirationDate: '2099-01-01T00:00:00Z' }),
  },
  {
    method: 'DELETE',
    url: '/api/v3/serviceaccounts/:machineUserId/pats/:credentialId',
    auth: 'user',
    path: (f) => `/api/v3/serviceaccounts/${f.saA}/pats/${f.saPatA}`,
  },
  { method: 'GET', url: '/api/v3/serviceaccounts/:machineUserId/pats', auth: 'user', path: (f) => `/api/v3/serviceaccounts/${f.saA}/pats` },
  { method: 'GET', url: '/api/v3/idps', auth: 'admin', tenantWide: true },
  { method: 'DELETE', url: '/api/v3/idps', auth: 'admin', body: () => ({ data: { ids: [] } }), tenantWide: true },
  { method: 'POST', url: '/api/v3/idps/saml', auth: 'admin', tenantWide: true },
  { method: 'PATCH', url: '/api/v3/idps/saml/:id', auth: 'admin', path: () => '/api/v3/idps/saml/00000000-0000-4000-8000-000000000000' },
  { method: 'POST', url: '/api/v3/idps/oidc', auth: 'admin', tenantWide: true },
  { method: 'PATCH', url: '/api/v3/idps/oidc/:id', auth: 'admin', path: () => '/api/v3/idps/oidc/00000000-0000-4000-8000-000000000000', body: () => ({}) },
  { method: 'GET', url: '/api/v3/users/:id/idps', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}/idps` },
  { method: 'PUT', url: '/api/v3/users/:id/idps', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}/idps`, body: () => ({ data: { ids: [] } }) },
  // UserService (issue 3)
  {
    method: 'POST',
    url: '/api/v3/users',
    auth: 'admin',
    tenantWide: true,
    body: () => ({ data: { type: 'users', attributes: { username: 'intruder', email: 'intruder@evil.test' } } }),
  },
  { method: 'GET', url: '/api/v3/users', auth: 'admin', tenantWide: true },
  { method: 'POST', url: '/api/v3/users/search', auth: 'admin', tenantWide: true, body: () => ({ data: {} }) },
  { method: 'GET', url: '/api/v3/users/:id', auth: 'user', path: (f) => `/api/v3/users/${f.userIdA}` },
  {
    method: 'PATCH',
    url: '/api/v3/users/:id',
    auth: 'admin',
    path: (f) => `/api/v3/users/${f.userIdA}`,
    body: () => ({ data: { attributes: { firstName: 'Owned' } } }),
  },
  { method: 'DELETE', url: '/api/v3/users/:id', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}` },
  { method: 'GET', url: '/api/v3/users/:id/usergroups', auth: 'user', path: (f) => `/api/v3/users/${f.userIdA}/usergroups` },
  { method: 'GET', url: '/api/v3/users/:id/roles', auth: 'user', path: (f) => `/api/v3/users/${f.userIdA}/roles` },
  {
    method: 'POST',
    url: '/api/v3/users/:id/roles',
    auth: 'admin',
    path: (f) => `/api/v3/users/${f.userIdA}/roles`,
    body: () => ({ data: [{ type: 'roles', id: 'tenant-admin' }] }),
  },
  { method: 'DELETE', url: '/api/v3/users/:id/roles/:roleName', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}/roles/tenant-user` },
  { method: 'DELETE', url: '/api/v3/users/:id/second-factors', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}/second-factors` },
  // Recovery and sessions (issue 16)
  { method: 'POST', url: '/api/v3/users/:id/invitation', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}/invitation` },
  { method: 'POST', url: '/api/v3/users/:id/password-reset', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}/password-reset` },
  { method: 'GET', url: '/api/v3/users/:id/sessions', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}/sessions` },
  { method: 'DELETE', url: '/api/v3/users/:id/sessions', auth: 'admin', path: (f) => `/api/v3/users/${f.userIdA}/sessions` },
  {
    method: 'DELETE',
    url: '/api/v3/users/:id/sessions/:sessionId',
    auth: 'admin',
    path: (f) => `/api/v3/users/${f.userIdA}/sessions/0190a5b0-0000-7000-8000-000000000000`,
  },
  // UsergroupService (issue 3)
  {
    method: 'POST',
    url: '/api/v3/usergroups',
    auth: 'admin',
    tenantWide: true,
    body: () => ({ data: { type: 'usergroups', attributes: { name: 'Intruders' } } }),
  },
  { method: 'POST', url: '/api/v3/usergroups/search', auth: 'admin', tenantWide: true, body: () => ({ data: {} }) },
  { method: 'GET', url: '/api/v3/usergroups/:id', auth: 'user', path: (f) => `/api/v3/usergroups/${f.groupIdA}` },
  {
    method: 'PATCH',
    url: '/api/v3/usergroups/:id',
    auth: 'admin',
    path: (f) => `/api/v3/usergroups/${f.groupIdA}`,
    body: () => ({ data: { attributes: { roles: ['tenant-admin'] } } }),
  },
  { method: 'DELETE', url: '/api/v3/usergroups/:id', auth: 'admin', path: (f) => `/api/v3/usergroups/${f.groupIdA}` },
  { method: 'GET', url: '/api/v3/usergroups/:id/users', auth: 'admin', path: (f) => `/api/v3/usergroups/${f.groupIdA}/users` },
  {
    method: 'POST',
    url: '/api/v3/usergroups/:id/users',
    auth: 'admin',
    path: (f) => `/api/v3/usergroups/${f.groupIdA}/users`,
    body: (f) => ({ data: [{ type: 'users', id: f.userIdA }] }),
  },
  { method: 'DELETE', url: '/api/v3/usergroups/:id/users/:userId', auth: 'admin', path: (f) => `/api/v3/usergroups/${f.groupIdA}/users/${f.userIdA}` },
  // RoleService (issue 3)
  { method: 'GET', url: '/api/v3/roles', auth: 'admin', tenantWide: true },
  { method: 'GET', url: '/api/v3/roles/feature-roles', auth: 'user', tenantWide: true },
  {
    method: 'POST',
    url: '/api/v3/roles',
    auth: 'admin',
    tenantWide: true,
    body: () => ({ data: { type: 'roles', attributes: { name: 'Intruder role', featureRoles: ['dashboards-view'] } } }),
  },
  { method: 'GET', url: '/api/v3/roles/:id', auth: 'admin', path: (f) => `/api/v3/roles/${f.roleIdA}` },
  {
    method: 'PATCH',
    url: '/api/v3/roles/:id',
    auth: 'admin',
    path: (f) => `/api/v3/roles/${f.roleIdA}`,
    body: () => ({ data: { attributes: { name: 'Renamed role' } } }),
  },
  { method: 'DELETE', url: '/api/v3/roles/:id', auth: 'admin', path: (f) => `/api/v3/roles/${f.roleIdA}` },
  { method: 'GET', url: '/api/v3/applications', auth: 'admin', tenantWide: true },
  {
    method: 'POST',
    url: '/api/v3/applications',
    auth: 'admin',
    tenantWide: true,
    body: () => ({ data: { type: 'applications', attributes: { name: 'Intruder app', clientType: 'public', redirectUris: ['https://evil.example/cb'] } } }),
  },
  { method: 'GET', url: '/api/v3/applications/:id', auth: 'admin', path: (f) => `/api/v3/applications/${f.appA}` },
  {
    method: 'PATCH',
    url: '/api/v3/applications/:id',
    auth: 'admin',
    path: (f) => `/api/v3/applications/${f.appA}`,
    body: () => ({ data: { attributes: { redirectUris: ['https://evil.example/cb'] } } }),
  },
  { method: 'DELETE', url: '/api/v3/applications/:id', auth: 'admin', path: (f) => `/api/v3/applications/${f.appA}` },
  { method: 'POST', url: '/api/v3/applications/:id/secret', auth: 'admin', path: (f) => `/api/v3/applications/${f.appA}/secret` },
  { method: 'POST', url: '/api/v3/signing-keys/rotate', auth: 'sky' },
  { method: 'GET', url: '/api/v3/audit-events', auth: 'user', tenantWide: true },
  { method: 'POST', url: '/api/v3/audit-events/search', auth: 'user', tenantWide: true, body: () => ({ data: {} }) },
  { method: 'GET', url: '/api/v3/session/validate', auth: 'none' },
  { method: 'POST', url: '/api/v3/certs/sign', auth: 'admin', path: () => '/api/v3/certs/sign?requestedUsername=intruder', tenantWide: true },
  { method: 'POST', url: '/api/v3/certs/renew', auth: 'user', tenantWide: true },
  { method: 'GET', url: '/api/v3/certs', auth: 'admin', tenantWide: true },
  { method: 'GET', url: '/api/v3/certs/ca', auth: 'none' },
  { method: 'GET', url: '/api/v3/certs/crl', auth: 'none' },
  { method: 'GET', url: '/api/v3/certs/:serialNum', auth: 'admin', path: () => '/api/v3/certs/1234567' },
  {
    method: 'POST',
    url: '/api/v3/certs/:serialNum/revoke',
    auth: 'admin',
    path: () => '/api/v3/certs/1234567/revoke',
    body: () => ({ reason: 'KeyCompromise' }),
  },
  { method: 'GET', url: '/api/v3/certs/ocsp/:ocspRequest', auth: 'none', path: () => '/api/v3/certs/ocsp/MAA%3D' },
  { method: 'POST', url: '/api/v3/certs/ocsp', auth: 'none' },
  { method: 'GET', url: '/api/v3/session/validate-cert', auth: 'none' },
];

let t: TestApp;
let f: Fixtures;
let adminB: string;
let userA: string;

beforeAll(async () => {
  t = await startTestApp();
  const tenantA = await createTenant(t, 'Tenant A', 'tenant-a');
  const appA = await t.db.prisma.application.create({
    data: {
      tenantId: tenantA,
      name: 'App A',
      clientId: 'route-table-app-a',
      clientType: 'confidential',
      clientSecretHash: 'x',
      tokenEndpointAuthMethod: 'client_secret_basic',
      redirectUris: ['https://a.example/cb'],
      postLogoutRedirectUris: [],
      grantTypes: ['authorization_code'],
    },
  });
  const sa = await seedServiceAccountPat(t, tenantA, ['tenant-contributor']);
  const key = await call(
    t.app,
    t.adminPat,
    'POST',
    `/api/v3/serviceaccounts/${sa.serviceAccountId}/keys`,
    { expirationDate: '2099-01-01T00:00:00Z' },
    { 'x-forwarded-tenant-id': tenantA },
  );
  const p = t.db.prisma;
  const role = await p.customRole.create({ data: { tenantId: tenantA, name: 'Analyst', featureRoles: ['dashboards-view'] } });
  const group = await p.userGroup.create({ data: { tenantId: tenantA, name: 'Ops', roles: { create: { roleName: 'Analyst' } } } });
  const user = await p.user.create({
    data: {
      tenantId: tenantA,
      username: 'alice',
      email: 'alice@a.test',
      roles: { create: { roleName: 'tenant-user' } },
    },
  });
  await p.groupMembership.create({ data: { tenantId: tenantA, groupId: group.id, userId: user.id } });
  f = {
    tenantA,
    subdomainA: 'tenant-a',
    saA: sa.serviceAccountId,
    saPatA: sa.patId,
    saKeyA: key.json().keyId,
    userIdA: user.id,
    groupIdA: group.id,
    roleIdA: role.id,
    appA: appA.id,
  };
  const tenantB = await createTenant(t, 'Tenant B', 'tenant-b');
  adminB = (await seedServiceAccountPat(t, tenantB, ['tenant-admin'])).pat;
  userA = (await seedServiceAccountPat(t, f.tenantA, ['tenant-user'])).pat;
});
afterAll(() => t?.close());

const request = (line: Line, token?: string, headers: Record<string, string> = {}) =>
  call(
    t.app,
    token,
    line.method as never,
    line.path ? line.path(f) : line.url,
    line.body?.(f) ?? (line.method === 'GET' || line.method === 'DELETE' ? undefined : {}),
    headers,
  );

describe('route table', () => {
  it('lists exactly the registered /api routes, with their auth levels', () => {
    const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`;
    const registered = Object.fromEntries(t.app.routeTable.map((r) => [key(r), r.auth]));
    const table = Object.fromEntries(ROUTES.map((r) => [key(r), r.auth]));
    expect(registered).toEqual(table);
  });

  const guarded = ROUTES.filter((r) => r.auth !== 'none');

  it.each(guarded.map((r) => [`${r.method} ${r.url}`, r] as const))('%s without a credential is 401', async (_n, line) => {
    const res = await request(line);
    expect(res.statusCode).toBe(401);
    expect(res.json().errors[0]).toMatchObject({ status: '401', code: 'unauthorized' });
  });

  it.each(guarded.map((r) => [`${r.method} ${r.url}`, r] as const))('%s with a forged PAT is 401', async (_n, line) => {
    const forged = 'pca_' + 'A'.repeat(46);
    expect((await request(line, forged)).statusCode).toBe(401);
    expect((await request(line, 'not-a-token')).statusCode).toBe(401);
  });

  it.each(guarded.map((r) => [`${r.method} ${r.url}`, r] as const))(
    '%s by a tenant-admin of another tenant is refused and changes nothing',
    async (_n, line) => {
      const before = await snapshot(t.db);
      const named = await request(line, adminB, { 'x-forwarded-tenant-id': f.tenantA });
      if (line.tenantWide) {
        expect(named.statusCode).toBe(403);
        expect(await snapshot(t.db)).toEqual(before);
        const own = await request(line, adminB);
        for (const id of [f.tenantA, f.saA, f.userIdA, f.groupIdA, f.roleIdA, f.appA]) expect(own.body).not.toContain(id);
        return;
      }
      // A path naming tenant A's resource: 404 (or 403) whichever tenant the caller names.
      const plain = await request(line, adminB);
      expect([403, 404]).toContain(plain.statusCode);
      expect([403, 404]).toContain(named.statusCode);
      expect(await snapshot(t.db)).toEqual(before);
    },
  );

  it.each(ROUTES.filter((r) => r.auth === 'admin' || r.auth === 'sky').map((r) => [`${r.method} ${r.url}`, r] as const))(
    '%s by a tenant-user is 403 and changes nothing',
    async (_n, line) => {
      const before = await snapshot(t.db);
      expect((await request(line, userA)).statusCode).toBe(403);
      expect(await snapshot(t.db)).toEqual(before);
    },
  );
});
