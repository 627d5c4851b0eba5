// ZITADEL-compatible export and import: round trip into an empty database, a
// ZITADEL-shaped document, outputs (response, DATA_DIR file, S3), idempotency,
// per-item errors, authorisation, and the CLI commands.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../src/platform/passwords.js';
import { buildExport } from '../src/export/service.js';
import { importDocument } from '../src/export/import.js';
import { exportCommand, importCommand } from '../src/export/cli.js';
import { parseDuration } from '../src/export/outputs.js';
import { toUuid } from '../src/export/document.js';
import type { Database } from '../src/platform/db.js';
import { loadConfig } from '../src/platform/config.js';
import { freshDatabase } from './helpers/db.js';
import { createTenant, seedServiceAccountPat, snapshot, startTestApp, TEST_ENV, type TestApp } from './helpers/app.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const argon = { memoryCost: 8192, timeCost: 1, parallelism: 1 };

let t: TestApp;
let dataDir: string;
let tenantA: string;
let tenantB: string;
let adminA: string;

const post = (url: string, body: unknown, token = t.adminPat) =>
  t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
const scim = (token: string, url: string, body: unknown) =>
  t.app.inject({
    method: 'POST',
    url: `/scim/v2${url}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    payload: JSON.stringify(body),
  });

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'export-test-'));
  // The local s3rver listens on loopback, which the SSRF guard refuses unless allowed.
  t = await startTestApp({ DATA_DIR: dataDir, EXPORT_S3_ALLOW_CIDRS: '127.0.0.1/32' });
  tenantA = await createTenant(t, 'Acme', 'acme');
  tenantB = await createTenant(t, 'Beta');
  adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'], { username: 'scim-bot' })).pat;
  const p = t.db.prisma;
  await p.tenant.update({
    where: { id: tenantA },
    data: { branding: { primaryColor: '#112233', logoUrl: 'https://acme.test/logo.png' }, pwMinLength: 14, lockoutMaxAttempts: 5, termsRequired: true },
  });
  // Users through SCIM (one with a password), a group, a custom role and grants.
  const alice = (
    await scim(adminA, '/Users', {
      schemas: [USER],
      userName: 'alice@acme.test',
      name: { givenName: 'Alice', familyName: 'A' },
      password: 'Sup3r-secret-pass',
      externalId: 'okta-1',
    })
  ).json();
  const bob = (await scim(adminA, '/Users', { schemas: [USER], userName: 'bob', emails: [{ value: 'bob@acme.test' }], active: false })).json();
  const group = (
    await scim(adminA, '/Groups', { schemas: [GROUP], displayName: 'Engineers', externalId: 'grp-1', members: [{ value: alice.id }, { value: bob.id }] })
  ).json();
  const role = await p.customRole.create({
    data: { tenantId: tenantA, name: 'auditor', description: 'Reads audit logs', featureRoles: ['audit-view', 'data-export'] },
  });
  await p.roleAssignment.createMany({
    data: [
      { tenantId: tenantA, userId: alice.id, roleName: 'tenant-admin' },
      { tenantId: tenantA, userId: bob.id, roleName: role.name },
      { tenantId: tenantA, groupId: group.id, roleName: 'tenant-user' },
    ],
  });
  await seedServiceAccountPat(t, tenantB, ['tenant-user'], { username: 'beta-robot' });
  await p.serviceAccount.updateMany({
    where: { tenantId: tenantB },
    data: { accessTokenType: 'Jwt', description: 'CI', expirationDate: new Date('2030-01-01T00:00:00Z') },
  });
}, 60_000);
afterAll(async () => t?.close());

async function exportAll(extra: Record<string, unknown> = {}) {
  const res = await post('/admin/v1/export', { responseOutput: true, ...extra });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

describe('export', () => {
  it('is for skylight-admin only', async () => {
    const before = await snapshot(t.db);
    expect((await t.app.inject({ method: 'POST', url: '/admin/v1/export', payload: {} })).statusCode).toBe(401);
    expect((await post('/admin/v1/export', {}, adminA)).statusCode).toBe(403);
    expect((await post('/admin/v1/import', { orgs: [] }, adminA)).statusCode).toBe(403);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('produces the ZITADEL shape, without password hashes unless asked', async () => {
    const doc = await exportAll({ orgIds: [tenantA] });
    expect(doc.orgs).toHaveLength(1);
    const org = doc.orgs[0];
    expect(org.orgId).toBe(tenantA);
    expect(org.org).toEqual({ name: 'Acme' });
    expect(org.passwordComplexityPolicy).toEqual({ minLength: 14, hasUppercase: true, hasLowercase: true, hasNumber: true, hasSymbol: false });
    expect(org.lockoutPolicy).toEqual({ maxPasswordAttempts: 5 });
    expect(org.labelPolicy).toEqual({ primaryColor: '#112233' });
    expect(org.domains).toEqual([
      { orgId: tenantA, domainName: 'acme.iam.test', isVerified: true, isPrimary: true, validationType: 'DOMAIN_VALIDATION_TYPE_UNSPECIFIED' },
    ]);
    const alice = org.humanUsers.find((u: any) => u.user.userName === 'alice@acme.test');
    expect(alice.user).toEqual({
      userName: 'alice@acme.test',
      profile: { firstName: 'Alice', lastName: 'A', displayName: 'Alice A' },
      email: { email: 'alice@acme.test', isEmailVerified: true },
    });
    expect(JSON.stringify(doc)).not.toContain('$argon2');
    expect(org.machineUsers).toEqual([
      { userId: expect.any(String), user: { userName: 'scim-bot', name: 'scim-bot', description: '', accessTokenType: 'ACCESS_TOKEN_TYPE_BEARER' } },
    ]);
    expect(org.projectRoles).toEqual([{ projectId: tenantA, roleKey: 'auditor', displayName: 'auditor', group: 'Reads audit logs' }]);
    expect(org.orgMembers).toContainEqual({ userId: alice.userId, roles: ['ORG_OWNER'] });
    expect(org.userGrants).toContainEqual({ userId: alice.userId, projectId: tenantA, roleKeys: ['tenant-admin'] });
    const state = org.userMetadata.find((m: any) => m.key === 'pca:externalId' && m.id === alice.userId);
    expect(Buffer.from(state.value, 'base64').toString()).toBe('okta-1');
    expect(org.pca.groups[0]).toMatchObject({ name: 'Engineers', externalId: 'grp-1', roles: ['tenant-user'] });
    expect(org.pca.groups[0].members).toHaveLength(2);

    const withHashes = await exportAll({ orgIds: [tenantA], withPasswords: true, withOtp: true });
    const hashed = withHashes.orgs[0].humanUsers.find((u: any) => u.user.userName === 'alice@acme.test');
    expect(hashed.user.hashedPassword.value).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(hashed.user.hashedPassword.value, 'Sup3r-secret-pass')).toBe(true);
    expect(JSON.stringify(withHashes)).not.toContain('Sup3r-secret-pass');
  });

  it('honours orgIds and excludedOrgIds', async () => {
    const all = await exportAll();
    expect(all.orgs.map((o: any) => o.orgId).sort()).toEqual([t.operatorTenantId, tenantA, tenantB].sort());
    const some = await exportAll({ excludedOrgIds: [t.operatorTenantId, tenantA] });
    expect(some.orgs.map((o: any) => o.orgId)).toEqual([tenantB]);
    expect((await post('/admin/v1/export', { orgIds: ['not-a-uuid'] })).statusCode).toBe(400);
    expect((await post('/admin/v1/export', { timeout: 'soon' })).statusCode).toBe(400);
    expect((await post('/admin/v1/export', { gcsOutput: { bucket: 'x' } })).statusCode).toBe(400);
  });

  it('writes a file in the export folder only', async () => {
    const res = await post('/admin/v1/export', { localOutput: { path: 'all.json' }, withPasswords: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({});
    const file = path.join(dataDir, 'exports/all.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8')).orgs).toHaveLength(3);

    const outside = mkdtempSync(path.join(tmpdir(), 'outside-'));
    symlinkSync(outside, path.join(dataDir, 'exports', 'escape'));
    for (const bad of ['../evil.json', '/tmp/evil.json', 'exports/../../evil.json', 'escape/evil.json', '']) {
      const r = await post('/admin/v1/export', { localOutput: { path: bad } });
      expect(r.statusCode, `${bad}: ${r.body}`).toBe(400);
    }
    expect(existsSync(path.join(outside, 'evil.json'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'evil.json'))).toBe(false);
    expect(existsSync(path.join(dataDir, '..', 'evil.json'))).toBe(false);
  });

  it('never writes over the master key, the database or an existing export, and names no server path', async () => {
    // What DATA_DIR holds besides exports: the generated master key and the embedded database.
    writeFileSync(path.join(dataDir, 'master.key'), 'the-master-key', { mode: 0o600 });
    mkdirSync(path.join(dataDir, 'pgdata'), { recursive: true });
    writeFileSync(path.join(dataDir, 'pgdata', 'PG_VERSION'), '17\n');
    for (const target of ['master.key', 'pgdata/PG_VERSION']) {
      const r = await post('/admin/v1/export', { localOutput: { path: target } });
      // Relative paths name files of the export folder, so these are new files there.
      expect(r.statusCode, `${target}: ${r.body}`).toBe(200);
      expect(existsSync(path.join(dataDir, 'exports', target))).toBe(true);
    }
    expect(readFileSync(path.join(dataDir, 'master.key'), 'utf8')).toBe('the-master-key');
    expect(readFileSync(path.join(dataDir, 'pgdata', 'PG_VERSION'), 'utf8')).toBe('17\n');

    // An existing file is never replaced, nor one a symbolic link points to.
    const first = await post('/admin/v1/export', { localOutput: { path: 'once.json' }, orgIds: [tenantB] });
    expect(first.statusCode, first.body).toBe(200);
    const content = readFileSync(path.join(dataDir, 'exports', 'once.json'), 'utf8');
    const again = await post('/admin/v1/export', { localOutput: { path: 'once.json' } });
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json().errors[0].detail).toContain('"once.json"');
    expect(readFileSync(path.join(dataDir, 'exports', 'once.json'), 'utf8')).toBe(content);
    const victim = path.join(mkdtempSync(path.join(tmpdir(), 'victim-')), 'victim.txt');
    writeFileSync(victim, 'untouched');
    symlinkSync(victim, path.join(dataDir, 'exports', 'link.json'));
    const viaLink = await post('/admin/v1/export', { localOutput: { path: 'link.json' } });
    expect(viaLink.statusCode, viaLink.body).toBe(409);
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    expect(lstatSync(path.join(dataDir, 'exports', 'link.json')).isSymbolicLink()).toBe(true);

    // Refusals name the path relative to the export folder, never where the server keeps its files.
    const realData = realpathSync(dataDir);
    const answers = [
      again,
      viaLink,
      await post('/admin/v1/export', { localOutput: { path: '/tmp/evil.json' } }),
      await post('/admin/v1/export', { localOutput: { path: '../evil.json' } }),
      await post('/admin/v1/export', { localOutput: { path: 'escape/evil.json' } }),
      await post('/admin/v1/import', { dataOrgsLocal: { path: 'missing.json' } }),
      await post('/admin/v1/import', { dataOrgsLocal: { path: 'escape' } }),
    ];
    for (const r of answers) {
      expect(r.statusCode, r.body).toBeGreaterThanOrEqual(400);
      expect(r.statusCode, r.body).toBeLessThan(500);
      expect(r.body).not.toContain(dataDir);
      expect(r.body).not.toContain(realData);
      expect(r.body).not.toMatch(/ENOENT|EEXIST|EISDIR/);
    }
    expect(answers[5]!.json().errors[0].detail).toContain('"missing.json"');
  });

  it('imports from the export folder and not from the rest of DATA_DIR', async () => {
    const exported = await post('/admin/v1/export', { localOutput: { path: 'beta.json' }, orgIds: [tenantB] });
    expect(exported.statusCode, exported.body).toBe(200);
    const imported = await post('/admin/v1/import', { dataOrgsLocal: { path: 'beta.json' } });
    expect(imported.statusCode, imported.body).toBe(200);
    expect(imported.json().orgs[0]).toMatchObject({ orgId: tenantB, status: 'unchanged', created: 0, updated: 0 });
    // A document placed next to the database is not an import source.
    writeFileSync(path.join(dataDir, 'beside.json'), readFileSync(path.join(dataDir, 'exports', 'beta.json')));
    for (const outside of ['beside.json', '../beside.json']) {
      const r = await post('/admin/v1/import', { dataOrgsLocal: { path: outside } });
      expect(r.statusCode, `${outside}: ${r.body}`).toBe(400);
    }
  });

  it('parses Go-style durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10')).toBeUndefined();
  });
});

describe('S3 output', () => {
  let s3: S3rver;
  let endpoint: string;
  let s3dir: string;
  beforeAll(async () => {
    s3dir = mkdtempSync(path.join(tmpdir(), 's3rver-'));
    s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir, configureBuckets: [{ name: 'exports', configs: [] }] });
    const { port } = await s3.run();
    endpoint = `127.0.0.1:${port}`;
  });
  afterAll(async () => s3?.close());

  it('uploads the document with the S3 API and imports it back from S3', async () => {
    const loc = { endpoint, bucket: 'exports', path: 'backups/acme.json', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', ssl: false };
    const res = await post('/admin/v1/export', { orgIds: [tenantA], s3Output: loc, responseOutput: true });
    expect(res.statusCode, res.body).toBe(200);
    const client = new S3Client({
      endpoint: `http://${endpoint}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    const obj = await client.send(new GetObjectCommand({ Bucket: 'exports', Key: 'backups/acme.json' }));
    const stored = JSON.parse(await obj.Body!.transformToString());
    client.destroy();
    expect(stored).toEqual(res.json());
    expect(stored.orgs[0].orgId).toBe(tenantA);

    const before = await snapshot(t.db);
    const imported = await post('/admin/v1/import', { dataOrgsS3: loc });
    expect(imported.statusCode, imported.body).toBe(200);
    expect(imported.json().orgs[0]).toMatchObject({ orgId: tenantA, status: 'unchanged', created: 0, updated: 0, errors: [] });
    expect(await snapshot(t.db)).toEqual(before);

    const noBucket = await post('/admin/v1/export', { s3Output: { ...loc, bucket: 'missing' } });
    expect(noBucket.statusCode, noBucket.body).toBe(502);
    expect(noBucket.json().errors[0].detail).toMatch(/NoSuchBucket/);
  });

  describe('without EXPORT_S3_ALLOW_CIDRS', () => {
    let guarded: TestApp;
    let guardedDir: string;
    const send = (url: string, body: unknown) =>
      guarded.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${guarded.adminPat}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
    const s3client = () =>
      new S3Client({
        endpoint: `http://${endpoint}`,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });

    beforeAll(async () => {
      guardedDir = mkdtempSync(path.join(tmpdir(), 'export-guarded-'));
      guarded = await startTestApp({ DATA_DIR: guardedDir });
    }, 60_000);
    afterAll(async () => guarded?.close());

    it('refuses loopback, private and link-local endpoints and writes nothing anywhere', async () => {
      const port = endpoint.split(':')[1];
      const targets = [
        endpoint,
        `http://${endpoint}`,
        `localhost:${port}`,
        `http://2130706433:${port}`,
        `[::1]:${port}`,
        `[::ffff:127.0.0.1]:${port}`,
        `0.0.0.0:${port}`,
        '10.0.0.1:9000',
        '192.168.1.10',
        '169.254.169.254',
        'https://[fd00::1]',
      ];
      const before = await snapshot(guarded.db);
      for (const [i, target] of targets.entries()) {
        const res = await send('/admin/v1/export', {
          responseOutput: true,
          localOutput: { path: `ssrf-${i}.json` },
          s3Output: { endpoint: target, bucket: 'exports', path: `ssrf/${i}.json`, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', ssl: false },
        });
        expect(res.statusCode, `${target}: ${res.body}`).toBe(422);
        expect(res.json().errors[0].source).toEqual({ pointer: '/s3Output/endpoint' });
        expect(existsSync(path.join(guardedDir, 'exports', `ssrf-${i}.json`)), target).toBe(false);
      }
      const client = s3client();
      const listed = await client.send(new ListObjectsV2Command({ Bucket: 'exports', Prefix: 'ssrf/' }));
      client.destroy();
      expect(listed.Contents ?? []).toEqual([]);
      // No audit event, no row: the refusal came before any work.
      expect(await snapshot(guarded.db)).toEqual(before);
    });

    it('refuses to import from a loopback endpoint', async () => {
      const client = s3client();
      await client.send(
        new PutObjectCommand({
          Bucket: 'exports',
          Key: 'planted.json',
          Body: JSON.stringify({ orgs: [{ orgId: '427046218153279491', org: { name: 'Planted' } }] }),
        }),
      );
      client.destroy();
      const before = await snapshot(guarded.db);
      for (const target of [endpoint, `localhost:${endpoint.split(':')[1]}`]) {
        const res = await send('/admin/v1/import', {
          dataOrgsS3: { endpoint: target, bucket: 'exports', path: 'planted.json', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', ssl: false },
        });
        expect(res.statusCode, `${target}: ${res.body}`).toBe(422);
        expect(res.json().errors[0].source).toEqual({ pointer: '/dataOrgsS3/endpoint' });
      }
      expect(await snapshot(guarded.db)).toEqual(before);
    });

    it('takes EXPORT_S3_ALLOW_CIDRS as IPs and CIDRs only', () => {
      expect(loadConfig({ ...TEST_ENV, EXPORT_S3_ALLOW_CIDRS: '10.0.5.0/24, 127.0.0.1,::1' }).EXPORT_S3_ALLOW_CIDRS).toEqual([
        '10.0.5.0/24',
        '127.0.0.1',
        '::1',
      ]);
      expect(loadConfig({ ...TEST_ENV }).EXPORT_S3_ALLOW_CIDRS).toEqual([]);
      for (const bad of ['localhost', '10.0.0.0/33', '*']) {
        expect(() => loadConfig({ ...TEST_ENV, EXPORT_S3_ALLOW_CIDRS: bad }), bad).toThrow(/EXPORT_S3_ALLOW_CIDRS/);
      }
    });

    it('refuses endpoints that are not plain http(s) URLs', async () => {
      for (const target of ['ftp://s3.example.com', 'http://user:pw@s3.example.com', 'http://', 'file:///etc/passwd']) {
        const res = await send('/admin/v1/export', {
          s3Output: { endpoint: target, bucket: 'exports', path: 'x.json', accessKeyId: 'a', secretAccessKey: 'b' },
        });
        expect(res.statusCode, `${target}: ${res.body}`).toBe(400);
        expect(res.json().errors[0].source).toEqual({ pointer: '/s3Output/endpoint' });
      }
    });
  });
});

