// The lossless round trip: a tenant populated through the API (SAML IdP with a linked
// user, applications, a service account with key, PAT and client certificates, custom
// roles, policies) is exported, imported into a second server on a fresh database,
// and exported again: the two documents are equal. Then the import's safe semantics:
// idempotency, dry run, conflict policies, atomicity and unknown shapes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { exportCommand, importCommand } from '../src/export/cli.js';
import { signingKeyAad } from '../src/oauth/keys.js';
import { unseal } from '../src/platform/sealed.js';
import { decryptKey } from '../src/pki/keys.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toUuid } from '../src/export/document.js';
import { buildExport } from '../src/export/service.js';
import { argon2Params } from '../src/platform/passwords.js';
import { unsealClientSecret } from '../src/oauth/applications.js';
import { beginTotpEnrolment, confirmTotpEnrolment, verifySecondFactor } from '../src/users/totp.js';
import { beginPasskeyRegistration, finishPasskeyRegistration } from '../src/users/passkeys.js';
import { DEFAULT_THROTTLE } from '../src/users/lockout.js';
import { totpCode } from './helpers/mfa.js';
import { SoftAuthenticator } from './helpers/webauthn.js';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, TEST_ENV, type TestApp } from './helpers/app.js';
import { signCsr } from './helpers/certs.js';
import { nodeCsr } from './helpers/csr.js';
import { createTestIdp } from './helpers/saml-idp.js';
import { startOidcIdp, type TestOidcIdp } from './helpers/oidc-idp.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const SA = '/api/v3/serviceaccounts';
// Both servers share a master key, as a restore onto the same deployment does: the SP key
// sealed under it (withKeys) opens on the target.
const masterKey = randomBytes(32);

let src: TestApp;
let dst: TestApp;
let tenantId: string;
let admin: string;
let linkedUserId: string;
let idpId: string;
let robotPat: string;
let oidcIdp: TestOidcIdp;
let oidcIdpId: string;
let signedAppId: string;
let signedSecret: string;
let aliceId: string;
let machine: any;
let totpSecret: string;
let recoveryCodes: string[];

const json = (t: TestApp, url: string, body: unknown, token = t.adminPat) =>
  t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
const exportOf = async (t: TestApp, extra: Record<string, unknown> = {}) => {
  const res = await json(t, '/admin/v1/export', { orgIds: [tenantId], withPasswords: true, withKeys: true, withOtp: true, ...extra });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};
const importInto = (t: TestApp, body: Record<string, unknown>) => json(t, '/admin/v1/import', body);

async function multipart(fields: Record<string, string | { file: string; name: string }>) {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string') fd.append(k, v);
    else fd.append(k, new Blob([v.file], { type: 'application/xml' }), v.name);
  }
  const req = new Request('http://x/', { method: 'POST', body: fd });
  return { payload: Buffer.from(await req.arrayBuffer()), headers: { 'content-type': req.headers.get('content-type')! } };
}

function ok(res: { statusCode: number; body: string }, status = 201) {
  expect(res.statusCode, res.body).toBe(status);
  return JSON.parse(res.body || '{}');
}

