// The escalation matrix, built from the route table. Every route the app registers
// (/api, /scim, /admin) is classified here: either it acts on a principal (or confers a
// role), with the probes that exercise it, or it does not, with the reason. A route
// added later and left out of both lists fails the first test.
//
// Every probe runs for every actor against fresh targets of each privilege level in
// the operator tenant (the dangerous place: skylight-admin lives there) and one in
// another tenant. It must succeed exactly when the privilege policy allows it (the
// actor's tenant, a role level at least the target's, an admin route for an admin),
// and a refusal must leave the database unchanged.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueAccessToken } from '../src/oauth/tokens.js';
import { createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { nodeCsr } from './helpers/csr.js';

type Level = 'less' | 'equal' | 'more' | 'other';
const LEVELS: Level[] = ['less', 'equal', 'more', 'other'];
const ROLE_OF: Record<Level, string> = { less: 'tenant-user', equal: 'tenant-admin', more: 'skylight-admin', other: 'tenant-user' };
const RANK: Record<string, number> = { 'tenant-user': 1, 'tenant-admin': 2, 'skylight-admin': 3 };

/** One set of principals of one level, fresh for every case. */
interface Target {
  tenantId: string;
  role: string;
  userId: string;
  username: string;
  saId: string;
  saUsername: string;
  patId: string;
  keyId: string;
  /** Grants the level's role; its one member is the user. */
  groupId: string;
  /** A custom role held by the user (and through nothing else). */
  roleId: string;
  roleName: string;
  /** The IdP the user logs in through, and one nobody uses yet. */
  idpId: string;
  freeIdpId: string;
  /** A confidential client_credentials application bound to the service account. */
  boundAppId: string;
  /** A confidential authorization_code application bound to nothing. */
  freeAppId: string;
  /** A group granting tenant-contributor, with no members. */
  freeGroupId: string;
  /** A plain tenant-user, for probes that confer the level's role on someone. */
  freeUserId: string;
}

interface Req {
  method: string;
  url: string;
  body?: unknown;
  contentType?: string;
}
interface Probe {
  /** What the probe acts on; decides which level counts. */
  name: string;
  req: (x: Target) => Req | Promise<Req>;
  /** Only the tenant matters (e.g. feature roles, which every tenant-admin holds). */
  tenantOnly?: true;
}

const jsonapi = (attributes: Record<string, unknown>, type?: string) => ({ data: { ...(type ? { type } : {}), attributes } });
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
let counter = 0;
const unique = (p: string) => `${p}-${++counter}-${randomUUID().slice(0, 6)}`;

/** Routes that act on a principal or confer power over one. */
const ACTS: Record<string, Probe[]> = {
  'POST /api/v3/users': [
    {
      name: 'creates a user holding the role',
      req: (x) => ({
        method: 'POST',
        url: '/api/v3/users',
        body: jsonapi({ username: unique('u'), email: `${unique('u')}@x.test`, roles: [x.role] }, 'users'),
      }),
    },
  ],
  'PATCH /api/v3/users/:id': [
    { name: 'renames the user', req: (x) => ({ method: 'PATCH', url: `/api/v3/users/${x.userId}`, body: jsonapi({ firstName: 'Changed' }) }) },
    {
      name: "changes the user's email",
      req: (x) => ({ method: 'PATCH', url: `/api/v3/users/${x.userId}`, body: jsonapi({ email: `${unique('e')}@evil.test` }) }),
    },
    {
      name: "sets the user's password",
      req: (x) => ({ method: 'PATCH', url: `/api/v3/users/${x.userId}`, body: jsonapi({ password: 'Correct-Horse-7-Battery!' }) }),
    },
    { name: 'disables the user', req: (x) => ({ method: 'PATCH', url: `/api/v3/users/${x.userId}`, body: jsonapi({ state: 'inactive' }) }) },
  ],
  'DELETE /api/v3/users/:id': [{ name: 'deletes the user', req: (x) => ({ method: 'DELETE', url: `/api/v3/users/${x.userId}` }) }],
  'POST /api/v3/users/:id/roles': [
    {
      name: 'adds a harmless role to the user',
      req: (x) => ({ method: 'POST', url: `/api/v3/users/${x.userId}/roles`, body: { data: [{ type: 'roles', id: 'tenant-contributor' }] } }),
    },
    {
      name: "grants the level's role to a plain user",
      req: (x) => ({ method: 'POST', url: `/api/v3/users/${x.freeUserId}/roles`, body: { data: [{ type: 'roles', id: x.role }] } }),
    },
  ],
  'DELETE /api/v3/users/:id/roles/:roleName': [
    { name: "strips the user's role", req: (x) => ({ method: 'DELETE', url: `/api/v3/users/${x.userId}/roles/${x.role}` }) },
  ],
  'DELETE /api/v3/users/:id/second-factors': [
    { name: "removes the user's second factors", req: (x) => ({ method: 'DELETE', url: `/api/v3/users/${x.userId}/second-factors` }) },
  ],
  'POST /api/v3/users/:id/invitation': [
    { name: 'sends the user a link to choose its password', req: (x) => ({ method: 'POST', url: `/api/v3/users/${x.userId}/invitation` }) },
  ],
  'POST /api/v3/users/:id/password-reset': [
    {
      name: 'sends the user a password-reset link',
      req: async (x) => {
        // A reset is for a user with a password.
        await t.db.prisma.user.update({ where: { id: x.userId }, data: { passwordHash: 'x' } });
        return { method: 'POST', url: `/api/v3/users/${x.userId}/password-reset` };
      },
    },
  ],
  'DELETE /api/v3/users/:id/sessions': [
    { name: 'signs the user out everywhere', req: (x) => ({ method: 'DELETE', url: `/api/v3/users/${x.userId}/sessions` }) },
  ],
  'DELETE /api/v3/users/:id/sessions/:sessionId': [
    {
      name: "ends one of the user's sessions",
      req: async (x) => {
        const s = await t.db.prisma.browserSession.create({
          data: {
            tenantId: x.tenantId,
            userId: x.userId,
            tokenHash: unique('session'),
            amr: ['pwd'],
            authTime: new Date(),
            lastSeenAt: new Date(),
            expiresAt: new Date(Date.now() + 3600_000),
          },
        });
        return { method: 'DELETE', url: `/api/v3/users/${x.userId}/sessions/${s.id}` };
      },
    },
  ],
  'PUT /api/v3/users/:id/idps': [
    { name: 'links the user to another IdP', req: (x) => ({ method: 'PUT', url: `/api/v3/users/${x.userId}/idps`, body: { data: { ids: [x.freeIdpId] } } }) },
    { name: 'detaches the user from its IdP', req: (x) => ({ method: 'PUT', url: `/api/v3/users/${x.userId}/idps`, body: { data: { ids: [] } } }) },
  ],
  'DELETE /api/v3/idps': [
    { name: 'disables the IdP the user logs in through', req: (x) => ({ method: 'DELETE', url: '/api/v3/idps', body: { data: { ids: [x.idpId] } } }) },
  ],
  'POST /api/v3/usergroups': [
    {
      name: 'creates a group granting the role',
      req: (x) => ({ method: 'POST', url: '/api/v3/usergroups', body: jsonapi({ name: unique('g'), roles: [x.role] }, 'usergroups') }),
    },
  ],
  'PATCH /api/v3/usergroups/:id': [
    {
      name: "changes the roles of the user's group",
      req: (x) => ({ method: 'PATCH', url: `/api/v3/usergroups/${x.groupId}`, body: jsonapi({ roles: [x.role, 'tenant-contributor'] }) }),
    },
    {
      name: 'makes a harmless group grant the role',
      req: (x) => ({ method: 'PATCH', url: `/api/v3/usergroups/${x.freeGroupId}`, body: jsonapi({ roles: [x.role] }) }),
    },
  ],
  'DELETE /api/v3/usergroups/:id': [{ name: "deletes the user's group", req: (x) => ({ method: 'DELETE', url: `/api/v3/usergroups/${x.groupId}` }) }],
  'POST /api/v3/usergroups/:id/users': [
    {
      name: 'adds the user to a harmless group',
      req: (x) => ({ method: 'POST', url: `/api/v3/usergroups/${x.freeGroupId}/users`, body: { data: [{ type: 'users', id: x.userId }] } }),
    },
    {
      name: 'adds a plain user to the group granting the role',
      req: (x) => ({ method: 'POST', url: `/api/v3/usergroups/${x.groupId}/users`, body: { data: [{ type: 'users', id: x.freeUserId }] } }),
    },
  ],
  'DELETE /api/v3/usergroups/:id/users/:userId': [
    { name: 'removes the user from its group', req: (x) => ({ method: 'DELETE', url: `/api/v3/usergroups/${x.groupId}/users/${x.userId}` }) },
  ],
  'POST /api/v3/roles': [
    {
      name: 'creates a custom role with feature roles',
      tenantOnly: true,
      req: () => ({ method: 'POST', url: '/api/v3/roles', body: jsonapi({ name: unique('r'), featureRoles: ['audit-view', 'data-export'] }, 'roles') }),
    },
  ],
  'PATCH /api/v3/roles/:id': [
    {
      name: 'changes a role the user holds',
      req: (x) => ({ method: 'PATCH', url: `/api/v3/roles/${x.roleId}`, body: jsonapi({ featureRoles: ['dashboards-view'] }) }),
    },
  ],
  'DELETE /api/v3/roles/:id': [{ name: 'deletes a role the user holds', req: (x) => ({ method: 'DELETE', url: `/api/v3/roles/${x.roleId}` }) }],
  'POST /api/v3/serviceaccounts': [
    {
      name: 'creates an account holding the role',
      req: (x) => ({ method: 'POST', url: '/api/v3/serviceaccounts', body: { name: 'n', username: unique('sa'), roles: [x.role] } }),
    },
  ],
  'DELETE /api/v3/serviceaccounts/:machineUserId': [
    { name: 'deletes the account', req: (x) => ({ method: 'DELETE', url: `/api/v3/serviceaccounts/${x.saId}` }) },
  ],
  'POST /api/v3/serviceaccounts/:machineUserId/keys': [
    {
      name: 'adds a key to the account',
      req: (x) => ({ method: 'POST', url: `/api/v3/serviceaccounts/${x.saId}/keys`, body: { expirationDate: '2099-01-01T00:00:00Z' } }),
    },
  ],
  'DELETE /api/v3/serviceaccounts/:machineUserId/keys/:credentialId': [
    { name: "deletes the account's key", req: (x) => ({ method: 'DELETE', url: `/api/v3/serviceaccounts/${x.saId}/keys/${x.keyId}` }) },
  ],
  'POST /api/v3/serviceaccounts/:machineUserId/pats': [
    {
      name: 'mints a PAT for the account',
      req: (x) => ({ method: 'POST', url: `/api/v3/serviceaccounts/${x.saId}/pats`, body: { expirationDate: '2099-01-01T00:00:00Z' } }),
    },
  ],
  'DELETE /api/v3/serviceaccounts/:machineUserId/pats/:credentialId': [
    { name: "deletes the account's PAT", req: (x) => ({ method: 'DELETE', url: `/api/v3/serviceaccounts/${x.saId}/pats/${x.patId}` }) },
  ],
  'POST /api/v3/applications': [
    {
      name: 'creates a client_credentials app bound to the account',
      req: (x) => ({
        method: 'POST',
        url: '/api/v3/applications',
        body: jsonapi({ name: unique('app'), clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId: x.saId }, 'applications'),
      }),
    },
  ],
  'PATCH /api/v3/applications/:id': [
    {
      name: 'binds an app to the account',
      req: (x) => ({
        method: 'PATCH',
        url: `/api/v3/applications/${x.freeAppId}`,
        body: jsonapi({ grantTypes: ['client_credentials'], serviceAccountId: x.saId }),
      }),
    },
    {
      name: "changes the account's app",
      req: (x) => ({ method: 'PATCH', url: `/api/v3/applications/${x.boundAppId}`, body: jsonapi({ accessTokenLifetime: 600 }) }),
    },
  ],
  'DELETE /api/v3/applications/:id': [{ name: "deletes the account's app", req: (x) => ({ method: 'DELETE', url: `/api/v3/applications/${x.boundAppId}` }) }],
  'POST /api/v3/applications/:id/secret': [
    { name: "rotates the account's app secret", req: (x) => ({ method: 'POST', url: `/api/v3/applications/${x.boundAppId}/secret` }) },
  ],
  'POST /api/v3/certs/sign': [
    {
      name: 'issues a certificate for the account',
      req: (x) => ({
        method: 'POST',
        url: `/api/v3/certs/sign?requestedUsername=${x.saUsername}&assignedRoles=${x.role}`,
        body: nodeCsr(),
        contentType: 'application/pkcs10',
      }),
    },
    {
      name: 'issues a certificate for a new account holding the role',
      req: (x) => ({
        method: 'POST',
        url: `/api/v3/certs/sign?requestedUsername=${unique('dev')}&assignedRoles=${x.role}`,
        body: nodeCsr(),
        contentType: 'application/pkcs10',
      }),
    },
  ],
  'POST /api/v3/certs/:serialNum/revoke': [
    {
      name: "revokes the account's certificate",
      req: async (x) => ({ method: 'POST', url: `/api/v3/certs/${await certificateOf(x)}/revoke`, body: { reason: 'KeyCompromise' } }),
    },
  ],
  // SCIM acts for the caller's own tenant only.
  'PUT /scim/v2/Users/:id': [
    {
      name: 'replaces the user',
      req: (x) => ({
        method: 'PUT',
        url: `/scim/v2/Users/${x.userId}`,
        contentType: 'application/scim+json',
        body: { schemas: [USER], userName: x.username, emails: [{ value: `${unique('e')}@evil.test`, primary: true }], active: true },
      }),
    },
  ],
  'PATCH /scim/v2/Users/:id': [
    {
      name: 'deactivates the user',
      req: (x) => ({
        method: 'PATCH',
        url: `/scim/v2/Users/${x.userId}`,
        contentType: 'application/scim+json',
        body: { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] },
      }),
    },
  ],
  'DELETE /scim/v2/Users/:id': [{ name: 'deletes the user', req: (x) => ({ method: 'DELETE', url: `/scim/v2/Users/${x.userId}` }) }],
  'POST /scim/v2/Groups': [
    {
      name: 'creates a group with the user in it',
      req: (x) => ({
        method: 'POST',
        url: '/scim/v2/Groups',
        contentType: 'application/scim+json',
        body: { schemas: [GROUP], displayName: unique('sg'), members: [{ value: x.userId }] },
      }),
    },
  ],
  'PUT /scim/v2/Groups/:id': [
    {
      name: "replaces the user's group",
      req: (x) => ({
        method: 'PUT',
        url: `/scim/v2/Groups/${x.groupId}`,
        contentType: 'application/scim+json',
        body: { schemas: [GROUP], displayName: unique('sg'), members: [] },
      }),
    },
  ],
  'PATCH /scim/v2/Groups/:id': [
    {
      name: 'adds the user to a harmless group',
      req: (x) => ({
        method: 'PATCH',
        url: `/scim/v2/Groups/${x.freeGroupId}`,
        contentType: 'application/scim+json',
        body: { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: x.userId }] }] },
      }),
    },
    {
      name: 'adds a plain user to the group granting the role',
      req: (x) => ({
        method: 'PATCH',
        url: `/scim/v2/Groups/${x.groupId}`,
        contentType: 'application/scim+json',
        body: { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: x.freeUserId }] }] },
      }),
    },
  ],
  'DELETE /scim/v2/Groups/:id': [{ name: "deletes the user's group", req: (x) => ({ method: 'DELETE', url: `/scim/v2/Groups/${x.groupId}` }) }],
};