describe('round trip', () => {
  let empty: Database;
  afterAll(async () => empty?.close());

  it('export, import into an empty database, export again: the same document; a second import changes nothing', async () => {
    const first = await exportAll({ withPasswords: true });
    empty = await freshDatabase();
    expect(await empty.prisma.tenant.count()).toBe(0);
    const result = await importDocument(empty.prisma, first, { argon, baseDomain: 'iam.test', actor: 'system' });
    for (const o of result.orgs) expect(o, JSON.stringify(o)).toMatchObject({ status: 'imported', errors: [] });
    expect(result.orgs.reduce((n, o) => n + o.created, 0)).toBeGreaterThan(10);
    const ctx = { prisma: empty.prisma, actor: 'system' as const, dataDir, baseDomain: 'iam.test', argon };
    const second = await buildExport(ctx, { withPasswords: true });
    expect(second).toEqual(first);

    const before = await snapshot(empty);
    const again = await importDocument(empty.prisma, first, { argon, baseDomain: 'iam.test', actor: 'system' });
    for (const o of again.orgs) expect(o).toMatchObject({ status: 'unchanged', created: 0, updated: 0, errors: [] });
    expect(await snapshot(empty)).toEqual(before);
    // The imported password hash still logs the user in.
    const alice = await empty.prisma.user.findFirstOrThrow({ where: { usernameLower: 'alice@acme.test' } });
    expect(await verifyPassword(alice.passwordHash!, 'Sup3r-secret-pass')).toBe(true);
  });
});