beforeAll(async () => {
  [src, dst] = await Promise.all([startTestApp({ OIDC_IDP_ALLOW_CIDRS: '127.0.0.1/32' }, { masterKey }), startTestApp({}, { masterKey })]);
  oidcIdp = await startOidcIdp([{ client_id: 'round', client_secret: 'round-secret-0123456789', redirect_uris: ['http://127.0.0.1:9/cb'] }], {});
  const t = src;
  tenantId = await createTenant(t, 'Round Trip', 'round');
  ok(
    await call(t.app, t.adminPat, 'PATCH', `/api/v3/tenants/${tenantId}`, {
      data: {
        attributes: {
          branding: { primaryColor: '#123456', tosLink: 'https://round.test/tos', termsText: 'Be nice' },
          termsRequired: true,
          passwordPolicy: { minLength: 14, requireSymbol: true },
          lockoutPolicy: { maxAttempts: 4 },
        },
      },
    }),
    200,
  );
  admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'], { username: 'round-admin' })).pat;

  const idp = await createTestIdp('https://idp-round.test/metadata');
  const body = await multipart({ name: 'Corp IdP', isDefault: 'true', metadataXmlFile: { file: idp.metadata, name: 'idp.xml' } });
  const created = await t.app.inject({
    method: 'POST',
    url: '/api/v3/idps/saml',
    payload: body.payload,
    headers: { ...body.headers, authorization: `Bearer ${admin}` },
  });
  idpId = ok(created, 200).id;

  const scim = (b: unknown) =>
    t.app.inject({
      method: 'POST',
      url: '/scim/v2/Users',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/scim+json' },
      payload: JSON.stringify(b),
    });
  const alice = ok(
    await scim({ schemas: [USER], userName: 'alice@round.test', name: { givenName: 'Alice', familyName: 'R' }, password: 'Round-trip-Pass-1!' }),
  );
  aliceId = alice.id;
  // Alice's second factors, enrolled as the account pages do: TOTP with its recovery codes, and a passkey.
  const mfaDeps = { prisma: t.db.prisma, masterKey, throttle: DEFAULT_THROTTLE };
  totpSecret = (await beginTotpEnrolment(mfaDeps, tenantId, alice.id))!.secret;
  const confirmed = await confirmTotpEnrolment(mfaDeps, { tenantId, userId: alice.id, code: totpCode(totpSecret) });
  expect(confirmed.ok).toBe(true);
  recoveryCodes = (confirmed as { recoveryCodes: string[] }).recoveryCodes;
  const origin = 'https://round.test';
  const rp = { id: 'round.test', name: 'Round', origins: [origin] };
  const ceremony = await beginPasskeyRegistration(mfaDeps, rp, tenantId, alice.id);
  const response = JSON.stringify(new SoftAuthenticator(origin).register(ceremony.options as never));
  const added = await finishPasskeyRegistration(mfaDeps, rp, { tenantId, userId: alice.id, handle: ceremony.handle, response, name: 'Laptop' });
  expect(added.ok).toBe(true);
  linkedUserId = ok(await scim({ schemas: [USER], userName: 'sam@round.test', name: { givenName: 'Sam', familyName: 'L' }, externalId: 'ext-9' })).id;
  ok(await call(t.app, admin, 'PUT', `/api/v3/users/${linkedUserId}/idps`, { data: { ids: [idpId] } }), 200);
  // An OIDC IdP with routing and just-in-time settings, and a user linked to it whose subject is known.
  oidcIdpId = ok(
    await t.app.inject({
      method: 'POST',
      url: '/api/v3/idps/oidc',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      payload: JSON.stringify({
        name: 'Corp OIDC',
        issuer: oidcIdp.issuer,
        clientId: 'round',
        clientSecret: 'round-secret-0123456789',
        domains: ['oidc.round.test'],
        jitProvisioning: true,
        jitRoles: ['tenant-user'],
        autoLinkByEmail: true,
      }),
    }),
    200,
  ).id;
  const oidcUser = ok(await scim({ schemas: [USER], userName: 'olga@oidc.round.test', name: { givenName: 'Olga', familyName: 'O' } })).id;
  ok(await call(t.app, admin, 'PUT', `/api/v3/users/${oidcUser}/idps`, { data: { ids: [oidcIdpId] } }), 200);
  await t.db.prisma.user.update({ where: { id: oidcUser }, data: { idpSubject: 'olga-subject' } });
  // A user who skipped the offer of a second factor (mfaInitSkipLifetime): the skip travels too.
  await t.db.prisma.user.update({ where: { id: linkedUserId }, data: { mfaInitSkippedAt: new Date('2026-11-30T10:00:00.000Z') } });

  ok(
    await call(t.app, admin, 'POST', '/api/v3/roles', {
      data: { type: 'roles', attributes: { name: 'auditor', description: 'Reads', featureRoles: ['dashboards-view'] } },
    }),
  );
  ok(await call(t.app, admin, 'POST', `/api/v3/users/${alice.id}/roles`, { data: [{ type: 'roles', id: 'auditor' }] }), 200);

  const robot = ok(
    await json(t, `${SA}?withPAT=true`, { name: 'Robot', username: 'robot', accessTokenType: 'Jwt', expirationDate: '2099-01-01T00:00:00Z' }, admin),
  );
  robotPat = robot.pat;
  ok(await json(t, `${SA}/${robot.machineUserId}/keys`, { expirationDate: '2099-01-01T00:00:00Z', keyType: 'EC' }, admin));
  machine = ok(
    await call(t.app, admin, 'POST', '/api/v3/applications', {
      data: { attributes: { name: 'Machine', clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId: robot.machineUserId } },
    }),
  );
  ok(
    await call(t.app, admin, 'POST', '/api/v3/applications', {
      data: { attributes: { name: 'SPA', clientType: 'public', redirectUris: ['https://spa.round.test/cb'] } },
    }),
  );

  // A client_secret_jwt client (its secret sealed, not only hashed) whose keys are fetched from a jwksUri.
  const signed = ok(
    await call(t.app, admin, 'POST', '/api/v3/applications', {
      data: {
        attributes: {
          name: 'Signed',
          clientType: 'confidential',
          tokenEndpointAuthMethod: 'client_secret_jwt',
          redirectUris: ['https://signed.round.test/cb'],
          jwksUri: 'https://keys.round.test/jwks',
          requireSignedRequestObject: true,
          requirePushedAuthorizationRequests: true,
        },
      },
    }),
  );
  signedAppId = signed.data.id;
  signedSecret = signed.data.attributes.clientSecret;
  expect(signedSecret).toBeTruthy();

  // Two client certificates of the robot, one of them revoked.
  for (const cn of ['dev-1', 'dev-2']) {
    const res = await signCsr(t, robotPat, 'format=pem', nodeCsr(cn), 'application/pkcs10');
    expect(res.statusCode, res.body).toBe(200);
  }
  const serials = (await t.db.prisma.clientCertificate.findMany({ where: { tenantId } })).map((c) => c.serial.toString());
  expect(serials).toHaveLength(2);
  ok(await call(t.app, admin, 'POST', `/api/v3/certs/${serials[0]}/revoke`, { reason: 'KeyCompromise' }, { 'content-type': 'application/json' }), 200);
}, 120_000);
afterAll(async () => {
  await oidcIdp?.close();
  await src?.close();
  await dst?.close();
});

