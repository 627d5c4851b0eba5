import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialCache } from '../src/sessions/credential-cache.js';
import { bearer, createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';
import type { Principal } from '../src/principals/principal.js';

let t: TestApp;
let tenantId: string;
beforeAll(async () => {
  t = await startTestApp();
  tenantId = await createTenant(t, 'Validate');
});
afterAll(() => t?.close());

const validate = (token?: string) => t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: token ? bearer(token) : {} });

/** Polls until `check` holds (notifications are asynchronous), failing after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 2000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('validate-token with a PAT', () => {
  it('answers 200 with the identity headers, served from the cache the second time', async () => {
    const { pat, serviceAccountId } = await seedServiceAccountPat(t, tenantId, ['tenant-admin', 'tenant-user'], { username: 'collector' });
    const res = await validate(pat);
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({
      'x-forwarded-user-id': serviceAccountId,
      'x-forwarded-user-username': 'collector',
      'x-forwarded-tenant-id': tenantId,
      'x-forwarded-usergroups': '',
    });
    expect(String(res.headers['x-forwarded-user-roles']).split(',').sort()).toEqual(['tenant-admin', 'tenant-user']);
    // The seeding's own notifications may still be in flight (and rightly keep a result
    // verified meanwhile out of the cache), so the entry appears on a later call.
    const key = CredentialCache.key('b', pat);
    await eventually(async () => (await validate(pat)).statusCode === 200 && (t.app.credentialCache as any).lru.has(key));
    expect((await validate(pat)).headers['x-forwarded-user-id']).toBe(serviceAccountId);
  });

  it('answers 401 without a credential or with an unknown one, 403 for an expired one', async () => {
    expect((await validate()).statusCode).toBe(401);
    expect((await validate('pca_' + 'x'.repeat(46))).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: { authorization: 'Basic abc' } })).statusCode).toBe(401);
    const { pat } = await seedServiceAccountPat(t, tenantId, ['tenant-user'], { expiresAt: new Date(Date.now() - 1000) });
    const res = await validate(pat);
    expect(res.statusCode).toBe(403);
    expect(res.headers['x-forwarded-user-id']).toBeUndefined();
  });

  it('refuses a deleted PAT at once, although it was cached', async () => {
    const { pat, patId } = await seedServiceAccountPat(t, tenantId, ['tenant-user']);
    expect((await validate(pat)).statusCode).toBe(200);
    await t.db.prisma.personalAccessToken.delete({ where: { id: patId } });
    await eventually(async () => (await validate(pat)).statusCode === 401);
  });

  it('reflects role changes and tenant disabling on the next request', async () => {
    const { pat, serviceAccountId } = await seedServiceAccountPat(t, tenantId, ['tenant-user']);
    expect((await validate(pat)).headers['x-forwarded-user-roles']).toBe('tenant-user');
    await t.db.prisma.roleAssignment.create({ data: { tenantId, serviceAccountId, roleName: 'tenant-admin' } });
    await eventually(async () => String((await validate(pat)).headers['x-forwarded-user-roles']).includes('tenant-admin'));

    await t.db.prisma.tenant.update({ where: { id: tenantId }, data: { state: 'disabled' } });
    await eventually(async () => (await validate(pat)).statusCode === 403);
    await t.db.prisma.tenant.update({ where: { id: tenantId }, data: { state: 'active' } });
    await eventually(async () => (await validate(pat)).statusCode === 200);
  });
});

describe('credential cache', () => {
  const principal = (id: string, groups: string[] = []): Principal => ({
    kind: 'user',
    credential: 'pat',
    credentialId: `c-${id}`,
    tenantId: 't1',
    subjectId: id,
    username: id,
    roles: [],
    groups,
  });

  it('evicts by credential, subject, tenant and group tags', () => {
    const c = new CredentialCache({ max: 100, maxTtlMs: 60_000 });
    c.set('a', principal('a', ['g1']), c.generation);
    c.set('b', principal('b'), c.generation);
    c.invalidate(['group:g1']);
    expect(c.get('a')).toBeUndefined();
    expect(c.get('b')).toBeDefined();
    c.invalidate(['tenant:t1']);
    expect(c.get('b')).toBeUndefined();
  });

  it('does not cache a result verified before an invalidation of its tags that raced it', () => {
    const c = new CredentialCache({ max: 100, maxTtlMs: 60_000 });
    const gen = c.generation;
    c.invalidate(['subject:other']); // unrelated: does not prevent caching
    c.invalidate(['cred:c-a']); // arrives while the verification was reading the database
    c.set('a', principal('a'), gen);
    expect(c.get('a')).toBeUndefined();
    c.set('b', principal('b'), gen);
    expect(c.get('b')).toBeDefined();
    const before = c.generation;
    c.clear();
    c.set('b', principal('b'), before);
    expect(c.get('b')).toBeUndefined();
  });

  it('keeps no entry past the credential expiry, and none while disabled', () => {
    const c = new CredentialCache({ max: 100, maxTtlMs: 60_000 });
    c.set('a', { ...principal('a'), expiresAt: new Date(Date.now() - 1) }, c.generation);
    expect(c.get('a')).toBeUndefined();
    c.enabled = false;
    c.set('b', principal('b'), c.generation);
    c.enabled = true;
    expect(c.get('b')).toBeUndefined();
  });

  it('never keys on the credential in the clear', () => {
    expect(CredentialCache.key('b', 'pca_secret')).not.toContain('secret');
  });
});