// Built from seed 004's schema: numeric ids, policies, project roles, grants, members,
// metadata, domains, and sections we have no model for (apps, login texts), which are ignored.
const ZITADEL_ORG_ID = '227046218153279491';
function zitadelSample() {
  return {
    orgs: [
      {
        orgId: ZITADEL_ORG_ID,
        org: { name: 'Zitadel Org' },
        domainPolicy: { userLoginMustBeDomain: false, validateOrgDomains: true, smtpSenderAddressMatchesInstanceDomain: false },
        labelPolicy: {
          primaryColor: '#5469d4',
          warnColor: '#cd3d56',
          backgroundColor: '#fafafa',
          fontColor: '#000000',
          hideLoginNameSuffix: false,
          disableWatermark: false,
          themeMode: 'THEME_MODE_AUTO',
        },
        lockoutPolicy: { maxPasswordAttempts: 3, maxOtpAttempts: 0 },
        loginPolicy: {
          allowUsernamePassword: true,
          allowRegister: false,
          forceMfa: false,
          passwordlessType: 'PASSWORDLESS_TYPE_ALLOWED',
          secondFactors: ['SECOND_FACTOR_TYPE_OTP'],
        },
        passwordComplexityPolicy: { minLength: 10, hasUppercase: true, hasLowercase: true, hasNumber: false, hasSymbol: true },
        privacyPolicy: { tosLink: 'https://zitadel.test/tos', privacyLink: '', helpLink: '', supportEmail: '' },
        projects: [
          {
            projectId: '227046218153345027',
            project: {
              name: 'Portal',
              projectRoleAssertion: true,
              projectRoleCheck: false,
              hasProjectCheck: false,
              privateLabelingSetting: 'PRIVATE_LABELING_SETTING_UNSPECIFIED',
            },
          },
        ],
        projectRoles: [
          { projectId: '227046218153345027', roleKey: 'editor', displayName: 'Editor', group: 'content' },
          { projectId: '227046218153345027', roleKey: 'viewer', displayName: 'Viewer' },
        ],
        apiApps: [{ appId: '1', app: { projectId: '227046218153345027', name: 'api', authMethodType: 'API_AUTH_METHOD_TYPE_BASIC' } }],
        oidcApps: [
          {
            appId: '2',
            app: {
              projectId: '227046218153345027',
              name: 'web',
              redirectUris: ['https://app.test/cb'],
              responseTypes: ['OIDC_RESPONSE_TYPE_CODE'],
              grantTypes: ['OIDC_GRANT_TYPE_AUTHORIZATION_CODE'],
              appType: 'OIDC_APP_TYPE_WEB',
            },
          },
        ],
        humanUsers: [
          {
            userId: '227046218153410563',
            user: {
              userName: 'zoe@zitadel.test',
              profile: { firstName: 'Zoe', lastName: 'Zed', displayName: 'Zoe Zed', preferredLanguage: 'en', gender: 'GENDER_FEMALE' },
              email: { email: 'zoe@zitadel.test', isEmailVerified: true },
              phone: { phone: '+41791234567', isPhoneVerified: false },
              password: 'Initial-Passw0rd!',
              passwordChangeRequired: true,
            },
          },
          {
            userId: '227046218153476099',
            user: {
              userName: 'yann',
              profile: { firstName: 'Yann', lastName: 'Y' },
              email: { email: 'yann@zitadel.test', isEmailVerified: false },
              // SHA-256 crypt (glibc's $5$): a format login cannot verify.
              hashedPassword: { value: '$5$rounds=5000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA' },
            },
          },
          { userId: '227046218153476100', user: { userName: 'broken', profile: { firstName: 'B', lastName: 'R' }, email: { email: 'not-an-email' } } },
        ],
        machineUsers: [
          { userId: '227046218153541635', user: { userName: 'ci-bot', name: 'CI Bot', description: 'pipelines', accessTokenType: 'ACCESS_TOKEN_TYPE_JWT' } },
        ],
        triggerActions: [],
        actions: [{ actionId: '9', action: { name: 'noop', script: 'function noop(){}', timeout: '10s', allowedToFail: true } }],
        userGrants: [
          { userId: '227046218153410563', projectId: '227046218153345027', roleKeys: ['editor', 'viewer'] },
          { userId: '227046218153541635', projectId: '227046218153345027', roleKeys: ['viewer', 'nonexistent'] },
        ],
        orgMembers: [
          { userId: '227046218153410563', roles: ['ORG_OWNER'] },
          { userId: '227046218153476099', roles: ['ORG_USER_MANAGER'] },
        ],
        userMetadata: [{ id: '227046218153410563', key: 'department', value: Buffer.from('R&D').toString('base64') }],
        loginTexts: [{ language: 'en', loginText: { title: 'Welcome' } }],
        domains: [
          { orgId: ZITADEL_ORG_ID, domainName: 'zitadel-org.iam.test', isVerified: true, isPrimary: true, validationType: 'DOMAIN_VALIDATION_TYPE_DNS' },
        ],
        machineKeys: [],
      },
      { orgId: '227046218153999999', org: { name: '' } },
    ],
  };
}