/** Routes that neither act on a principal nor confer power over one, and why. */
const READ = 'reads only';
const OPERATOR = 'skylight-admin only: the operator holds every role';
const NOT_ACTING: Record<string, string> = {
  'GET /api/v3/health/liveness': READ,
  'GET /api/v3/health/readiness': READ,
  'GET /api/v3/onboarding/tenant-info': READ,
  'PUT /api/v3/onboarding/tenant-identity': OPERATOR,
  'DELETE /api/v3/onboarding/tenant-identity/:subdomain': OPERATOR,
  'GET /api/v3/tenants/smtp': READ,
  'GET /api/v3/tenants/login-policy': READ,
  'PUT /api/v3/tenants/login-policy': "a tenant-wide setting: it changes how every user signs in, not any principal's power",
  'GET /api/v3/tenants/password-complexity-policy': READ,
  'PUT /api/v3/tenants/password-complexity-policy': "a tenant-wide setting: it changes which new passwords are accepted, not any principal's power",
  'PUT /api/v3/tenants/logo': "a tenant-wide setting: the image the hosted pages show, not any principal's power",
  'DELETE /api/v3/tenants/logo': "a tenant-wide setting: the image the hosted pages show, not any principal's power",
  'POST /api/v3/users/accept-terms': 'the caller accepts for itself',
  'GET /api/v3/session/validate-token': READ,
  'GET /api/v3/session/validate': READ,
  'GET /api/v3/session/validate-cert': READ,
  'GET /api/v3/tenants': OPERATOR,
  'POST /api/v3/tenants': OPERATOR,
  'GET /api/v3/tenants/:id': OPERATOR,
  'PATCH /api/v3/tenants/:id': OPERATOR,
  'DELETE /api/v3/tenants/:id': OPERATOR,
  'POST /api/v3/serviceaccounts/search': READ,
  'GET /api/v3/serviceaccounts/:machineUserId': READ,
  'GET /api/v3/serviceaccounts/:machineUserId/pats': READ,
  'GET /api/v3/idps': READ,
  'POST /api/v3/idps/saml': 'a new IdP has no users; linking one is PUT /users/:id/idps',
  'PATCH /api/v3/idps/saml/:id':
    'the default flag changes nobody; routing changes (domains, just-in-time roles the caller must be able to grant, auto-linking) ask the policy for every linked user (updateIdpRow)',
  'POST /api/v3/idps/oidc': 'a new IdP has no users; its just-in-time roles must be ones the caller could grant (assertMayConfer)',
  'PATCH /api/v3/idps/oidc/:id': 'asks the policy for every user linked to the IdP before changing its issuer, client or routing (updateIdpRow)',
  'GET /api/v3/users/:id/idps': READ,
  'GET /api/v3/users': READ,
  'POST /api/v3/users/search': READ,
  'GET /api/v3/users/:id': READ,
  'GET /api/v3/users/:id/usergroups': READ,
  'GET /api/v3/users/:id/roles': READ,
  'GET /api/v3/users/:id/sessions': READ,
  'POST /api/v3/usergroups/search': READ,
  'GET /api/v3/usergroups/:id': READ,
  'GET /api/v3/usergroups/:id/users': READ,
  'GET /api/v3/roles': READ,
  'GET /api/v3/roles/feature-roles': READ,
  'GET /api/v3/roles/:id': READ,
  'GET /api/v3/applications': READ,
  'GET /api/v3/applications/:id': READ,
  'POST /api/v3/signing-keys/rotate': OPERATOR,
  'GET /api/v3/audit-events': READ,
  'POST /api/v3/audit-events/search': READ,
  'POST /api/v3/certs/renew': "only the certificate's own holder, with that certificate",
  'GET /api/v3/certs': READ,
  'GET /api/v3/certs/ca': READ,
  'GET /api/v3/certs/crl': READ,
  'GET /api/v3/certs/:serialNum': READ,
  'GET /api/v3/certs/ocsp/:ocspRequest': READ,
  'POST /api/v3/certs/ocsp': READ,
  'GET /scim/v2/Users': READ,
  'GET /scim/v2/Users/:id': READ,
  'POST /scim/v2/Users': 'creates a user holding no role',
  'POST /scim/v2/Users/.search': READ,
  'GET /scim/v2/Groups': READ,
  'GET /scim/v2/Groups/:id': READ,
  'POST /scim/v2/Groups/.search': READ,
  'GET /scim/v2/ServiceProviderConfig': READ,
  'GET /scim/v2/ResourceTypes': READ,
  'GET /scim/v2/ResourceTypes/:id': READ,
  'GET /scim/v2/Schemas': READ,
  'GET /scim/v2/Schemas/:id': READ,
  'POST /admin/v1/export': OPERATOR,
  'POST /admin/v1/import': OPERATOR,
  'POST /admin/v1/backup': OPERATOR,
};

