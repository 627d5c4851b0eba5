// Request and response examples of the OpenAPI document, kept in one table keyed by "METHOD /path/template" rather than
// in each route module, and written into the generated document by withExamples(). Values follow the PCA API's own
// samples (seed 000: ids, names, dates) where it has them; every secret, token and key below is an obvious fake.
// test/openapi-examples.test.ts validates each example against the schema it is placed under.
import { resourceTypes, schemas as scimSchemas, serviceProviderConfig } from '../scim/discovery.js';
import { DEFAULT_LOGIN_POLICY } from '../tenants/login-policy.js';
import { DEFAULT_PASSWORD_COMPLEXITY } from '../tenants/password-complexity.js';

const TENANT_ID = 'abcd12a1-1234-12ab-123a-1abcd123a1a1';
const USER_ID = '0193a5f2-6c1d-7e3a-8b4f-2d6e9a1c3b57';
const USER2_ID = '0193a5f2-6d88-7b90-a1c2-3d4e5f607182';
const GROUP_ID = '0193a5f2-7a02-7c41-9e5d-1f3b8c2a4d60';
const ROLE_ID = '0193a5f2-80b3-7d12-a6c4-5e7f9b0d1c23';
const SA_ID = '0193a5f2-8f44-7a53-b2d1-6c8e0f1a2b34';
const PAT_ID = '0193a5f2-9c15-7e64-8a3b-7d9f1a2b3c45';
const KEY_ID = '0193a5f2-a4e6-7f75-9b4c-8e0a2b3c4d56';
const APP_ID = '0193a5f2-b1d7-7086-a5cd-9f1b3c4d5e67';
const IDP_ID = '0193a5f2-c2a8-7197-b6de-0a2c4d5e6f78';
const AUDIT_ID = '0193a5f3-0e19-72a8-87ef-1b3d5e6f7089';
const SERIAL = '291606795498498048';
const CREATED = '2026-11-30T09:15:27.412Z';
const UPDATED = '2026-12-01T08:02:11.950Z';
const PAT_EXPIRY = '2027-06-30T00:00:00Z';
const PUBLIC_URL = 'https://auth.iam.example.com';
const SCIM_BASE = `${PUBLIC_URL}/scim/v2`;
// Shapes of real values, visibly not real ones.
const FAKE_PAT = 'pat_EXAMPLE0nlyNotARealToken0000000000000000000';
const FAKE_SECRET = 'EXAMPLE-client-secret-not-real-000000000000';
const FAKE_JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImV4YW1wbGUifQ.eyJzdWIiOiJleGFtcGxlIn0.EXAMPLE-signature';
const FAKE_PEM = (label: string) => `-----BEGIN ${label}-----\nMIIBEXAMPLEONLYnotarealvalueAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END ${label}-----\n`;

const page = (path: string, total: number, pageSize = 25) => ({
  links: {
    self: `${path}?page=1&pageSize=${pageSize}`,
    first: `${path}?page=1&pageSize=${pageSize}`,
    prev: null,
    next: null,
    last: `${path}?page=1&pageSize=${pageSize}`,
  },
  meta: { page: 1, pageSize, total, totalPages: 1 },
});
const list = (path: string, data: unknown[], bodyFilters: Record<string, unknown> = {}) => ({ bodyFilters, ...page(path, data.length), data });

const tenant = {
  type: 'tenants',
  id: TENANT_ID,
  attributes: {
    name: 'Acme Networks',
    subdomain: 'acme',
    state: 'active',
    isOperator: false,
    branding: { primaryColor: '#0b5fff' },
    termsRequired: true,
    passwordPolicy: { minLength: 12, requireUpper: true, requireLower: true, requireDigit: true, requireSymbol: false },
    lockoutPolicy: { maxAttempts: 10 },
    createdAt: CREATED,
    updatedAt: UPDATED,
  },
};

const userAttributes = {
  username: 'jdoe',
  email: 'jane.doe@acme.example.com',
  firstName: 'Jane',
  lastName: 'Doe',
  state: 'active',
  lockedUntil: null,
  roles: ['tenant-admin'],
  idpId: null,
  termsAcceptedAt: '2026-11-30T09:20:03.118Z',
  lastLoginAt: '2026-12-01T07:58:42.006Z',
  createdAt: CREATED,
  updatedAt: UPDATED,
};
const user = { type: 'users', id: USER_ID, attributes: userAttributes };
const user2 = {
  type: 'users',
  id: USER2_ID,
  attributes: {
    ...userAttributes,
    username: 'rsmith',
    email: 'raj.smith@acme.example.com',
    firstName: 'Raj',
    lastName: 'Smith',
    roles: ['tenant-user'],
    termsAcceptedAt: null,
    lastLoginAt: null,
  },
};

const group = {
  type: 'usergroups',
  id: GROUP_ID,
  attributes: {
    name: 'NOC operators',
    description: 'Network operations centre, day shift',
    roles: ['NOC viewer'],
    memberCount: 2,
    createdAt: CREATED,
    updatedAt: UPDATED,
  },
};

const customRole = {
  type: 'roles',
  id: ROLE_ID,
  attributes: {
    name: 'NOC viewer',
    description: 'Read-only access to dashboards and alerts',
    featureRoles: ['dashboards-view', 'alerts-view'],
    createdAt: CREATED,
    updatedAt: UPDATED,
  },
};

const serviceAccount = {
  type: 'serviceaccounts',
  id: SA_ID,
  attributes: {
    name: 'ServiceAccount1',
    username: 'ServiceAccount1@pca',
    description: 'description for pca tenant',
    accessTokenType: 'Bearer',
    roles: ['tenant-admin'],
    createdAt: CREATED,
    updatedAt: UPDATED,
  },
};

