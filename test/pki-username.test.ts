// SignCSR ties a certificate to a service account, created when requestedUsername names
// none. Usernames stay unique across a tenant's users and service accounts
// (case-insensitive): a user's username is a conflict, an existing service account is reused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { expectJsonApiError, signCsr } from './helpers/certs.js';
import { nodeCsr } from './helpers/csr.js';

let t: TestApp;
let tenant: string;
let admin: string;
let csr: Buffer;

beforeAll(async () => {
  t = await startTestApp();
  tenant = await createTenant(t, 'Certs username');
  admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'], { username: 'certs-admin' })).pat;
  csr = nodeCsr('sign-test');
  // The CA is created on first use; create it now so that snapshots compare only what a request does.
  expect((await t.app.inject({ method: 'GET', url: '/api/v3/certs/ca' })).statusCode).toBe(200);
  await t.db.prisma.user.create({
    data: {
      tenantId: tenant,
      username: 'Alice',
      email: 'alice@certs.test',
      roles: { create: { roleName: 'tenant-user' } },
    },
  });
}, 60_000);
afterAll(async () => t?.close());

const sign = (query: string, body: Buffer | string, type: string | undefined, token = admin) => signCsr(t, token, query, body, type);

describe('requestedUsername naming a user', () => {
  it('is 409 conflict, whatever its case, and nothing is created or issued', async () => {
    const before = await snapshot(t.db);
    for (const name of ['Alice', 'alice', 'ALICE']) {
      const error = expectJsonApiError(await sign(`requestedUsername=${name}&format=pem`, csr, 'application/pkcs10'), 409, 'conflict');
      expect(error.detail).toMatch(/already.*user/i);
      expect(error.detail).toContain(name);
      expect(error.source).toEqual({ parameter: 'requestedUsername' });
    }
    // Also with roles the default does not hold, and in DER.
    expectJsonApiError(await sign('requestedUsername=alice&assignedRoles=tenant-user', csr, 'application/octet-stream'), 409, 'conflict');
    expect(await snapshot(t.db)).toEqual(before);
    expect(await t.db.prisma.serviceAccount.count({ where: { tenantId: tenant, usernameLower: 'alice' } })).toBe(0);
  });

  it('an existing service account is still reused, whatever the case of its name', async () => {
    const first = await sign('requestedUsername=device-9&format=pem', csr, 'application/pkcs10');
    expect(first.statusCode, first.body).toBe(200);
    const sa = await t.db.prisma.serviceAccount.findFirstOrThrow({ where: { tenantId: tenant, usernameLower: 'device-9' } });
    // The transactional path (a role the account lacks) and the fast path (roles held).
    const more = await sign('requestedUsername=DEVICE-9&format=pem&assignedRoles=tenant-user', csr, 'application/pkcs10');
    expect(more.statusCode, more.body).toBe(200);
    const again = await sign('requestedUsername=Device-9&format=pem', csr, 'application/pkcs10');
    expect(again.statusCode, again.body).toBe(200);
    expect(await t.db.prisma.serviceAccount.count({ where: { tenantId: tenant, usernameLower: 'device-9' } })).toBe(1);
    expect(await t.db.prisma.clientCertificate.count({ where: { tenantId: tenant, serviceAccountId: sa.id } })).toBe(3);
    const roles = await t.db.prisma.roleAssignment.findMany({ where: { tenantId: tenant, serviceAccountId: sa.id } });
    expect(roles.map((r) => r.roleName).sort()).toEqual(['tenant-contributor', 'tenant-user']);
  });
});