type ActorName = 'tenant-user' | 'tenant-admin' | 'tenant-admin-sa' | 'scim-connector' | 'admin-of-other-tenant';
interface Actor {
  token: string;
  tenantId: string;
  rank: number;
  admin: boolean;
}

let t: TestApp;
let operator: string;
let other: string;
const actors = {} as Record<ActorName, Actor>;
const registered: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  operator = t.operatorTenantId;
  other = await createTenant(t, 'Other tenant');
  const sa = async (tenantId: string, role: string) => (await seedServiceAccountPat(t, tenantId, [role])).pat;
  const adminUser = await t.db.prisma.user.create({
    data: {
      tenantId: operator,
      username: 'op-admin',
      email: 'op-admin@x.test',
      state: 'active',
      roles: { create: { roleName: 'tenant-admin' } },
    },
  });
  const { accessToken } = await issueAccessToken(t.app.oauth, {
    subject: { kind: 'user', tenantId: operator, subjectId: adminUser.id, username: adminUser.username, roles: ['tenant-admin'], groups: [] },
    clientId: 'matrix',
    scope: 'openid',
    format: 'jwt',
    lifetime: 3600,
  });
  actors['tenant-user'] = { token: await sa(operator, 'tenant-user'), tenantId: operator, rank: 1, admin: false };
  actors['tenant-admin'] = { token: accessToken, tenantId: operator, rank: 2, admin: true };
  actors['tenant-admin-sa'] = { token: await sa(operator, 'tenant-admin'), tenantId: operator, rank: 2, admin: true };
  actors['scim-connector'] = { token: await sa(operator, 'tenant-admin'), tenantId: operator, rank: 2, admin: true };
  actors['admin-of-other-tenant'] = { token: await sa(other, 'tenant-admin'), tenantId: other, rank: 2, admin: true };

  // Every route the app serves under the principal-facing prefixes, as declared.
  for (const r of t.app.routeTable) registered.push(`${r.method} ${r.url}`);
  const doc = t.app.swagger() as { paths: Record<string, Record<string, unknown>> };
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (!/^\/(scim|admin)\//.test(path)) continue;
    for (const m of Object.keys(ops)) registered.push(`${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
  }
});
afterAll(() => t?.close());

async function makeTarget(level: Level): Promise<Target> {
  const p = t.db.prisma;
  const tenantId = level === 'other' ? other : operator;
  const role = ROLE_OF[level];
  const n = unique('x');
  const roleName = `Role ${n}`;
  await p.customRole.create({ data: { tenantId, name: roleName, featureRoles: ['audit-view'] } });
  const idp = (name: string) =>
    p.identityProvider.create({
      data: {
        tenantId,
        name,
        entityId: `https://${name}.idp.test`,
        metadataXml: '<x/>',
        ssoRedirectUrl: `https://${name}.idp.test/sso`,
        signingCerts: [],
        nameIdFormats: [],
        spPrivateKeyEnc: 'x',
        spCertificate: 'x',
      },
    });
  const [linked, free] = [await idp(`${n}-a`), await idp(`${n}-b`)];
  const user = await p.user.create({
    data: {
      tenantId,
      username: `user-${n}`,
      email: `${n}@x.test`,
      state: 'active',
      idpId: linked.id,
      roles: { create: [{ roleName: role }, { roleName }] },
    },
  });
  const freeUser = await p.user.create({
    data: {
      tenantId,
      username: `plain-${n}`,
      email: `plain-${n}@x.test`,
      state: 'active',
      roles: { create: { roleName: 'tenant-user' } },
    },
  });
  const group = await p.userGroup.create({ data: { tenantId, name: `group-${n}`, roles: { create: { roleName: role } } } });
  await p.groupMembership.create({ data: { tenantId, groupId: group.id, userId: user.id } });
  const freeGroup = await p.userGroup.create({
    data: { tenantId, name: `free-${n}`, roles: { create: { roleName: 'tenant-contributor' } } },
  });
  const account = await seedServiceAccountPat(t, tenantId, [role], { username: `sa-${n}` });
  const key = await p.serviceAccountKey.create({
    data: { tenantId, serviceAccountId: account.serviceAccountId, keyType: 'RSA', algorithm: 'RS256', publicKeyPem: 'x', expiresAt: new Date('2099-01-01') },
  });
  const app = (name: string, bound: boolean) =>
    p.application.create({
      data: {
        tenantId,
        name,
        clientId: unique('client'),
        clientType: 'confidential',
        clientSecretHash: 'x',
        tokenEndpointAuthMethod: 'client_secret_basic',
        redirectUris: ['https://app.test/cb'],
        postLogoutRedirectUris: [],
        grantTypes: bound ? ['client_credentials'] : ['authorization_code'],
        serviceAccountId: bound ? account.serviceAccountId : null,
      },
    });
  const [bound, freeApp] = [await app(`bound-${n}`, true), await app(`free-${n}`, false)];
  return {
    tenantId,
    role,
    userId: user.id,
    username: user.username,
    saId: account.serviceAccountId,
    saUsername: `sa-${n}`,
    patId: account.patId,
    keyId: key.id,
    groupId: group.id,
    roleId: (await p.customRole.findFirstOrThrow({ where: { tenantId, name: roleName } })).id,
    roleName,
    idpId: linked.id,
    freeIdpId: free.id,
    boundAppId: bound.id,
    freeAppId: freeApp.id,
    freeGroupId: freeGroup.id,
    freeUserId: freeUser.id,
  };
}