const application = {
  type: 'applications',
  id: APP_ID,
  attributes: {
    name: 'Acme portal',
    clientId: 'acme-portal',
    clientType: 'confidential',
    tokenEndpointAuthMethod: 'client_secret_basic',
    redirectUris: ['https://portal.acme.example.com/callback'],
    postLogoutRedirectUris: ['https://portal.acme.example.com/'],
    grantTypes: ['authorization_code', 'refresh_token'],
    accessTokenType: 'jwt',
    signingAlg: 'RS256',
    accessTokenLifetime: 3600,
    idTokenLifetime: 3600,
    refreshTokenLifetime: 2592000,
    serviceAccountId: null,
    jwks: null,
    jwksUri: null,
    requirePushedAuthorizationRequests: false,
    requireSignedRequestObject: false,
    isManaged: false,
    secretRotatedAt: CREATED,
    createdAt: CREATED,
    updatedAt: UPDATED,
  },
};

const noRouting = { domains: [], jitProvisioning: false, jitRoles: [], autoLinkByEmail: false };
const samlIdp = { id: IDP_ID, isDefault: false, name: 'ExampleSamlIDP', type: 'IDENTITY_PROVIDER_TYPE_SAML' };
const identityProvider = {
  id: IDP_ID,
  name: 'ExampleSamlIDP',
  type: 'IDENTITY_PROVIDER_TYPE_SAML',
  isDefault: false,
  state: 'active',
  entityId: 'https://idp.acme.example.com/saml/metadata',
  ...noRouting,
};
const oidcIdp = {
  id: IDP_ID,
  name: 'Entra ID',
  type: 'IDENTITY_PROVIDER_TYPE_OIDC',
  isDefault: false,
  state: 'IDP_STATE_ACTIVE',
  issuer: 'https://login.microsoftonline.com/00000000-0000-4000-8000-00000000e17a/v2.0',
  clientId: '11111111-2222-4333-8444-555555555555',
  scopes: ['openid', 'email', 'profile'],
  callbackUrl: `${PUBLIC_URL}/oidc-idp/${IDP_ID}/callback`,
  domains: ['acme.example.com'],
  jitProvisioning: true,
  jitRoles: ['tenant-user'],
  autoLinkByEmail: true,
};

const certStatus = { expiry: 1798761600, reason: 'Unspecified', serialNum: SERIAL, status: 'Good', tenantId: TENANT_ID, userId: SA_ID };

const auditEvent = {
  type: 'audit-events',
  id: AUDIT_ID,
  attributes: {
    tenantId: TENANT_ID,
    createdAt: UPDATED,
    actorKind: 'user',
    actorId: USER_ID,
    actorName: 'jdoe',
    clientAddress: '203.0.113.24',
    action: 'user.updated',
    targetType: 'user',
    targetId: USER2_ID,
    outcome: 'success',
    requestId: 'req-7f3a9c',
    details: { fields: ['state'] },
  },
};

const tenantInfo = {
  data: {
    type: 'tenantInfo',
    id: TENANT_ID,
    attributes: { tenantId: TENANT_ID, subdomain: 'acme', name: 'Acme Networks', branding: { primaryColor: '#0b5fff' }, termsRequired: true },
  },
};

const scimUser = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  id: USER2_ID,
  externalId: '00u1a2b3c4EXAMPLE',
  userName: 'rsmith',
  name: { givenName: 'Raj', familyName: 'Smith', formatted: 'Raj Smith' },
  displayName: 'Raj Smith',
  emails: [{ value: 'raj.smith@acme.example.com', type: 'work', primary: true }],
  active: true,
  meta: { resourceType: 'User', created: CREATED, lastModified: UPDATED, location: `${SCIM_BASE}/Users/${USER2_ID}`, version: 'W/"m3n8q1k2"' },
};
const scimGroup = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
  id: GROUP_ID,
  displayName: 'NOC operators',
  members: [{ value: USER2_ID, display: 'rsmith', $ref: `${SCIM_BASE}/Users/${USER2_ID}`, type: 'User' }],
  meta: { resourceType: 'Group', created: CREATED, lastModified: UPDATED, location: `${SCIM_BASE}/Groups/${GROUP_ID}`, version: 'W/"m3n8q1k9"' },
};
const scimList = (resources: unknown[]) => ({
  schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
  totalResults: resources.length,
  startIndex: 1,
  itemsPerPage: resources.length,
  Resources: resources,
});
const scimUserInput = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  externalId: '00u1a2b3c4EXAMPLE',
  userName: 'rsmith',
  name: { givenName: 'Raj', familyName: 'Smith' },
  emails: [{ value: 'raj.smith@acme.example.com', type: 'work', primary: true }],
  active: true,
};
const scimGroupInput = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'NOC operators', members: [{ value: USER2_ID }] };
const scimSearch = { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'userName eq "rsmith"', startIndex: 1, count: 10 };