describe('ZITADEL export import', () => {
  it('imports what maps, reports what does not, and is idempotent', async () => {
    const res = await post('/admin/v1/import', { dataOrgs: zitadelSample(), timeout: '2m' });
    expect(res.statusCode, res.body).toBe(207);
    const [org, bad] = res.json().orgs;
    const tenantId = toUuid(ZITADEL_ORG_ID, 'org');
    expect(org).toMatchObject({ orgId: tenantId, name: 'Zitadel Org', status: 'imported' });
    expect(org.errors.map((e: any) => e.type).sort()).toEqual(['apiApp', 'humanUser', 'humanUser', 'oidcApp', 'userGrant']);
    expect(org.errors.find((e: any) => e.id === '227046218153476099').message).toMatch(/not argon2, PBKDF2 or bcrypt/);
    expect(org.errors.find((e: any) => e.type === 'userGrant').id).toBe('227046218153541635/nonexistent');
    expect(bad).toMatchObject({ status: 'failed', created: 0 });

    const p = t.db.prisma;
    const tenant = await p.tenant.findUniqueOrThrow({ where: { id: tenantId }, include: { identity: true } });
    expect(tenant).toMatchObject({
      name: 'Zitadel Org',
      pwMinLength: 10,
      pwRequireDigit: false,
      pwRequireSymbol: true,
      lockoutMaxAttempts: 3,
      isOperator: false,
      state: 'active',
    });
    expect(tenant.branding).toEqual({
      primaryColor: '#5469d4',
      warnColor: '#cd3d56',
      backgroundColor: '#fafafa',
      fontColor: '#000000',
      tosLink: 'https://zitadel.test/tos',
    });
    expect(tenant.identity?.subdomain).toBe('zitadel-org');
    const zoe = await p.user.findFirstOrThrow({ where: { tenantId, usernameLower: 'zoe@zitadel.test' }, include: { roles: true } });
    expect(zoe).toMatchObject({
      firstName: 'Zoe',
      lastName: 'Zed',
      email: 'zoe@zitadel.test',
      state: 'active',
      id: toUuid('227046218153410563', ZITADEL_ORG_ID),
    });
    expect(await verifyPassword(zoe.passwordHash!, 'Initial-Passw0rd!')).toBe(true);
    expect(zoe.roles.map((r) => r.roleName).sort()).toEqual(['editor', 'tenant-admin', 'viewer']);
    const yann = await p.user.findFirstOrThrow({ where: { tenantId, usernameLower: 'yann' } });
    expect(yann.passwordHash).toBeNull();
    expect(await p.user.count({ where: { tenantId, usernameLower: 'broken' } })).toBe(0);
    const bot = await p.serviceAccount.findFirstOrThrow({ where: { tenantId }, include: { roles: true } });
    expect(bot).toMatchObject({ username: 'ci-bot', name: 'CI Bot', description: 'pipelines', accessTokenType: 'Jwt' });
    expect(bot.roles.map((r) => r.roleName)).toEqual(['viewer']);
    expect((await p.customRole.findMany({ where: { tenantId }, orderBy: { name: 'asc' } })).map((r) => [r.name, r.description])).toEqual([
      ['editor', 'content'],
      ['viewer', ''],
    ]);
    expect(await p.tenant.count({ where: { name: '' } })).toBe(0);

    // Importing the same file again changes nothing: a plain password that the stored hash
    // already matches keeps that hash.
    const before = await snapshot(t.db);
    const again = await post('/admin/v1/import', { dataOrgs: zitadelSample() });
    expect(again.json().orgs[0]).toMatchObject({ status: 'unchanged', created: 0, updated: 0 });
    const row = await p.user.findFirstOrThrow({ where: { tenantId, usernameLower: 'zoe@zitadel.test' } });
    expect(row.passwordHash).toBe(zoe.passwordHash);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('skips items that clash with existing data and imports the rest of the org', async () => {
    const before = await t.db.prisma.user.count({ where: { tenantId: tenantA } });
    const doc = {
      orgs: [
        {
          orgId: tenantA,
          org: { name: 'Acme' },
          humanUsers: [
            { userId: '1001', user: { userName: 'ALICE@acme.test', profile: { firstName: 'Fake', lastName: 'Alice' }, email: { email: 'fake@acme.test' } } },
            { userId: '1002', user: { userName: 'carol', profile: { firstName: 'Carol', lastName: 'C' }, email: { email: 'carol@acme.test' } } },
          ],
        },
      ],
    };
    const res = await post('/admin/v1/import', doc);
    expect(res.statusCode, res.body).toBe(200);
    const org = res.json().orgs[0];
    expect(org.status).toBe('imported');
    expect(org.errors).toEqual([{ type: 'humanUser', id: '1001', message: expect.stringContaining('taken') }]);
    expect(await t.db.prisma.user.count({ where: { tenantId: tenantA } })).toBe(before + 1);
    expect((await t.db.prisma.user.findFirstOrThrow({ where: { tenantId: tenantA, usernameLower: 'alice@acme.test' } })).firstName).toBe('Alice');
  });

  it('refuses a document without orgs, and more than one source', async () => {
    const before = await snapshot(t.db);
    expect((await post('/admin/v1/import', {})).statusCode).toBe(400);
    expect((await post('/admin/v1/import', { dataOrgs: { orgs: [] }, orgs: [] })).statusCode).toBe(400);
    expect((await post('/admin/v1/import', { dataOrgsLocal: { path: '../../etc/passwd' } })).statusCode).toBe(400);
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('import failures', () => {
  // A user linked (metadata pca:idpId) to an identity provider the document does not carry:
  // the database refuses the org on the foreign key of User to IdentityProvider.
  const danglingIdp = () => ({
    orgs: [
      {
        orgId: '327046218153279491',
        org: { name: 'Dangling IdP' },
        humanUsers: [{ userId: '4001', user: { userName: 'dana', profile: { firstName: 'Dana', lastName: 'D' }, email: { email: 'dana@dangling.test' } } }],
        userMetadata: [{ id: '4001', key: 'pca:idpId', value: Buffer.from('0b9d3c3e-0c4f-4f4e-9a53-2d0c8c1f4b11').toString('base64') }],
      },
    ],
  });
  // What an ORM or driver message, a source path or a stack trace would bring into the answer.
  const INTERNALS = /\/|\.ts\b|prisma|invocation|\bat \S+ \(|node_modules|fkey|constraint|violat/i;

  it('imports a user linked to an IdP the document lacks without the link, and names section, item and field', async () => {
    const res = await post('/admin/v1/import', danglingIdp());
    expect(res.statusCode, res.body).toBe(200);
    const tenantId = toUuid('327046218153279491', 'org');
    expect(res.json().orgs).toEqual([
      {
        orgId: tenantId,
        name: 'Dangling IdP',
        status: 'imported',
        created: 2,
        updated: 0,
        unchanged: 0,
        errors: [
          {
            type: 'userLink',
            id: '4001',
            field: 'idpId',
            message: 'identity provider 0b9d3c3e-0c4f-4f4e-9a53-2d0c8c1f4b11 is neither in the document nor in the org; the user is imported without the link',
          },
        ],
      },
    ]);
    expect(res.body).not.toMatch(INTERNALS);
    const dana = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId, usernameLower: 'dana' } });
    expect(dana.idpId).toBeNull();
  });

  it('reports a value the database cannot store without its error text', async () => {
    // A date JavaScript accepts but PostgreSQL's timestamp cannot hold (before 4713 BC).
    const doc = danglingIdp();
    doc.orgs[0]!.orgId = '327046218153279492';
    doc.orgs[0]!.userMetadata = [{ id: '4001', key: 'pca:termsAcceptedAt', value: Buffer.from('-200000-01-01T00:00:00Z').toString('base64') }];
    const res = await post('/admin/v1/import', doc);
    expect(res.statusCode, res.body).toBe(207);
    const [org] = res.json().orgs;
    expect(org).toMatchObject({ status: 'failed', created: 0 });
    expect(org.errors).toEqual([{ type: 'org', message: expect.stringMatching(/^a value cannot be stored as given/) }]);
    expect(res.body).not.toMatch(INTERNALS);
  });
});

describe('CLI', () => {
  it('imports a file into an embedded database under DATA_DIR and exports it again', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cli-export-'));
    const env = { ...TEST_ENV, DATA_DIR: dir };
    const input = path.join(dir, 'in.json');
    const out = path.join(dir, 'out.json');
    const doc = await exportAll({ orgIds: [tenantA, tenantB], withPasswords: true });
    writeFileSync(input, JSON.stringify(doc));
    const sink = (isTTY = false) => {
      let text = '';
      return {
        stream: Object.assign(
          new Writable({
            write(c: Buffer, _e: string, cb: () => void) {
              text += c.toString();
              cb();
            },
          }),
          { isTTY },
        ),
        get text() {
          return text;
        },
      };
    };
    const so = sink();
    const se = sink();
    // On a terminal the progress counts rows, not only orgs.
    const tty = sink(true);
    expect(await importCommand(['--in', input], env, { stdout: so.stream, stderr: tty.stream })).toBe(0);
    expect(tty.text).toMatch(/2 org\(s\) \| [1-9]\d* users and service accounts/);
    const report = JSON.parse(so.text);
    expect(report.orgs.map((o: any) => o.status)).toEqual(['imported', 'imported']);
    const ttyOut = sink(true);
    expect(await exportCommand(['--out', out, '--with-passwords'], env, { stdout: sink().stream, stderr: ttyOut.stream })).toBe(0);
    // The export's bar runs over the rows (counted before it starts) and ends full.
    expect(ttyOut.text).toMatch(/\b([1-9]\d*)\/\1 users and service accounts \| 2 org\(s\)/);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(doc);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(await exportCommand([], env, { stdout: sink().stream, stderr: se.stream })).toBe(2);
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"orgs": [ {"orgId": "x", "org": {"name": "Trunc');
    expect(await importCommand(['--in', bad], env, { stdout: sink().stream, stderr: se.stream })).toBe(2);
    expect(se.text).toContain('not a valid export document');
    expect(await importCommand(['--in', path.join(dir, 'missing.json')], env, { stdout: sink().stream, stderr: se.stream })).toBe(2);
    // A document of another shape is not an empty export.
    const foreign = path.join(dir, 'foreign.json');
    writeFileSync(foreign, '{"foo": 1, "nested": {"orgs": []}}');
    expect(await importCommand(['--in', foreign], env, { stdout: sink().stream, stderr: se.stream })).toBe(2);
    expect(se.text).toContain('no top-level "orgs" array');
    expect(await importCommand(['--in', input, '--on-conflict', 'sometimes'], env, { stdout: sink().stream, stderr: se.stream })).toBe(2);
    // A dry run of a changed document reports the change and leaves the file's data as it was.
    const changed = structuredClone(doc);
    changed.orgs[0].org.name = 'Renamed in a dry run';
    writeFileSync(input, JSON.stringify(changed));
    const dry = sink();
    expect(await importCommand(['--in', input, '--dry-run'], env, { stdout: dry.stream, stderr: se.stream })).toBe(0);
    expect(JSON.parse(dry.text)).toMatchObject({ dryRun: true, orgs: [{ status: 'imported', updated: 1 }, { status: 'unchanged' }] });
    const after = path.join(dir, 'after.json');
    expect(await exportCommand(['--out', after, '--with-passwords'], env, { stdout: sink().stream, stderr: se.stream })).toBe(0);
    expect(JSON.parse(readFileSync(after, 'utf8'))).toEqual(doc);
  }, 180_000);
});