describe('round trip into a fresh server', () => {
  let first: any;

  it('exports every entity, imports it unchanged elsewhere, and exports the same document again', async () => {
    first = await exportOf(src);
    const [org] = first.orgs;
    // What the document must carry for the round trip to prove anything.
    expect(org.pca.samlIdps).toHaveLength(1);
    expect(org.pca.samlIdps[0].spPrivateKeySealed).toBeTruthy();
    expect(org.userLinks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ userId: linkedUserId, idpId, idpName: 'Corp IdP' }),
        expect.objectContaining({ idpId: oidcIdpId, idpName: 'Corp OIDC', providedUserId: 'olga-subject', idpType: 'IDP_TYPE_OIDC' }),
      ]),
    );
    expect(org.oidcIdps).toEqual([
      { idpId: oidcIdpId, idp: expect.objectContaining({ name: expect.any(String), issuer: oidcIdp.issuer, clientId: 'round', autoRegister: true }) },
    ]);
    expect(JSON.stringify(org)).not.toContain('round-secret');
    expect(org.pca.oidcIdps).toEqual([
      expect.objectContaining({ idpId: oidcIdpId, domains: ['oidc.round.test'], jitRoles: ['tenant-user'], autoLinkByEmail: true }),
    ]);
    expect(org.pca.oidcIdps[0].clientSecretSealed).toBeTruthy();
    expect(org.pca.applications.map((a: any) => a.name).sort()).toEqual(['AnalyticsUI', 'Machine', 'SPA', 'Signed']);
    expect(org.pca.applications.find((a: any) => a.name === 'Signed')).toMatchObject({
      appId: signedAppId,
      tokenEndpointAuthMethod: 'client_secret_jwt',
      jwksUri: 'https://keys.round.test/jwks',
      requireSignedRequestObject: true,
      requirePushedAuthorizationRequests: true,
      clientSecretSealed: expect.any(String),
    });
    expect(JSON.stringify(org)).not.toContain(signedSecret);
    expect(org.pca.mfa).toEqual([
      {
        userId: aliceId,
        totp: { secretSealed: expect.any(String), confirmedAt: expect.any(String), lastUsedStep: expect.any(Number), createdAt: expect.any(String) },
        recoveryCodes: expect.any(Array),
        passkeys: [expect.objectContaining({ name: 'Laptop', credentialId: expect.any(String), publicKey: expect.any(String), counter: '0' })],
      },
    ]);
    expect(org.pca.mfa[0].recoveryCodes).toHaveLength(10);
    expect(JSON.stringify(org)).not.toContain(totpSecret);
    expect(org.pca.applications.find((a: any) => a.name === 'Machine').clientSecretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(org.apiApps.map((a: any) => a.app.name)).toEqual(['Machine']);
    expect(org.oidcApps.map((a: any) => a.app.name).sort()).toEqual(['AnalyticsUI', 'SPA', 'Signed']);
    expect(org.machineKeys).toHaveLength(1);
    expect(org.pca.pats.length).toBeGreaterThanOrEqual(2);
    expect(org.pca.certificates.map((c: any) => c.status).sort()).toEqual(['good', 'revoked']);
    expect(org.privacyPolicy).toEqual({ tosLink: 'https://round.test/tos' });
    expect(org.userMetadata).toContainEqual({
      id: linkedUserId,
      key: 'pca:mfaInitSkippedAt',
      value: Buffer.from('2026-11-30T10:00:00.000Z').toString('base64'),
    });
    expect(org.pca.customRoles.map((r: any) => r.name)).toEqual(['auditor']);

    const res = await importInto(dst, { orgs: first.orgs });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().orgs).toEqual([expect.objectContaining({ orgId: tenantId, status: 'imported', errors: [] })]);

    const second = await exportOf(dst);
    // Nothing is excluded: the document names no timestamp of the import itself.
    expect(second).toEqual(first);

    // The credentials work on the target: the PAT hash is the PAT.
    const self = await call(dst.app, robotPat, 'GET', `${SA}/self`);
    expect(self.statusCode, self.body).toBe(200);
    expect((await dst.db.prisma.user.findUniqueOrThrow({ where: { id: linkedUserId } })).idpId).toBe(idpId);
    // The client_secret_jwt client's secret opens on the target: it can check the client's HMAC.
    const signedApp = await dst.db.prisma.application.findUniqueOrThrow({ where: { id: signedAppId } });
    expect(unsealClientSecret(masterKey, signedApp)).toBe(signedSecret);
  }, 120_000);

  it('carries second factors only withOtp', async () => {
    const doc = await exportOf(src, { withOtp: false });
    expect(doc.orgs[0].pca).not.toHaveProperty('mfa');
  });

  it('carries sealed client secrets only withKeys', async () => {
    const doc = await exportOf(src, { withKeys: false });
    const signed = doc.orgs[0].pca.applications.find((a: any) => a.appId === signedAppId);
    expect(signed).toMatchObject({ jwksUri: 'https://keys.round.test/jwks', requireSignedRequestObject: true });
    expect(signed).not.toHaveProperty('clientSecretSealed');
    expect(JSON.stringify(doc)).not.toMatch(/"(clientSecretSealed|spPrivateKeySealed)"/);
  });

  it('holds a jwksUri to the API rules: https, not to a private address', async () => {
    for (const [uri, message] of <[string, string][]>[
      ['https://127.0.0.1/jwks', 'jwksUri is refused'],
      ['http://keys.round.test/jwks', 'must be an https URL'],
      ['ftp://keys.round.test/jwks', 'jwksUri'],
    ]) {
      const doc = structuredClone(first);
      const app = doc.orgs[0].pca.applications.find((a: any) => a.appId === signedAppId);
      app.jwksUri = uri;
      const before = await snapshot(dst.db);
      const res = await importInto(dst, { orgs: doc.orgs, dryRun: true });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().orgs[0].errors).toEqual([{ type: 'application', id: signedAppId, field: 'jwksUri', message: expect.stringContaining(message) }]);
      expect(await snapshot(dst.db)).toEqual(before);
    }
  });

  it('refuses a sealed client secret that is not the one its hash stands for', async () => {
    const doc = structuredClone(first);
    const app = doc.orgs[0].pca.applications.find((a: any) => a.appId === signedAppId);
    app.clientSecretHash = 'f'.repeat(64);
    const before = await snapshot(dst.db);
    const res = await importInto(dst, { orgs: doc.orgs, dryRun: true });
    expect(res.json().orgs[0].errors).toEqual([
      { type: 'application', id: signedAppId, field: 'clientSecretSealed', message: expect.stringContaining('not the one clientSecretHash stands for') },
    ]);
    expect(await snapshot(dst.db)).toEqual(before);
  });

  it('a second import reports unchanged and changes nothing', async () => {
    const before = await snapshot(dst.db);
    const res = await importInto(dst, { orgs: first.orgs });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().orgs).toEqual([expect.objectContaining({ status: 'unchanged', created: 0, updated: 0, errors: [] })]);
    expect(await snapshot(dst.db)).toEqual(before);
  });

  it('dryRun reports what would change and writes nothing', async () => {
    const doc = structuredClone(first);
    doc.orgs[0].org.name = 'Renamed';
    doc.orgs[0].pca.applications.find((a: any) => a.name === 'SPA').redirectUris = ['https://spa2.round.test/cb'];
    const before = await snapshot(dst.db);
    const res = await importInto(dst, { orgs: doc.orgs, dryRun: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ dryRun: true, orgs: [expect.objectContaining({ status: 'imported', created: 0, updated: 2, errors: [] })] });
    expect(await snapshot(dst.db)).toEqual(before);
  });

  it('onConflict: skip leaves existing rows, fail rolls the org back, overwrite takes the document', async () => {
    const doc = structuredClone(first);
    doc.orgs[0].org.name = 'Renamed';
    const before = await snapshot(dst.db);

    const skip = await importInto(dst, { orgs: doc.orgs, onConflict: 'skip' });
    expect(skip.statusCode, skip.body).toBe(200);
    expect(skip.json().orgs[0]).toMatchObject({
      status: 'unchanged',
      errors: [{ type: 'org', id: tenantId, message: expect.stringContaining('left as it is') }],
    });
    expect(await snapshot(dst.db)).toEqual(before);

    const fail = await importInto(dst, { orgs: doc.orgs, onConflict: 'fail' });
    expect(fail.statusCode, fail.body).toBe(207);
    expect(fail.json().orgs[0]).toMatchObject({ status: 'failed', errors: [{ type: 'org', message: expect.stringContaining('onConflict: fail') }] });
    expect(await snapshot(dst.db)).toEqual(before);

    const overwrite = await importInto(dst, { orgs: doc.orgs, onConflict: 'overwrite' });
    expect(overwrite.statusCode, overwrite.body).toBe(200);
    expect(overwrite.json().orgs[0]).toMatchObject({ status: 'imported', updated: 1 });
    expect((await dst.db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } })).name).toBe('Renamed');
  });

  it('is atomic per org: a failure late in the org leaves none of it behind', async () => {
    const doc = structuredClone(first);
    const org = doc.orgs[0];
    org.orgId = toUuid('atomic-org', 'test');
    org.org.name = 'Atomic';
    org.pca.identity = null;
    // Its users get new ids and are written first; its service accounts keep ids that belong
    // to the first tenant, which the fail policy turns into a failure of the whole org.
    const reid = (x: any, key: string) => (x[key] = toUuid(String(x[key]), 'atomic'));
    for (const u of org.humanUsers) reid(u, 'userId');
    const before = await snapshot(dst.db);
    const res = await importInto(dst, { orgs: [org], onConflict: 'fail' });
    expect(res.statusCode, res.body).toBe(207);
    expect(res.json().orgs[0]).toMatchObject({ status: 'failed', created: 0 });
    expect(res.body).not.toMatch(/prisma|\.ts\b|node_modules/i);
    expect(await snapshot(dst.db)).toEqual(before);
  });

  it('checks the redirect URIs of managed applications too', async () => {
    const doc = structuredClone(first);
    const ui = doc.orgs[0].pca.applications.find((a: any) => a.name === 'AnalyticsUI');
    ui.redirectUris = ['javascript:alert(1)'];
    const before = await snapshot(dst.db);
    const res = await importInto(dst, { orgs: doc.orgs, dryRun: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().orgs[0].errors).toEqual([
      { type: 'application', id: ui.appId, field: 'redirectUris.0', message: expect.stringContaining('absolute http(s) URI') },
    ]);
    expect(await snapshot(dst.db)).toEqual(before);
  });

  it('holds a SAML IdP to its metadata, as the API reads it: a column that says otherwise is refused', async () => {
    const doc = structuredClone(first);
    const idp = doc.orgs[0].pca.samlIdps[0];
    idp.entityId = 'https://attacker.example/idp';
    const before = await snapshot(dst.db);
    const res = await importInto(dst, { orgs: doc.orgs, dryRun: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().orgs[0].errors).toContainEqual({
      type: 'samlIdp',
      id: idp.idpId,
      field: 'entityId',
      message: 'entityId differs from the one its metadataXml states',
    });
    expect(await snapshot(dst.db)).toEqual(before);
  });

  it('refuses a document of unknown shape with 400', async () => {
    const before = await snapshot(dst.db);
    for (const body of [{ foo: 1 }, { dataOrgs: { foo: 1 } }, { orgs: 'x' }]) {
      const res = await importInto(dst, body);
      expect(res.statusCode, res.body).toBe(400);
    }
    expect(await snapshot(dst.db)).toEqual(before);
  });

  it("brings the users' second factors: they work on the target", async () => {
    // A recovery code, and TOTP at a later step than the last one used at the source.
    const dstDeps = { prisma: dst.db.prisma, masterKey, throttle: DEFAULT_THROTTLE };
    expect(await verifySecondFactor(dstDeps, { tenantId, userId: aliceId, code: recoveryCodes[0]! })).toMatchObject({ ok: true, method: 'recovery_code' });
    expect(await verifySecondFactor(dstDeps, { tenantId, userId: aliceId, code: totpCode(totpSecret, 1), now: Date.now() + 30_000 })).toMatchObject({
      ok: true,
      method: 'otp',
    });
  });
});