const jwks = {
  keys: [
    { kty: 'RSA', kid: 'EXAMPLE-key-1', use: 'sig', alg: 'RS256', n: 'EXAMPLE0modulus0not0a0real0key', e: 'AQAB' },
    { kty: 'EC', kid: 'EXAMPLE-key-2', use: 'sig', alg: 'ES256', crv: 'P-256', x: 'EXAMPLE0x0coordinate', y: 'EXAMPLE0y0coordinate' },
  ],
};
const discovery = {
  issuer: PUBLIC_URL,
  authorization_endpoint: `${PUBLIC_URL}/oauth/v2/authorize`,
  device_authorization_endpoint: `${PUBLIC_URL}/oauth/v2/device_authorization`,
  token_endpoint: `${PUBLIC_URL}/oauth/v2/token`,
  introspection_endpoint: `${PUBLIC_URL}/oauth/v2/introspect`,
  revocation_endpoint: `${PUBLIC_URL}/oauth/v2/revoke`,
  userinfo_endpoint: `${PUBLIC_URL}/oidc/v1/userinfo`,
  end_session_endpoint: `${PUBLIC_URL}/oidc/v1/end_session`,
  jwks_uri: `${PUBLIC_URL}/oauth/v2/keys`,
  response_types_supported: ['code'],
  grant_types_supported: [
    'authorization_code',
    'refresh_token',
    'client_credentials',
    'urn:ietf:params:oauth:grant-type:jwt-bearer',
    'urn:ietf:params:oauth:grant-type:token-exchange',
    'urn:ietf:params:oauth:grant-type:device_code',
  ],
  subject_types_supported: ['public'],
  id_token_signing_alg_values_supported: ['RS256', 'ES256'],
  scopes_supported: ['openid', 'profile', 'email', 'offline_access', 'groups'],
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
  code_challenge_methods_supported: ['S256'],
};
// A machine's client_credentials grant, its client authenticated by client_secret_post.
const pushedRequest = {
  response_type: 'code',
  client_id: 'acme-portal',
  redirect_uri: 'https://portal.acme.example.com/callback',
  scope: 'openid profile email',
  state: 'EXAMPLE-state-3f9a',
  code_challenge: 'EXAMPLEcodeChallengeS256notReal000000000000',
  code_challenge_method: 'S256',
};
const pushedResponse = { request_uri: 'urn:ietf:params:oauth:request_uri:EXAMPLE-not-real-0000000000', expires_in: 60 };

const deviceRequest = { client_id: 'acme-cli', scope: 'openid offline_access' };
const deviceResponse = {
  device_code: 'EXAMPLE-device-code-not-real-000000000000000',
  user_code: 'WDJB-MJHT',
  verification_uri: `${PUBLIC_URL}/ui/device`,
  verification_uri_complete: `${PUBLIC_URL}/ui/device?user_code=WDJB-MJHT`,
  expires_in: 600,
  interval: 5,
};

const loginPolicy = { type: 'loginPolicy', id: TENANT_ID, attributes: DEFAULT_LOGIN_POLICY };

const tokenRequest = { grant_type: 'client_credentials', client_id: 'acme-robot', client_secret: FAKE_SECRET };
const tokenResponse = { access_token: FAKE_JWT, token_type: 'Bearer', expires_in: 3600 };
const userinfo = {
  sub: USER_ID,
  tenant_id: TENANT_ID,
  group_ids: [GROUP_ID],
  group_names: ['NOC operators'],
  name: 'Jane Doe',
  given_name: 'Jane',
  family_name: 'Doe',
  preferred_username: 'jdoe',
  email: 'jane.doe@acme.example.com',
  email_verified: true,
};
const introspection = {
  active: true,
  token_type: 'Bearer',
  client_id: 'acme-portal',
  sub: USER_ID,
  username: 'jdoe',
  scope: 'openid profile',
  iss: PUBLIC_URL,
  exp: 1796018400,
  iat: 1796014800,
  tenant_id: TENANT_ID,
};

// An export asked for in the response, abbreviated to one tenant with one user of each kind.
const exportDocument = {
  orgs: [
    {
      orgId: TENANT_ID,
      org: { name: 'Acme Networks' },
      labelPolicy: { primaryColor: '#0b5fff' },
      lockoutPolicy: { maxPasswordAttempts: 10 },
      passwordComplexityPolicy: { minLength: 12, hasUppercase: true, hasLowercase: true, hasNumber: true, hasSymbol: false },
      projects: [{ projectId: TENANT_ID, project: { name: 'Acme Networks', projectRoleAssertion: true } }],
      projectRoles: [{ projectId: TENANT_ID, roleKey: 'NOC viewer', displayName: 'NOC viewer', group: 'Read-only access to dashboards and alerts' }],
      humanUsers: [
        {
          userId: USER_ID,
          user: {
            userName: 'jdoe',
            profile: { firstName: 'Jane', lastName: 'Doe', displayName: 'Jane Doe' },
            email: { email: 'jane.doe@acme.example.com', isEmailVerified: true },
          },
        },
      ],
      machineUsers: [
        {
          userId: SA_ID,
          user: {
            userName: 'ServiceAccount1@pca',
            name: 'ServiceAccount1',
            description: 'description for pca tenant',
            accessTokenType: 'ACCESS_TOKEN_TYPE_BEARER',
          },
        },
      ],
      userGrants: [
        { userId: SA_ID, projectId: TENANT_ID, roleKeys: ['tenant-admin'] },
        { userId: USER_ID, projectId: TENANT_ID, roleKeys: ['tenant-admin'] },
      ],
      orgMembers: [
        { userId: SA_ID, roles: ['ORG_OWNER'] },
        { userId: USER_ID, roles: ['ORG_OWNER'] },
      ],
      userMetadata: [{ id: USER_ID, key: 'pca:state', value: 'YWN0aXZl' }],
      domains: [
        { orgId: TENANT_ID, domainName: 'acme.iam.example.com', isVerified: true, isPrimary: true, validationType: 'DOMAIN_VALIDATION_TYPE_UNSPECIFIED' },
      ],
      pca: {
        state: 'active',
        isOperator: false,
        termsRequired: true,
        branding: { primaryColor: '#0b5fff' },
        identity: { subdomain: 'acme', name: 'Acme Networks', attributes: {} },
        customRoles: [
          { roleId: ROLE_ID, name: 'NOC viewer', description: 'Read-only access to dashboards and alerts', featureRoles: ['alerts-view', 'dashboards-view'] },
        ],
        groups: [
          {
            groupId: GROUP_ID,
            name: 'NOC operators',
            description: 'Network operations centre, day shift',
            externalId: null,
            members: [USER_ID],
            roles: ['NOC viewer'],
          },
        ],
      },
    },
  ],
};