/** A real certificate of the target's account, issued by the operator. */
async function certificateOf(x: Target): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: `/api/v3/certs/sign?requestedUsername=${x.saUsername}&assignedRoles=${x.role}&format=pem`,
    headers: { authorization: `Bearer ${t.adminPat}`, 'x-forwarded-tenant-id': x.tenantId, 'content-type': 'application/pkcs10' },
    payload: nodeCsr(),
  });
  expect(res.statusCode, res.body).toBe(200);
  const row = await t.db.prisma.clientCertificate.findFirstOrThrow({ where: { tenantId: x.tenantId, serviceAccountId: x.saId } });
  return row.serial.toString();
}

function allowed(actor: Actor, x: Target, probe: Probe): boolean {
  if (!actor.admin || actor.tenantId !== x.tenantId) return false;
  return probe.tenantOnly ? true : actor.rank >= RANK[x.role]!;
}

function send(actor: Actor, x: Target, r: Req) {
  const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : JSON.stringify(r.body);
  return t.app.inject({
    method: r.method as 'POST',
    url: r.url,
    headers: {
      authorization: `Bearer ${actor.token}`,
      // REST names the target's tenant; SCIM ignores it and acts for the caller's own.
      'x-forwarded-tenant-id': x.tenantId,
      ...(body !== undefined ? { 'content-type': r.contentType ?? 'application/vnd.api+json' } : {}),
    },
    payload: body,
  });
}