describe('a user linked to a SAML IdP', () => {
  it('round-trips into a server with another master key: the link holds, the IdP gets a new SP key', async () => {
    const other = await startTestApp();
    try {
      const doc = await exportOf(src);
      const res = await importInto(other, { orgs: doc.orgs });
      expect(res.statusCode, res.body).toBe(200);
      const [org] = res.json().orgs;
      expect(org.status).toBe('imported');
      expect(org.errors).toEqual([
        { type: 'oidcIdp', id: oidcIdpId, field: 'clientSecret', message: expect.stringContaining('no client secret this server can open') },
        { type: 'samlIdp', id: idpId, field: 'spPrivateKeySealed', message: expect.stringContaining('new SP key pair') },
        { type: 'application', id: signedAppId, field: 'clientSecretSealed', message: expect.stringContaining("does not open with this server's master key") },
        { type: 'mfa', id: aliceId, field: 'totp.secretSealed', message: expect.stringContaining("does not open with this server's master key") },
      ]);
      // The OIDC IdP came without its secret: nobody is sent there until an admin sets one.
      expect((await other.db.prisma.identityProvider.findUniqueOrThrow({ where: { id: oidcIdpId } })).clientSecretEnc).toBeNull();
      // Nothing of the client whose secret does not open is written.
      expect(await other.db.prisma.application.findUnique({ where: { id: signedAppId } })).toBeNull();
      // Alice's TOTP and its recovery codes (keyed by the other master key) stay behind; her passkey, a public key, comes along.
      const where = { tenantId, userId: aliceId };
      expect(await other.db.prisma.userTotp.count({ where })).toBe(0);
      expect(await other.db.prisma.recoveryCode.count({ where })).toBe(0);
      expect(await other.db.prisma.passkey.count({ where })).toBe(1);
      const user = await other.db.prisma.user.findUniqueOrThrow({ where: { id: linkedUserId } });
      expect(user.idpId).toBe(idpId);
      const again = (await exportOf(other)).orgs[0];
      expect(again.userLinks).toEqual(doc.orgs[0].userLinks);
      expect(again.pca.samlIdps[0].spCertificate).not.toBe(doc.orgs[0].pca.samlIdps[0].spCertificate);
      // The new SP key is one this server opens: its SP metadata is served.
      expect((await other.app.inject({ method: 'GET', url: `/saml/${idpId}/metadata` })).statusCode).toBe(200);
    } finally {
      await other.close();
    }
  }, 120_000);
});