const s3 = {
  path: 'exports/acme.json',
  endpoint: 'https://s3.example.com',
  accessKeyId: 'EXAMPLEACCESSKEY',
  secretAccessKey: 'EXAMPLE-secret-not-real',
  ssl: true,
  bucket: 'iam-backups',
};

/** Examples of one operation: the request body and the success answer, or per media type where one value cannot serve all. */
export interface OperationExamples {
  request?: unknown;
  /** A form body the route parses itself, so the document declares none: it gets one, with this example. */
  form?: Record<string, string>;
  requestByType?: Record<string, unknown>;
  response?: unknown;
  responseByType?: Record<string, unknown>;
}

const csr = {
  requestByType: { 'application/x-pem-file': FAKE_PEM('CERTIFICATE REQUEST') },
  responseByType: { 'application/x-pem-file': FAKE_PEM('CERTIFICATE') },
};
const validate = { response: 'OK' };

export const OPERATION_EXAMPLES: Record<string, OperationExamples> = {
  'GET /api/v3/health/liveness': { response: 'OK' },
  'GET /api/v3/health/readiness': { response: 'OK' },

  'GET /api/v3/onboarding/tenant-info': { response: tenantInfo },
  'PUT /api/v3/onboarding/tenant-identity': {
    request: { data: { type: 'tenantInfo', attributes: { tenantId: TENANT_ID, subdomain: 'acme', name: 'Acme Networks' } } },
    response: tenantInfo,
  },

  'GET /api/v3/tenants/smtp': { response: { smtpEnabled: true } },
  'GET /api/v3/tenants': { response: list('/api/v3/tenants', [tenant]) },
  'POST /api/v3/tenants': {
    request: {
      data: {
        type: 'tenants',
        attributes: { name: 'Acme Networks', subdomain: 'acme', branding: { primaryColor: '#0b5fff' }, termsRequired: true, passwordPolicy: { minLength: 12 } },
      },
    },
    response: { data: tenant },
  },
  'GET /api/v3/tenants/{id}': { response: { data: tenant } },
  'PATCH /api/v3/tenants/{id}': {
    request: { data: { type: 'tenants', id: TENANT_ID, attributes: { lockoutPolicy: { maxAttempts: 10 } } } },
    response: { data: tenant },
  },

  'GET /api/v3/session/validate': validate,
  'GET /api/v3/session/validate-token': validate,
  'GET /api/v3/session/validate-cert': validate,

  'POST /api/v3/users': {
    request: {
      data: {
        type: 'users',
        attributes: { username: 'rsmith', email: 'raj.smith@acme.example.com', firstName: 'Raj', lastName: 'Smith', roles: ['tenant-user'] },
      },
    },
    response: { data: { ...user2, attributes: { ...user2.attributes, state: 'initial', lastLoginAt: null } }, meta: { invitation: 'mailed' } },
  },
  'GET /api/v3/users': { response: list('/api/v3/users', [user, user2]) },
  'POST /api/v3/users/search': {
    request: { data: { lastName: 'smith', state: 'active' } },
    response: list('/api/v3/users/search', [user2], { lastName: 'smith', state: 'active' }),
  },
  'GET /api/v3/users/{id}': { response: { data: user } },
  'PATCH /api/v3/users/{id}': {
    request: { data: { type: 'users', id: USER2_ID, attributes: { state: 'inactive' } } },
    response: { data: { ...user2, attributes: { ...user2.attributes, state: 'inactive' } } },
  },
  'POST /api/v3/users/accept-terms': { response: { data: { type: 'users', id: USER_ID, attributes: { termsAcceptedAt: '2026-11-30T09:20:03.118Z' } } } },
  'GET /api/v3/users/{id}/usergroups': { response: list(`/api/v3/users/${USER2_ID}/usergroups`, [group]) },
  'GET /api/v3/users/{id}/roles': {
    response: list(`/api/v3/users/${USER2_ID}/roles`, [
      { type: 'roles', id: 'tenant-user', attributes: { name: 'tenant-user', builtIn: true, direct: true, inherited: false, inheritedFrom: [] } },
      {
        type: 'roles',
        id: ROLE_ID,
        attributes: { name: 'NOC viewer', builtIn: false, direct: false, inherited: true, inheritedFrom: [{ id: GROUP_ID, name: 'NOC operators' }] },
      },
    ]),
  },
  // The PCA API answers a batch with the items that failed, as JSON:API errors; an empty list means all were added.
  'POST /api/v3/users/{id}/roles': {
    request: {
      data: [
        { type: 'roles', id: 'NOC viewer' },
        { type: 'roles', id: 'no-such-role' },
      ],
    },
    response: { errors: [{ status: '404', code: 'not_found', title: 'Not found', detail: 'Role not found', source: { pointer: '/data/1' } }] },
  },
  'GET /api/v3/users/{id}/idps': { response: { data: { ids: [IDP_ID], idps: [identityProvider] } } },
  'PUT /api/v3/users/{id}/idps': { request: { data: { ids: [IDP_ID] } }, response: { data: { ids: [IDP_ID], idps: [identityProvider] } } },

  'POST /api/v3/usergroups': {
    request: {
      data: { type: 'usergroups', attributes: { name: 'NOC operators', description: 'Network operations centre, day shift', roles: ['NOC viewer'] } },
    },
    response: { data: { ...group, attributes: { ...group.attributes, memberCount: 0 } } },
  },
  'POST /api/v3/usergroups/search': { request: { data: { name: 'noc' } }, response: list('/api/v3/usergroups/search', [group], { name: 'noc' }) },
  'GET /api/v3/usergroups/{id}': { response: { data: group } },
  'PATCH /api/v3/usergroups/{id}': {
    request: { data: { type: 'usergroups', id: GROUP_ID, attributes: { description: 'Network operations centre, all shifts' } } },
    response: { data: group },
  },
  'GET /api/v3/usergroups/{id}/users': { response: list(`/api/v3/usergroups/${GROUP_ID}/users`, [user, user2]) },
  'POST /api/v3/usergroups/{id}/users': { request: { data: [{ type: 'users', id: USER2_ID }] }, response: { errors: [] } },

  'GET /api/v3/roles': { response: list('/api/v3/roles', [customRole]) },
  'POST /api/v3/roles': {
    request: {
      data: {
        type: 'roles',
        attributes: { name: 'NOC viewer', description: 'Read-only access to dashboards and alerts', featureRoles: ['dashboards-view', 'alerts-view'] },
      },
    },
    response: { data: customRole },
  },
  'GET /api/v3/roles/feature-roles': {
    response: {
      data: [
        { type: 'featureRoles', id: 'audit-view', attributes: { name: 'audit-view', category: 'Administration', description: "Read the tenant's audit log" } },
      ],
    },
  },
  'GET /api/v3/roles/{id}': { response: { data: customRole } },
  'PATCH /api/v3/roles/{id}': {
    request: { data: { type: 'roles', id: ROLE_ID, attributes: { featureRoles: ['dashboards-view'] } } },
    response: { data: customRole },
  },
  'DELETE /api/v3/roles/{id}': { response: 'Custom role successfully deleted' },

  'POST /api/v3/serviceaccounts': {
    request: {
      accessTokenType: 'Bearer',
      description: 'description for pca tenant',
      expirationDate: PAT_EXPIRY,
      name: 'ServiceAccount1',
      roles: ['tenant-admin'],
      username: 'ServiceAccount1@pca',
    },
    response: {
      machineUserId: SA_ID,
      name: 'ServiceAccount1',
      username: 'ServiceAccount1@pca',
      description: 'description for pca tenant',
      accessTokenType: 'Bearer',
      roles: ['tenant-admin'],
      pat: FAKE_PAT,
      credentialId: PAT_ID,
      expirationDate: PAT_EXPIRY,
    },
  },
  'POST /api/v3/serviceaccounts/search': {
    request: { data: { username: 'ServiceAccount1' } },
    response: list('/api/v3/serviceaccounts/search', [serviceAccount], { username: 'ServiceAccount1' }),
  },
  'GET /api/v3/serviceaccounts/{machineUserId}': { response: { data: serviceAccount } },
  'POST /api/v3/serviceaccounts/{machineUserId}/keys': {
    request: { expirationDate: PAT_EXPIRY, keyType: 'EC' },
    response: {
      expirationDate: PAT_EXPIRY,
      key: 'RVhBTVBMRS1rZXktZmlsZS1ub3QtcmVhbA==',
      keyId: KEY_ID,
      organizationId: TENANT_ID,
      projectId: TENANT_ID,
      type: 'serviceaccount',
      userId: SA_ID,
    },
  },
  'POST /api/v3/serviceaccounts/{machineUserId}/pats': {
    request: { expirationDate: PAT_EXPIRY },
    response: { credentialId: PAT_ID, expirationDate: PAT_EXPIRY, machineUserId: SA_ID, pat: FAKE_PAT },
  },
  'GET /api/v3/serviceaccounts/{machineUserId}/pats': {
    response: list(`/api/v3/serviceaccounts/${SA_ID}/pats`, [
      {
        type: 'pats',
        id: PAT_ID,
        attributes: { credentialId: PAT_ID, machineUserId: SA_ID, expirationDate: PAT_EXPIRY, lastUsedAt: UPDATED, createdAt: CREATED },
      },
    ]),
  },

  'GET /api/v3/idps': { response: { data: { idps: [identityProvider] } } },
  'DELETE /api/v3/idps': { request: { data: { ids: [IDP_ID] } } },
  'POST /api/v3/idps/saml': {
    request: { name: 'ExampleSamlIDP', metadataUrl: 'https://idp.acme.example.com/saml/metadata', isDefault: 'false' },
    response: samlIdp,
  },
  'PATCH /api/v3/idps/saml/{id}': {
    request: { isDefault: 'true', domains: 'acme.example.com', jitProvisioning: 'true', jitRoles: 'tenant-user' },
    response: { ...samlIdp, isDefault: true },
  },
  'POST /api/v3/idps/oidc': {
    request: {
      name: 'Entra ID',
      issuer: 'https://login.microsoftonline.com/00000000-0000-4000-8000-00000000e17a/v2.0',
      clientId: '11111111-2222-4333-8444-555555555555',
      clientSecret: 'EXAMPLE~client~secret',
      domains: ['acme.example.com'],
      jitProvisioning: true,
      jitRoles: ['tenant-user'],
      autoLinkByEmail: true,
    },
    response: oidcIdp,
  },
  'PATCH /api/v3/idps/oidc/{id}': { request: { isDefault: true }, response: { ...oidcIdp, isDefault: true } },
  'GET /saml/{idpId}/metadata': {
    response: `<?xml version="1.0"?>\n<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${PUBLIC_URL}/saml/${IDP_ID}/metadata">\n  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">\n    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${PUBLIC_URL}/saml/${IDP_ID}/acs" index="1"/>\n  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n`,
  },
  'GET /oidc-idp/{idpId}/callback': {
    response: '<!doctype html><html><body><p>Signed in. You can return to the application.</p></body></html>',
  },
  'POST /saml/{idpId}/acs': {
    request: { SAMLResponse: 'PHNhbWxwOlJlc3BvbnNlPkVYQU1QTEU8L3NhbWxwOlJlc3BvbnNlPg==', RelayState: 'EXAMPLE-relay-state' },
    response: '<!doctype html><html><body><p>Signed in. You can return to the application.</p></body></html>',
  },

  'POST /api/v3/certs/sign': csr,
  'POST /api/v3/certs/renew': csr,
  'GET /api/v3/certs': { response: list('/api/v3/certs', [{ type: 'certs', id: SERIAL, attributes: certStatus }]) },
  'GET /api/v3/certs/ca': { response: FAKE_PEM('CERTIFICATE') },
  'GET /api/v3/certs/{serialNum}': { response: certStatus },
  'POST /api/v3/certs/{serialNum}/revoke': { request: { reason: 'KeyCompromise' }, response: { ...certStatus, status: 'Revoked', reason: 'KeyCompromise' } },

  'GET /api/v3/applications': { response: list('/api/v3/applications', [application]) },
  'POST /api/v3/applications': {
    request: {
      data: {
        type: 'applications',
        attributes: {
          name: 'Acme portal',
          clientType: 'confidential',
          tokenEndpointAuthMethod: 'client_secret_basic',
          redirectUris: ['https://portal.acme.example.com/callback'],
          postLogoutRedirectUris: ['https://portal.acme.example.com/'],
          grantTypes: ['authorization_code', 'refresh_token'],
        },
      },
    },
    response: { data: { ...application, attributes: { ...application.attributes, clientSecret: FAKE_SECRET } } },
  },
  'GET /api/v3/applications/{id}': { response: { data: application } },
  'PATCH /api/v3/applications/{id}': {
    request: { data: { type: 'applications', id: APP_ID, attributes: { accessTokenLifetime: 900 } } },
    response: { data: application },
  },
  'POST /api/v3/applications/{id}/secret': {
    response: { data: { ...application, attributes: { ...application.attributes, secretRotatedAt: UPDATED, clientSecret: FAKE_SECRET } } },
  },
  'POST /api/v3/signing-keys/rotate': { response: { data: { active: ['EXAMPLE-key-1', 'EXAMPLE-key-3'] } } },

  'GET /.well-known/openid-configuration': { response: discovery },
  'GET /oidc/.well-known/openid-configuration': { response: discovery },
  'GET /oauth/v2/keys': { response: jwks },
  'GET /oidc/oauth2/jwks': { response: jwks },
  'POST /oauth/v2/token': { form: tokenRequest, response: tokenResponse },
  'POST /oidc/oauth2/token': { form: tokenRequest, response: tokenResponse },
  'POST /oauth/v2/par': { form: pushedRequest, response: pushedResponse },
  'POST /oidc/oauth2/par': { form: pushedRequest, response: pushedResponse },
  'POST /oauth/v2/device_authorization': { form: deviceRequest, response: deviceResponse },
  'POST /oidc/oauth2/device_authorization': { form: deviceRequest, response: deviceResponse },
  'POST /oauth/v2/introspect': { form: { token: FAKE_JWT, token_type_hint: 'access_token' }, response: introspection },
  'POST /oauth/v2/revoke': { form: { token: 'EXAMPLE-refresh-token-not-real', token_type_hint: 'refresh_token' } },
  'GET /oidc/v1/userinfo': { response: userinfo },
  'POST /oidc/v1/userinfo': { response: userinfo },
  'GET /oidc/userinfo': { response: userinfo },
  'POST /oidc/userinfo': { response: userinfo },
  'GET /oidc/v1/end_session': { response: '<!doctype html><html><body><p>You are signed out.</p></body></html>' },
  'POST /oidc/v1/end_session': { response: '<!doctype html><html><body><p>You are signed out.</p></body></html>' },

  'GET /scim/v2/Users': { response: scimList([scimUser]) },
  'POST /scim/v2/Users': { request: scimUserInput, response: scimUser },
  'POST /scim/v2/Users/.search': { request: scimSearch, response: scimList([scimUser]) },
  'GET /scim/v2/Users/{id}': { response: scimUser },
  'PUT /scim/v2/Users/{id}': { request: { ...scimUserInput, active: false }, response: { ...scimUser, active: false } },
  'PATCH /scim/v2/Users/{id}': {
    request: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] },
    response: { ...scimUser, active: false },
  },
  'GET /scim/v2/Groups': { response: scimList([scimGroup]) },
  'POST /scim/v2/Groups': { request: scimGroupInput, response: scimGroup },
  'POST /scim/v2/Groups/.search': { request: { ...scimSearch, filter: 'displayName eq "NOC operators"' }, response: scimList([scimGroup]) },
  'GET /scim/v2/Groups/{id}': { response: scimGroup },
  'PUT /scim/v2/Groups/{id}': { request: scimGroupInput, response: scimGroup },
  'PATCH /scim/v2/Groups/{id}': {
    request: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: USER_ID }] }] },
    response: { ...scimGroup, members: [...scimGroup.members, { value: USER_ID, display: 'jdoe', $ref: `${SCIM_BASE}/Users/${USER_ID}`, type: 'User' }] },
  },
  // The discovery answers are the service's own, rendered for an example base URL.
  'GET /scim/v2/ServiceProviderConfig': { response: serviceProviderConfig(SCIM_BASE) },
  'GET /scim/v2/ResourceTypes': { response: scimList(resourceTypes(SCIM_BASE)) },
  'GET /scim/v2/ResourceTypes/{id}': { response: resourceTypes(SCIM_BASE)[0] },
  'GET /scim/v2/Schemas': { response: scimList(scimSchemas(SCIM_BASE)) },
  'GET /scim/v2/Schemas/{id}': { response: scimSchemas(SCIM_BASE)[0] },

  // Written to S3 or a local file the answer is {}; asked for in the response, it is the document (ZITADEL's format).
  'POST /admin/v1/export': { request: { orgIds: [TENANT_ID], withPasswords: false, responseOutput: true, timeout: '5m' }, response: exportDocument },
  'POST /admin/v1/import': {
    request: { dataOrgsS3: s3, timeout: '30m' },
    response: { orgs: [{ orgId: TENANT_ID, name: 'Acme Networks', status: 'imported', created: 42, updated: 3, unchanged: 118, errors: [] }] },
  },

  'POST /api/v3/users/{id}/invitation': { response: { meta: { delivery: 'mailed' } } },
  'POST /api/v3/users/{id}/password-reset': { response: { meta: { delivery: 'mailed' } } },
  'GET /api/v3/users/{id}/sessions': {
    response: list(`/api/v3/users/${USER_ID}/sessions`, [
      {
        type: 'sessions',
        id: '0193a5f4-1a2b-7c3d-8e4f-5a6b7c8d9e0f',
        attributes: {
          createdAt: CREATED,
          lastSeenAt: '2026-11-30T11:42:00.000Z',
          expiresAt: '2026-11-30T21:15:27.412Z',
          amr: ['pwd', 'otp', 'mfa'],
          userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
          clientAddress: '198.51.100.23',
        },
      },
    ]),
  },
  'GET /api/v3/tenants/login-policy': { response: { data: loginPolicy } },
  'PUT /api/v3/tenants/login-policy': {
    request: { data: { type: 'loginPolicy', attributes: { forceMfa: true, secondFactors: ['SECOND_FACTOR_TYPE_OTP'], hidePasswordReset: false } } },
    response: { data: { ...loginPolicy, attributes: { ...loginPolicy.attributes, forceMfa: true } } },
  },
  'GET /api/v3/tenants/password-complexity-policy': {
    response: { data: { type: 'passwordComplexityPolicy', id: TENANT_ID, attributes: DEFAULT_PASSWORD_COMPLEXITY } },
  },
  'PUT /api/v3/tenants/password-complexity-policy': {
    request: { data: { type: 'passwordComplexityPolicy', attributes: { minLength: 14, hasSymbol: true } } },
    response: { data: { type: 'passwordComplexityPolicy', id: TENANT_ID, attributes: { ...DEFAULT_PASSWORD_COMPLEXITY, minLength: 14, hasSymbol: true } } },
  },
  'PUT /api/v3/tenants/logo': {
    response: {
      data: {
        type: 'tenantLogo',
        id: TENANT_ID,
        attributes: {
          contentType: 'image/png',
          size: 18342,
          etag: 'q1Xr0v3nB5cWm8EXAMPLE0',
          url: `/ui/assets/logo/${TENANT_ID}?v=q1Xr0v3nB5cWm8EXAMPLE0`,
          updatedAt: UPDATED,
        },
      },
    },
  },
  'GET /api/v3/audit-events': { response: list('/api/v3/audit-events', [auditEvent]) },
  'POST /api/v3/audit-events/search': {
    request: { data: { action: 'user.*', outcome: 'success', from: '2026-12-01T00:00:00Z', to: '2026-12-02T00:00:00Z' } },
    response: list('/api/v3/audit-events/search', [auditEvent], {
      action: 'user.*',
      outcome: 'success',
      from: '2026-12-01T00:00:00Z',
      to: '2026-12-02T00:00:00Z',
    }),
  },
};

