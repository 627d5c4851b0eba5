// One rule, every entry point: REST, SCIM, import (HTTP) and the CLI (a spawned process on
// its own embedded database) refuse the same bad input, and write nothing of it.
// The rules: the tenant's password policy, one username per tenant across users and
// service accounts compared case-insensitively, the service-account username syntax, and the
// subdomain syntax and ownership.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/platform/db.js';
import { expectJsonApiError, signCsr } from './helpers/certs.js';
import { nodeCsr } from './helpers/csr.js';
import { runCli, type CliRun } from './helpers/cli.js';
import { call, createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
// Complies with the policy below: 12+ characters, upper, lower, digit, symbol.
const GOOD = 'Str0ng-enough-pass';
// Upper, lower and digit, 13 characters, but no symbol: "ä" is a letter (the old SCIM
// check counted every non-ASCII character as a symbol and let this through).
const WEAK = 'Abcdefghijkä1';
const POLICY = { pwMinLength: 12, pwRequireUpper: true, pwRequireLower: true, pwRequireDigit: true, pwRequireSymbol: true };
const ZITADEL_POLICY = { minLength: 12, hasUppercase: true, hasLowercase: true, hasNumber: true, hasSymbol: true };

let t: TestApp;
let tenant: string;
let admin: string;

const scim = (method: 'POST' | 'PUT', url: string, body: unknown): Promise<LightMyRequestResponse> =>
  t.app.inject({
    method,
    url: `/scim/v2${url}`,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/scim+json' },
    payload: JSON.stringify(body),
  });
const importDoc = (doc: unknown) =>
  t.app.inject({
    method: 'POST',
    url: '/admin/v1/import',
    headers: { authorization: `Bearer ${t.adminPat}`, 'content-type': 'application/json' },
    payload: JSON.stringify(doc),
  });
const exportTenant = () =>
  t.app.inject({
    method: 'POST',
    url: '/admin/v1/export',
    headers: { authorization: `Bearer ${t.adminPat}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ responseOutput: true, orgIds: [tenant] }),
  });
const userDoc = (attributes: Record<string, unknown>) => ({ data: { type: 'users', attributes } });
/** The tenant as a ZITADEL org, with the same password policy. */
const org = (extra: Record<string, unknown>) => ({ orgs: [{ orgId: tenant, org: { name: 'Entry' }, passwordComplexityPolicy: ZITADEL_POLICY, ...extra }] });
const human = (userId: string, userName: string, email: string, password?: string) => ({
  userId,
  user: { userName, email: { email }, ...(password ? { password } : {}) },
});

async function usersNamed(username: string) {
  return t.db.prisma.user.count({ where: { tenantId: tenant, usernameLower: username.toLowerCase() } });
}

beforeAll(async () => {
  t = await startTestApp();
  tenant = await createTenant(t, 'Entry');
  await t.db.prisma.tenant.update({ where: { id: tenant }, data: POLICY });
  admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'], { username: 'Robot-1' })).pat;
  const alice = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'Alice', email: 'alice@entry.test', password: GOOD }));
  expect(alice.statusCode, alice.body).toBe(201);
  await createTenant(t, 'Holder', 'taken');
}, 120_000);
afterAll(() => t?.close());

describe('a password that breaks the tenant policy', () => {
  it('REST refuses it', async () => {
    const res = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'weak-rest', email: 'weak-rest@entry.test', password: WEAK }));
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().errors).toEqual([expect.objectContaining({ code: 'password_policy', detail: 'Password must contain a symbol' })]);
    expect(await usersNamed('weak-rest')).toBe(0);
  });

  it('SCIM refuses it with the same rule', async () => {
    const res = await scim('POST', '/Users', { schemas: [USER], userName: 'weak-scim', emails: [{ value: 'weak-scim@entry.test' }], password: WEAK });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ scimType: 'invalidValue', detail: 'The password must contain a symbol' });
    expect(await usersNamed('weak-scim')).toBe(0);
  });

  it('REST and SCIM judge the password before the username when both are wrong', async () => {
    const rest = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: 'ALICE', email: 'both-rest@entry.test', password: WEAK }));
    expect(rest.statusCode, rest.body).toBe(400);
    expect(rest.json().errors[0].code).toBe('password_policy');
    const viaScim = await scim('POST', '/Users', { schemas: [USER], userName: 'ALICE', emails: [{ value: 'both-scim@entry.test' }], password: WEAK });
    expect(viaScim.statusCode, viaScim.body).toBe(400);
    expect(viaScim.json()).toMatchObject({ scimType: 'invalidValue', detail: 'The password must contain a symbol' });
  });

  it('SCIM counts characters as REST does, not UTF-16 units', async () => {
    // 11 characters in 22 UTF-16 units: too short for both.
    const res = await scim('POST', '/Users', {
      schemas: [USER],
      userName: 'astral',
      emails: [{ value: 'astral@entry.test' }],
      password: 'A1-' + '😀'.repeat(8),
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().detail).toContain('must be at least 12 characters long');
    expect(await usersNamed('astral')).toBe(0);
  });

  it('SCIM refuses it when a PUT sets it', async () => {
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'put-me', emails: [{ value: 'put-me@entry.test' }] });
    expect(created.statusCode, created.body).toBe(201);
    const res = await scim('PUT', `/Users/${created.json().id}`, {
      schemas: [USER],
      userName: 'put-me',
      emails: [{ value: 'put-me@entry.test' }],
      password: WEAK,
    });
    expect(res.statusCode, res.body).toBe(400);
    expect((await t.db.prisma.user.findFirstOrThrow({ where: { tenantId: tenant, usernameLower: 'put-me' } })).passwordHash).toBeNull();
  });

  it('import refuses the user whose initial password breaks the policy, and imports the rest', async () => {
    const res = await importDoc(
      org({ humanUsers: [human('2001', 'weak-import', 'weak-import@entry.test', WEAK), human('2002', 'good-import', 'good-import@entry.test', GOOD)] }),
    );
    expect(res.statusCode, res.body).toBe(200);
    const [o] = res.json().orgs;
    expect(o.status).toBe('imported');
    expect(o.errors).toEqual([{ type: 'humanUser', id: '2001', message: 'password does not meet the tenant policy: it must contain a symbol' }]);
    expect(await usersNamed('weak-import')).toBe(0);
    expect(await usersNamed('good-import')).toBe(1);
  });
});

describe('a password set through any entry point', () => {
  it('ends the open invitation, through REST and through SCIM', async () => {
    for (const via of ['rest', 'scim'] as const) {
      const created = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username: `invited-${via}`, email: `invited-${via}@entry.test` }));
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json().data.id;
      const open = () => t.db.prisma.setPasswordToken.count({ where: { tenantId: tenant, userId: id, usedAt: null } });
      expect(await open()).toBe(1);
      const res =
        via === 'rest'
          ? await call(t.app, admin, 'PATCH', `/api/v3/users/${id}`, userDoc({ password: GOOD }))
          : await scim('PUT', `/Users/${id}`, {
              schemas: [USER],
              userName: `invited-${via}`,
              emails: [{ value: `invited-${via}@entry.test` }],
              password: GOOD,
            });
      expect(res.statusCode, res.body).toBe(200);
      expect(await open()).toBe(0);
    }
  });
});

describe('a username taken in another case', () => {
  it('REST refuses a user named like a user or a service account, and a service account named like a user', async () => {
    for (const username of ['ALICE', 'robot-1']) {
      const res = await call(t.app, admin, 'POST', '/api/v3/users', userDoc({ username, email: `${username}-rest@entry.test` }));
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json().errors[0]).toMatchObject({ code: 'conflict', source: { pointer: '/data/attributes/username' } });
    }
    const sa = await call(t.app, admin, 'POST', '/api/v3/serviceaccounts', { name: 'x', username: 'aLiCe' });
    expect(sa.statusCode, sa.body).toBe(409);
    expect(await t.db.prisma.serviceAccount.count({ where: { tenantId: tenant, usernameLower: 'alice' } })).toBe(0);
    expect(await t.db.prisma.user.count({ where: { tenantId: tenant, email: { startsWith: 'ALICE-rest' } } })).toBe(0);
  });

  it('SCIM refuses it with the same rule', async () => {
    for (const [userName, holder] of [
      ['ALICE', 'already taken'],
      ['ROBOT-1', 'already taken by a service account'],
    ]) {
      const res = await scim('POST', '/Users', { schemas: [USER], userName, emails: [{ value: `${userName}-dup@scim.test` }] });
      expect(res.statusCode, res.body).toBe(409);
      expect(res.json()).toMatchObject({ scimType: 'uniqueness', detail: `userName "${userName}" is ${holder}` });
    }
    expect(await t.db.prisma.user.count({ where: { tenantId: tenant, email: { endsWith: '-dup@scim.test' } } })).toBe(0);
  });

  it('import refuses it with the same rule, for users and for service accounts', async () => {
    const res = await importDoc(
      org({
        humanUsers: [human('3001', 'ALICE', 'other-alice@entry.test', GOOD), human('3002', 'ROBOT-1', 'robot@entry.test', GOOD)],
        machineUsers: [{ userId: '3003', user: { userName: 'Good-Import', name: 'clash' } }],
      }),
    );
    expect(res.statusCode, res.body).toBe(200);
    const [o] = res.json().orgs;
    expect(o.errors).toEqual([
      { type: 'humanUser', id: '3001', message: 'The username "ALICE" is already taken' },
      { type: 'humanUser', id: '3002', message: 'The username "ROBOT-1" is already taken by a service account' },
      { type: 'machineUser', id: '3003', message: 'The username "Good-Import" is already taken' },
    ]);
    expect(await t.db.prisma.user.count({ where: { tenantId: tenant, email: { in: ['other-alice@entry.test', 'robot@entry.test'] } } })).toBe(0);
    expect(await t.db.prisma.serviceAccount.count({ where: { tenantId: tenant, name: 'clash' } })).toBe(0);
  });
});

describe('a service-account username with whitespace', () => {
  it('REST, import and SignCSR refuse it with the same rule, and create no account', async () => {
    const rest = await call(t.app, admin, 'POST', '/api/v3/serviceaccounts', { name: 'spaced', username: 'two words' });
    expect(rest.statusCode, rest.body).toBe(400);
    expect(rest.body).toContain('must not contain whitespace');

    const imported = await importDoc(org({ machineUsers: [{ userId: '3101', user: { userName: 'two words', name: 'spaced' } }] }));
    expect(imported.statusCode, imported.body).toBe(200);
    expect(imported.json().orgs[0].errors).toEqual([{ type: 'machineUser', id: '3101', message: 'user.userName: must not contain whitespace' }]);

    const signed = await signCsr(t, admin, `requestedUsername=${encodeURIComponent('two words')}`, nodeCsr('two words'), 'application/pkcs10');
    const error = expectJsonApiError(signed, 400, 'bad_request');
    expect(error.detail).toBe('requestedUsername must not contain whitespace');

    expect(await t.db.prisma.serviceAccount.count({ where: { tenantId: tenant, usernameLower: 'two words' } })).toBe(0);
  });
});

describe('a custom role', () => {
  const ROLE_A = '0190c1d2-0000-7000-8000-00000000a001';
  const ROLE_B = '0190c1d2-0000-7000-8000-00000000a002';
  const ROLE_C = '0190c1d2-0000-7000-8000-00000000a003';
  const roleDoc = (name: string, featureRoles: string[] = []) => ({ data: { type: 'roles', attributes: { name, featureRoles } } });

  it('REST and import refuse a built-in name, a bad name and an unknown feature role alike, and write none', async () => {
    const builtin = await call(t.app, admin, 'POST', '/api/v3/roles', roleDoc('Tenant-Admin'));
    expect(builtin.statusCode, builtin.body).toBe(422);
    const bad = await call(t.app, admin, 'POST', '/api/v3/roles', roleDoc('-dash first'));
    expect(bad.statusCode, bad.body).toBe(400);
    const unknown = await call(t.app, admin, 'POST', '/api/v3/roles', roleDoc('Readers', ['no-such-feature']));
    expect(unknown.statusCode, unknown.body).toBe(400);

    const [pca] = (await exportTenant()).json().orgs.map((o: { pca: unknown }) => o.pca);
    const res = await importDoc(
      org({
        pca: {
          ...(pca as object),
          customRoles: [
            { roleId: ROLE_A, name: 'Tenant-Admin', description: '', featureRoles: [] },
            { roleId: ROLE_B, name: '-dash first', description: '', featureRoles: [] },
            { roleId: ROLE_C, name: 'Readers', description: '', featureRoles: ['no-such-feature'] },
          ],
        },
      }),
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().orgs[0].errors).toEqual([
      { type: 'role', id: ROLE_A, message: '"Tenant-Admin" is a built-in role name' },
      { type: 'role', id: ROLE_B, message: expect.stringContaining('starting with a letter or digit') },
      { type: 'role', id: ROLE_C, message: '"no-such-feature" is not in the feature-role catalogue' },
    ]);
    expect(await t.db.prisma.customRole.count({ where: { tenantId: tenant } })).toBe(0);
  });
});

describe('a tenant the import creates', () => {
  it('gets its AnalyticsUI application, for its subdomain, as one POST /api/v3/tenants creates', async () => {
    const orgId = '22222222-3333-4444-8555-666666666666';
    const res = await importDoc({ orgs: [{ orgId, org: { name: 'Imported' }, domains: [{ domainName: 'imported.iam.test', isPrimary: true }] }] });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().orgs[0]).toMatchObject({ status: 'imported', errors: [] });
    const viaApi = await createTenant(t, 'Via API', 'via-api');
    const [imported, created] = await Promise.all(
      [orgId, viaApi].map((tenantId) => t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } })),
    );
    expect(imported!.redirectUris).toEqual(created!.redirectUris.map((u) => u.replace('via-api', 'imported')));
    expect(imported).toMatchObject({ clientType: created!.clientType, grantTypes: created!.grantTypes, isManaged: true });
  });
});

describe('a bad or taken subdomain', () => {
  it('REST refuses it', async () => {
    const bad = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', { data: { type: 'tenants', attributes: { name: 'Bad REST', subdomain: 'Bad_Sub' } } });
    expect(bad.statusCode, bad.body).toBe(400);
    expect(bad.body).toContain('must be a lowercase DNS label');
    const taken = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', {
      data: { type: 'tenants', attributes: { name: 'Taken REST', subdomain: 'taken' } },
    });
    expect(taken.statusCode, taken.body).toBe(409);
    expect(taken.json().errors[0].detail).toBe('Subdomain "taken" is already in use');
    expect(await t.db.prisma.tenant.count({ where: { name: { in: ['Bad REST', 'Taken REST'] } } })).toBe(0);
  });

  it('import gives the tenant no subdomain that is bad or taken', async () => {
    for (const [domainName, id, message] of [
      ['bad_sub.iam.test', 'bad_sub.iam.test', 'not a subdomain of iam.test; the tenant gets no subdomain'],
      ['taken.iam.test', 'taken', 'subdomain belongs to another tenant'],
    ]) {
      const res = await importDoc(org({ domains: [{ domainName, isPrimary: true }] }));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().orgs[0].errors).toEqual([{ type: 'domain', id, message }]);
    }
    expect(await t.db.prisma.tenantIdentity.count({ where: { tenantId: tenant } })).toBe(0);
  });
});

describe('the CLI', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'entry-points-cli-'));
  const runs: Record<string, CliRun> = {};
  let db: Database;

  const cli = (...args: string[]) => runCli(dir, ...args);

  beforeAll(async () => {
    // Its own embedded database: the CLI runs one after the other, then the test reads it.
    runs.bad = await cli('create-tenant', '--name', 'Bad CLI', '--subdomain', 'Bad_Sub');
    runs.first = await cli('create-tenant', '--name', 'First CLI', '--subdomain', 'taken');
    runs.taken = await cli('create-tenant', '--name', 'Taken CLI', '--subdomain', 'taken');
    const orgId = '11111111-2222-4333-8444-555555555555';
    const base = { orgId, org: { name: 'Imported CLI' }, passwordComplexityPolicy: ZITADEL_POLICY };
    const doc = {
      orgs: [
        // The same org twice, so that the service account exists when the users come.
        { ...base, machineUsers: [{ userId: '4001', user: { userName: 'Robot-1', name: 'Robot' } }] },
        {
          ...base,
          humanUsers: [
            human('4002', 'ROBOT-1', 'robot@cli.test', GOOD),
            human('4003', 'weak-cli', 'weak@cli.test', WEAK),
            human('4004', 'good-cli', 'good@cli.test', GOOD),
          ],
        },
      ],
    };
    writeFileSync(path.join(dir, 'in.json'), JSON.stringify(doc));
    runs.import = await cli('import', '--in', path.join(dir, 'in.json'));
    db = await openDatabase({ dataDir: dir });
  }, 240_000);
  afterAll(() => db?.close());

  it('create-tenant refuses a bad subdomain in one line, as REST does, and writes nothing', async () => {
    expect(runs.bad!.code, runs.bad!.stderr).toBe(2);
    expect(runs.bad!.stderr.trim()).toBe('create-tenant: --subdomain must be a lowercase DNS label (a-z, 0-9, hyphen)');
    expect(await db.prisma.tenant.count({ where: { name: 'Bad CLI' } })).toBe(0);
  });

  it('create-tenant refuses a taken subdomain in one line, with the words of REST, and writes nothing', async () => {
    expect(runs.first!.code, runs.first!.stderr).toBe(0);
    expect(runs.taken!.code, runs.taken!.stderr).toBe(1);
    expect(runs.taken!.stderr.trim()).toBe('create-tenant: Subdomain "taken" is already in use');
    expect(await db.prisma.tenant.count({ where: { name: 'Taken CLI' } })).toBe(0);
    const first = await db.prisma.tenant.findFirstOrThrow({ where: { name: 'First CLI' }, include: { identity: true } });
    expect(runs.first!.stdout.trim()).toBe(first.id);
    expect(first.identity?.subdomain).toBe('taken');
    // As through the API: the AnalyticsUI application, and an audit event.
    expect(await db.prisma.application.count({ where: { tenantId: first.id, name: 'AnalyticsUI' } })).toBe(1);
    expect(await db.prisma.auditEvent.count({ where: { tenantId: first.id, action: 'tenant.created', actorKind: 'system' } })).toBe(1);
  });

  it('import refuses a weak initial password and a username a service account holds, as the API does', async () => {
    expect(runs.import!.code, runs.import!.stderr).toBe(0);
    const report = JSON.parse(runs.import!.stdout);
    expect(report.orgs[1].errors).toEqual([
      { type: 'humanUser', id: '4003', message: 'password does not meet the tenant policy: it must contain a symbol' },
      { type: 'humanUser', id: '4002', message: 'The username "ROBOT-1" is already taken by a service account' },
    ]);
    expect((await db.prisma.user.findMany({ select: { username: true } })).map((u) => u.username)).toEqual(['good-cli']);
    // A tenant the import creates gets its AnalyticsUI application, as one the API or create-tenant creates.
    expect(await db.prisma.application.count({ where: { tenantId: '11111111-2222-4333-8444-555555555555', name: 'AnalyticsUI' } })).toBe(1);
  });
});