describe('a tenant read in pages', () => {
  it('gives the same document whatever the page size: the user-scaled sections are streamed page by page', async () => {
    // A group holding every user, with a role: its members are streamed too.
    const users = (await src.db.prisma.user.findMany({ where: { tenantId }, select: { id: true } })).map((u) => u.id);
    expect(users.length).toBeGreaterThanOrEqual(3);
    const group = ok(
      await call(src.app, admin, 'POST', '/api/v3/usergroups', { data: { type: 'usergroups', attributes: { name: 'Everyone', roles: ['auditor'] } } }),
    );
    const added = ok(
      await call(src.app, admin, 'POST', `/api/v3/usergroups/${group.data.id}/users`, { data: users.map((id) => ({ type: 'users', id })) }),
      200,
    );
    expect(added.errors ?? []).toEqual([]);
    const ctx = {
      prisma: src.db.prisma,
      actor: 'system' as const,
      dataDir: src.config.DATA_DIR,
      baseDomain: src.config.BASE_DOMAIN,
      argon: argon2Params(src.config),
    };
    const req = { orgIds: [tenantId], withPasswords: true, withKeys: true, withOtp: true };
    const whole = await buildExport(ctx, req);
    const [org] = whole.orgs;
    expect(org!.pca!.groups.find((g) => g.name === 'Everyone')!.members).toEqual([...users].sort());
    expect(org!.userGrants.length).toBeGreaterThanOrEqual(2);
    expect(org!.userMetadata.length).toBeGreaterThan(users.length);
    // Pages of one and two rows cross every page boundary of every streamed section.
    expect(await buildExport(ctx, req, 1)).toEqual(whole);
    expect(await buildExport(ctx, req, 2)).toEqual(whole);
    // The API answers the same document.
    expect(await exportOf(src)).toEqual(whole);
  }, 60_000);
});

