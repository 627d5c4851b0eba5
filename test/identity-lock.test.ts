// A bulk writer (import) checks a tenant's usernames in memory and inserts later in its
// transaction; a single writer (REST, SCIM, SignCSR) must not take one of those names in
// between. Against a PostgreSQL server this is a real race; the embedded database runs one
// transaction at a time, so there it holds trivially.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockTenantIdentities } from '../src/users/identity.js';
import { call, createTenant, startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
let tenant: string;
beforeAll(async () => {
  t = await startTestApp();
  tenant = await createTenant(t, 'Identity Locks');
});
afterAll(() => t?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a bulk writer's lock on the tenant's identities", () => {
  it('makes a concurrent REST write of the same username wait, then refuse it', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const bulk = t.db.prisma.$transaction(
      async (tx) => {
        await lockTenantIdentities(tx, tenant);
        await tx.serviceAccount.create({ data: { tenantId: tenant, name: 'Imported', username: 'Imported-Name' } });
        locked();
        await held;
      },
      { timeout: 60_000 },
    );
    await isLocked;
    const rest = call(
      t.app,
      t.adminPat,
      'POST',
      '/api/v3/users',
      { data: { attributes: { username: 'imported-name', email: 'imported@locks.test' } } },
      { 'x-forwarded-tenant-id': tenant },
    );
    await sleep(500);
    release();
    await bulk;
    const res = await rest;
    expect(res.statusCode).toBe(409);
    expect(await t.db.prisma.user.count({ where: { tenantId: tenant } })).toBe(0);
  });
});