/**
 * 403, or 404 for what the actor may not see. Outside its tenant, SCIM answers a member
 * reference it cannot resolve with 400 invalidValue. Item-wise routes answer 200 with
 * every item refused.
 */
function refused(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, crossTenant: boolean): boolean {
  if (res.statusCode === 403 || res.statusCode === 404 || (crossTenant && res.statusCode === 400)) return true;
  if (res.statusCode !== 200 || !String(res.headers['content-type']).includes('json')) return false;
  const errors = (res.json() as { errors?: { status: string }[] }).errors;
  return Boolean(errors?.length && errors.every((e) => e.status === '403'));
}

describe('escalation matrix', () => {
  it('classifies every route: acting on a principal, or not and why', () => {
    expect(registered.length).toBeGreaterThan(60);
    const unclassified = registered.filter((r) => !(r in ACTS) && !(r in NOT_ACTING));
    expect(unclassified, 'classify these routes in test/escalation-matrix.test.ts').toEqual([]);
    const stale = [...Object.keys(ACTS), ...Object.keys(NOT_ACTING)].filter((r) => !registered.includes(r));
    expect(stale, 'these classified routes no longer exist').toEqual([]);
  });

  const cases = Object.entries(ACTS).flatMap(([route, probes]) => probes.map((probe) => [`${route}: ${probe.name}`, route, probe] as const));
  it.each(cases)(
    '%s',
    async (_name, route, probe) => {
      const scim = route.includes(' /scim/');
      const names = (Object.keys(actors) as ActorName[]).filter((a) => (scim ? a !== 'tenant-admin-sa' : a !== 'scim-connector'));
      const wrong: string[] = [];
      for (const level of LEVELS) {
        // Refusals change nothing, so they share one target; each success gets a fresh one.
        const shared = await makeTarget(level);
        const req = await probe.req(shared);
        const before = await snapshot(t.db);
        const allowedNames: ActorName[] = [];
        for (const name of names) {
          const actor = actors[name];
          if (allowed(actor, shared, probe)) {
            allowedNames.push(name);
            continue;
          }
          const res = await send(actor, shared, req);
          if (!refused(res, actor.tenantId !== shared.tenantId))
            wrong.push(`${name} on ${level}: expected a refusal, got ${res.statusCode} ${res.body.slice(0, 300)}`);
          const after = await snapshot(t.db);
          const changed = Object.keys(after).filter((table) => after[table] !== before[table]);
          if (changed.length) wrong.push(`${name} on ${level}: refused but ${changed.join(', ')} changed`);
        }
        for (const [i, name] of allowedNames.entries()) {
          const x = i === 0 ? shared : await makeTarget(level);
          const res = await send(actors[name], x, i === 0 ? req : await probe.req(x));
          if (res.statusCode >= 300 || refused(res, false))
            wrong.push(`${name} on ${level}: expected success, got ${res.statusCode} ${res.body.slice(0, 300)}`);
        }
      }
      expect(wrong).toEqual([]);
    },
    300_000,
  );
});