describe('token signing keys (withSigningKeys)', () => {
  it('move sealed for the target only: tokens the source issued verify against the target JWKS; a document sealed for another key is refused', async () => {
    const otherKey = randomBytes(32);
    const other = await startTestApp({}, { masterKey: otherKey });
    try {
      const { clientId, clientSecret } = machine.data.attributes;
      const issued = await src.app.inject({
        method: 'POST',
        url: '/oauth/v2/token',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: 'grant_type=client_credentials',
      });
      expect(issued.statusCode, issued.body).toBe(200);
      const token = issued.json().access_token as string;
      const verifiesOn = async (t: TestApp) => {
        const jwks = createLocalJWKSet((await t.app.inject({ method: 'GET', url: '/oauth/v2/keys' })).json());
        return jwtVerify(token, jwks).then(
          () => true,
          () => false,
        );
      };
      expect(await verifiesOn(src)).toBe(true);
      expect(await verifiesOn(other)).toBe(false);
      // A client certificate the source's CA issued (and the org's export carries).
      const good = await src.db.prisma.clientCertificate.findFirstOrThrow({ where: { tenantId, status: 'good' } });
      const certHeader = Buffer.from(good.der).toString('base64');
      expect(await src.app.pki.verifyClientCert(certHeader)).toMatchObject({ ok: true });
      expect(await other.app.pki.verifyClientCert(certHeader)).toMatchObject({ ok: false });

      expect(await exportOf(src)).not.toHaveProperty('pcaInstance');
      const missing = await json(src, '/admin/v1/export', { orgIds: [tenantId], withSigningKeys: true });
      expect(missing.statusCode, missing.body).toBe(400);
      expect((await json(src, '/admin/v1/export', { withSigningKeys: true, sealFor: randomBytes(16).toString('base64') })).statusCode).toBe(400);

      const doc = await exportOf(src, { withSigningKeys: true, sealFor: otherKey.toString('base64') });
      const keys = doc.pcaInstance.signingKeys;
      expect(keys.length).toBeGreaterThanOrEqual(2);
      expect(doc.pcaInstance.authority).toMatchObject({ id: good.issuerId, keySealed: expect.any(String) });
      expect(JSON.stringify(doc)).not.toContain('PRIVATE KEY');

      // Sealed for another deployment: every key is reported by kid and nothing is written.
      const before = await snapshot(dst.db);
      const refused = await importInto(dst, { orgs: [], pcaInstance: doc.pcaInstance });
      expect(refused.statusCode, refused.body).toBe(200);
      expect(refused.json().instance).toEqual({
        status: 'unchanged',
        created: 0,
        unchanged: 0,
        errors: [
          ...keys.map((k: any) => ({
            type: 'signingKey',
            id: k.kid,
            field: 'privateKeySealed',
            message: expect.stringContaining("does not open with this server's master key"),
          })),
          { type: 'authority', id: good.issuerId, field: 'keySealed', message: expect.stringContaining("does not open with this server's master key") },
        ],
      });
      expect(await snapshot(dst.db)).toEqual(before);

      const res = await importInto(other, { orgs: doc.orgs, pcaInstance: doc.pcaInstance });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().instance).toEqual({ status: 'imported', created: keys.length + 1, unchanged: 0, errors: [] });
      expect(await verifiesOn(other)).toBe(true);
      // The source's CA is the target's issuing CA now (the target's own had issued nothing): its certificates are accepted.
      expect(await other.app.pki.verifyClientCert(certHeader)).toMatchObject({ ok: true, principal: expect.objectContaining({ tenantId }) });
      expect(await other.app.pki.caPem()).toBe(await src.app.pki.caPem());
      // The target keeps signing with its own keys: the imported ones are only published.
      const installed = await other.db.prisma.signingKey.findMany({ where: { kid: { in: keys.map((k: any) => k.kid) } } });
      expect(installed.map((k) => k.state)).toEqual(keys.map(() => 'retired'));
      expect(installed.every((k) => k.publishUntil && k.publishUntil.getTime() <= Date.now() + 86_700_000)).toBe(true);

      const again = await importInto(other, { orgs: [], pcaInstance: doc.pcaInstance });
      expect(again.json().instance).toEqual({ status: 'unchanged', created: 0, unchanged: keys.length + 1, errors: [] });

      // A CA that has issued certificates stays: the source keeps its own when offered another one.
      await dst.app.pki.ready();
      const foreign = await exportOf(dst, { withSigningKeys: true, sealFor: masterKey.toString('base64') });
      expect(foreign.pcaInstance.authority.id).not.toBe(good.issuerId);
      const kept = await importInto(src, { orgs: [], pcaInstance: foreign.pcaInstance, dryRun: true, onConflict: 'overwrite' });
      expect(kept.json().instance.errors).toEqual([
        { type: 'authority', id: foreign.pcaInstance.authority.id, message: expect.stringContaining('has issued certificates') },
      ]);

      // The CLI: import the section into a deployment whose DATA_DIR/master.key is the target key,
      // then export it from there sealed for a third key given as a file (--seal-for).
      const dir = mkdtempSync(path.join(tmpdir(), 'signing-keys-'));
      const env = { ...TEST_ENV, DATA_DIR: dir };
      writeFileSync(path.join(dir, 'master.key'), otherKey.toString('hex') + '\n', { mode: 0o600 });
      const input = path.join(dir, 'in.json');
      writeFileSync(input, JSON.stringify({ pcaInstance: doc.pcaInstance, orgs: [] }));
      const out = sink();
      expect(await importCommand(['--in', input], env, { stdout: out.stream, stderr: sink().stream })).toBe(0);
      expect(JSON.parse(out.text).instance).toEqual({ status: 'imported', created: keys.length + 1, unchanged: 0, errors: [] });
      const third = randomBytes(32);
      const keyFile = path.join(dir, 'target.key');
      writeFileSync(keyFile, third.toString('base64'));
      const usage = sink();
      expect(await exportCommand(['--out', path.join(dir, 'x.json'), '--with-signing-keys'], env, { stdout: sink().stream, stderr: usage.stream })).toBe(2);
      expect(usage.text).toContain('--seal-for');
      const exported = path.join(dir, 'out.json');
      expect(
        await exportCommand(['--out', exported, '--with-signing-keys', '--seal-for', keyFile], env, { stdout: sink().stream, stderr: sink().stream }),
      ).toBe(0);
      const instance = JSON.parse(readFileSync(exported, 'utf8')).pcaInstance;
      expect(instance.authority.id).toBe(good.issuerId);
      expect(decryptKey(third, Buffer.from(instance.authority.keySealed, 'base64')).type).toBe('private');
      const resealed = instance.signingKeys;
      expect(resealed.map((k: any) => k.kid).sort()).toEqual(keys.map((k: any) => k.kid).sort());
      for (const k of resealed) expect(unseal(third, k.privateKeySealed, signingKeyAad(k.kid))?.toString()).toContain('PRIVATE KEY');
    } finally {
      await other.close();
    }
  }, 120_000);
});

/** A stream that keeps what is written to it. */
function sink() {
  let text = '';
  const stream = new Writable({
    write(c: Buffer, _e: string, cb: () => void) {
      text += c.toString();
      cb();
    },
  });
  return {
    stream,
    get text() {
      return text;
    },
  };
}