// Error answers as each error format renders them (src/http/errors.ts, src/platform/errors.ts, the SCIM and OAuth handlers).
const JSON_API_ERRORS: Record<string, { code: string; title: string; detail: string; source?: Record<string, string> }> = {
  '400': {
    code: 'invalid_value',
    title: 'Invalid value',
    detail: 'Invalid input: expected string, received number',
    source: { pointer: '/data/attributes/name' },
  },
  '401': { code: 'unauthorized', title: 'Unauthorized', detail: 'A valid credential is required' },
  '403': { code: 'forbidden', title: 'Forbidden', detail: 'You are not allowed to perform this operation' },
  '404': { code: 'not_found', title: 'Not found', detail: 'Resource not found' },
  '409': { code: 'conflict', title: 'Conflict', detail: 'A resource with these values already exists' },
  '412': { code: 'precondition_failed', title: 'Precondition failed', detail: 'The resource has changed since it was read' },
  '413': { code: 'payload_too_large', title: 'Payload too large', detail: 'Request body is too large' },
  '415': { code: 'unsupported_media_type', title: 'Unsupported media type', detail: 'Unsupported Media Type: text/plain' },
  '422': { code: 'unprocessable', title: 'Unprocessable entity', detail: 'The request cannot be applied in the current state' },
  '429': { code: 'rate_limited', title: 'Too many requests', detail: 'Rate limit exceeded, retry in 1 minute' },
  '502': { code: 'bad_gateway', title: 'Bad gateway', detail: 'The storage endpoint refused the request' },
  '503': { code: 'unavailable', title: 'Service unavailable', detail: 'The database is unavailable; retry shortly' },
  '504': { code: 'timeout', title: 'Gateway timeout', detail: 'The operation did not finish within its timeout' },
};
const SCIM_ERRORS: Record<string, { scimType?: string; detail: string }> = {
  '400': { scimType: 'invalidFilter', detail: 'Unknown attribute in filter: nickName' },
  '401': { detail: 'A valid credential is required' },
  '403': { detail: 'You are not allowed to perform this operation' },
  '404': { detail: 'User not found' },
  '409': { scimType: 'uniqueness', detail: 'userName already taken' },
  '412': { detail: 'The resource has changed since it was read (If-Match)' },
};
const OAUTH_ERRORS: Record<string, { error: string; error_description: string }> = {
  '400': { error: 'invalid_grant', error_description: 'The authorization code is invalid or has expired' },
  '401': { error: 'invalid_client', error_description: 'Client authentication failed' },
  '403': { error: 'insufficient_scope', error_description: 'The openid scope is required' },
};
const TEXT_ERRORS: Record<string, string> = { '401': 'Unauthorized: no credential', '403': 'Forbidden: credential revoked' };

// What a 404 names, by the collection of the path (the services' notFound() wording).
const NOT_FOUND: Record<string, string> = {
  users: 'User',
  usergroups: 'Usergroup',
  roles: 'Role',
  serviceaccounts: 'Service account',
  tenants: 'Tenant',
  onboarding: 'Tenant',
  applications: 'Application',
  certs: 'Certificate',
  idps: 'Identity provider',
  saml: 'Identity provider',
  'audit-events': 'Tenant',
};

// What a 409 says, by collection: the value already taken and the field that holds it.
const CONFLICT: Record<string, { detail: string; source?: { pointer: string } }> = {
  users: { detail: 'The username "rsmith" is already taken', source: { pointer: '/data/attributes/username' } },
  usergroups: { detail: 'A user group named "NOC operators" already exists', source: { pointer: '/data/attributes/name' } },
  roles: { detail: 'A role named "NOC viewer" already exists', source: { pointer: '/data/attributes/name' } },
  serviceaccounts: { detail: 'Username "ServiceAccount1@pca" is already in use', source: { pointer: '/username' } },
  tenants: { detail: 'Subdomain "acme" is already in use', source: { pointer: '/data/attributes/subdomain' } },
  onboarding: { detail: 'Subdomain "acme" belongs to another tenant', source: { pointer: '/data/attributes/subdomain' } },
  applications: { detail: 'An application named "Acme portal" already exists', source: { pointer: '/data/attributes/name' } },
  certs: { detail: 'The certificate is already revoked' },
};

function errorExample(path: string, status: string, mediaType: string): unknown {
  if (mediaType === 'application/vnd.api+json') {
    const e = JSON_API_ERRORS[status];
    const collection = path.replace(/^\/(api\/v3\/)?/, '').split('/')[0]!;
    const what = status === '404' ? NOT_FOUND[collection] : undefined;
    const specific = status === '409' ? CONFLICT[collection] : what ? { detail: `${what} not found` } : undefined;
    return e && { errors: [{ status, ...e, ...specific }] };
  }
  if (mediaType === 'application/scim+json') {
    const e = SCIM_ERRORS[status];
    return e && { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status, ...e };
  }
  if (mediaType === 'application/json') return OAUTH_ERRORS[status];
  if (mediaType === 'text/plain') return TEXT_ERRORS[status];
  return undefined;
}

// Bodies whose example is text the document cannot show usefully (DER and other binary encodings).
const BINARY = /^application\/(pkix-cert|pkix-crl|ocsp-request|ocsp-response|pkcs10|octet-stream)$/;

const FORM = 'application/x-www-form-urlencoded';

interface MediaType {
  schema?: unknown;
  example?: unknown;
}
interface Operation {
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { content?: Record<string, MediaType> }>;
}

function place(content: Record<string, MediaType> | undefined, all: unknown, byType: Record<string, unknown> | undefined) {
  for (const [type, media] of Object.entries(content ?? {})) {
    const value = byType?.[type] ?? (BINARY.test(type) ? undefined : all);
    if (value !== undefined) media.example = value;
  }
}

/** The document with the examples of OPERATION_EXAMPLES and an example of every error answer it declares. */
export function withExamples<T extends { paths?: unknown }>(doc: T): T {
  const copy = structuredClone(doc);
  const paths = (copy.paths ?? {}) as Record<string, Record<string, Operation>>;
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      const ex = OPERATION_EXAMPLES[`${method.toUpperCase()} ${path}`];
      if (ex?.form && !op.requestBody) op.requestBody = { content: { [FORM]: { schema: { type: 'object', additionalProperties: { type: 'string' } } } } };
      if (ex) place(op.requestBody?.content, ex.request ?? ex.form, ex.requestByType);
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (/^2/.test(status)) {
          if (ex) place(response.content, ex.response, ex.responseByType);
        } else {
          for (const [type, media] of Object.entries(response.content ?? {})) {
            const value = errorExample(path, status, type);
            if (value !== undefined) media.example = value;
          }
        }
      }
    }
  }
  return copy;
}
