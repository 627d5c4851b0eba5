import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

describe('operator tenant API and onboarding', () => {
  it('creates a tenant, registers its subdomain and reads it back through tenant-info', async () => {
    const created = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', {
      data: { type: 'tenants', attributes: { name: 'Acme', termsRequired: true, passwordPolicy: { minLength: 14 } } },
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers['content-type']).toContain('application/vnd.api+json');
    const tenant = created.json().data;
    expect(tenant).toMatchObject({ type: 'tenants', attributes: { name: 'Acme', subdomain: null, state: 'active', termsRequired: true } });
    expect(tenant.attributes.passwordPolicy).toMatchObject({ minLength: 14, requireUpper: true });
    expect(created.headers.location).toBe(`/api/v3/tenants/${tenant.id}`);

    const put = await call(t.app, t.adminPat, 'PUT', '/api/v3/onboarding/tenant-identity', {
      data: { type: 'tenantInfo', attributes: { tenantId: tenant.id, subdomain: 'acme', name: 'Acme Corp', logoUrl: 'https://acme.test/logo.png' } },
    });
    expect(put.statusCode).toBe(200);

    const info = await t.app.inject({ method: 'GET', url: '/api/v3/onboarding/tenant-info', headers: { host: 'acme.iam.test:8443' } });
    expect(info.statusCode).toBe(200);
    expect(info.json().data).toMatchObject({
      type: 'tenantInfo',
      id: tenant.id,
      attributes: { tenantId: tenant.id, subdomain: 'acme', name: 'Acme Corp', logoUrl: 'https://acme.test/logo.png', termsRequired: true },
    });

    const got = await call(t.app, t.adminPat, 'GET', `/api/v3/tenants/${tenant.id}`);
    expect(got.json().data.attributes.subdomain).toBe('acme');
  });

  it('answers 404 for an unknown subdomain or a host outside BASE_DOMAIN', async () => {
    for (const host of ['nobody.iam.test', 'acme.other.test', 'iam.test', 'a.b.iam.test']) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v3/onboarding/tenant-info', headers: { host } });
      expect(res.statusCode, host).toBe(404);
      expect(res.json().errors[0].status).toBe('404');
    }
  });

  it('refuses a subdomain owned by another tenant with 409, changing nothing', async () => {
    const a = await createTenant(t, 'Owner', 'taken');
    const b = await createTenant(t, 'Other');
    const before = await snapshot(t.db);
    const res = await call(t.app, t.adminPat, 'PUT', '/api/v3/onboarding/tenant-identity', {
      data: { type: 'tenantInfo', attributes: { tenantId: b, subdomain: 'taken', name: 'x' } },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().errors[0].source.pointer).toBe('/data/attributes/subdomain');
    const dup = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', { data: { attributes: { name: 'Dup', subdomain: 'taken' } } });
    expect(dup.statusCode).toBe(409);
    expect(await snapshot(t.db)).toEqual(before);
    expect(a).not.toBe(b);
  });

  it('deletes a tenant identity, after which tenant-info is 404', async () => {
    await createTenant(t, 'Gone', 'gone');
    const del = await call(t.app, t.adminPat, 'DELETE', '/api/v3/onboarding/tenant-identity/gone');
    expect(del.statusCode).toBe(204);
    const info = await t.app.inject({ method: 'GET', url: '/api/v3/onboarding/tenant-info', headers: { host: 'gone.iam.test' } });
    expect(info.statusCode).toBe(404);
    expect((await call(t.app, t.adminPat, 'DELETE', '/api/v3/onboarding/tenant-identity/gone')).statusCode).toBe(404);
  });

  it('lists tenants with pagination links and meta', async () => {
    const res = await call(t.app, t.adminPat, 'GET', '/api/v3/tenants?page=1&pageSize=2');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.data).toHaveLength(2);
    expect(body.meta).toMatchObject({ page: 1, pageSize: 2 });
    expect(body.meta.total).toBeGreaterThanOrEqual(3);
    expect(body.links.prev).toBeNull();
    expect(body.links.next).toContain('page=2');
    const past = await call(t.app, t.adminPat, 'GET', `/api/v3/tenants?page=999&pageSize=2`);
    expect(past.json().data).toEqual([]);
    expect((await call(t.app, t.adminPat, 'GET', '/api/v3/tenants?pageSize=501')).statusCode).toBe(400);
    expect((await call(t.app, t.adminPat, 'GET', '/api/v3/tenants?page=0')).statusCode).toBe(400);
  });

  it('updates and disables a tenant; its principals are then refused', async () => {
    const id = await createTenant(t, 'Soon disabled');
    const { pat } = await seedServiceAccountPat(t, id, ['tenant-admin']);
    expect((await call(t.app, pat, 'GET', '/api/v3/tenants/smtp')).statusCode).toBe(200);
    const res = await call(t.app, t.adminPat, 'PATCH', `/api/v3/tenants/${id}`, {
      data: { attributes: { state: 'disabled', lockoutPolicy: { maxAttempts: 3 } } },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().data.attributes).toMatchObject({ state: 'disabled', lockoutPolicy: { maxAttempts: 3 } });
    expect((await call(t.app, pat, 'GET', '/api/v3/tenants/smtp')).statusCode).toBe(401);
  });

  it('protects the operator tenant from deletion and disabling', async () => {
    expect((await call(t.app, t.adminPat, 'DELETE', `/api/v3/tenants/${t.operatorTenantId}`)).statusCode).toBe(422);
    const res = await call(t.app, t.adminPat, 'PATCH', `/api/v3/tenants/${t.operatorTenantId}`, { data: { attributes: { state: 'disabled' } } });
    expect(res.statusCode).toBe(422);
  });

  it('deletes a tenant and everything it owns', async () => {
    const id = await createTenant(t, 'Doomed', 'doomed');
    await seedServiceAccountPat(t, id, ['tenant-admin']);
    expect((await call(t.app, t.adminPat, 'DELETE', `/api/v3/tenants/${id}`)).statusCode).toBe(204);
    expect((await call(t.app, t.adminPat, 'GET', `/api/v3/tenants/${id}`)).statusCode).toBe(404);
    expect(await t.db.prisma.serviceAccount.count({ where: { tenantId: id } })).toBe(0);
    expect(await t.db.prisma.auditEvent.count({ where: { action: 'tenant.deleted', targetId: id } })).toBe(1);
  });

  it('reports SMTP status to any principal', async () => {
    const res = await call(t.app, t.adminPat, 'GET', '/api/v3/tenants/smtp');
    expect(res.json()).toEqual({ smtpEnabled: false });
  });
});

describe('X-Forwarded-Tenant-Id', () => {
  it('lets a skylight-admin act on a named tenant and 404s an unknown one', async () => {
    const id = await createTenant(t, 'Named');
    expect((await call(t.app, t.adminPat, 'GET', '/api/v3/tenants/smtp', undefined, { 'x-forwarded-tenant-id': id })).statusCode).toBe(200);
    const unknown = await call(t.app, t.adminPat, 'GET', '/api/v3/tenants/smtp', undefined, {
      'x-forwarded-tenant-id': '00000000-0000-7000-8000-000000000000',
    });
    expect(unknown.statusCode).toBe(404);
    expect((await call(t.app, t.adminPat, 'GET', '/api/v3/tenants/smtp', undefined, { 'x-forwarded-tenant-id': 'junk' })).statusCode).toBe(404);
  });

  it('refuses X-Forwarded-User-Id naming someone else unless sent by a trusted proxy', async () => {
    const id = await createTenant(t, 'Spoof');
    const { pat } = await seedServiceAccountPat(t, id, ['tenant-admin']);
    const res = await call(t.app, pat, 'GET', '/api/v3/tenants/smtp', undefined, { 'x-forwarded-user-id': '00000000-0000-7000-8000-000000000000' });
    expect(res.statusCode).toBe(403);
  });
});

describe('accept terms', () => {
  it('records the time on the calling user via a trusted proxy assertion', async () => {
    const proxied = await startTestApp({ TRUSTED_PROXIES: '127.0.0.1/32' });
    try {
      const tenant = await proxied.db.prisma.tenant.create({ data: { name: 'Terms', termsRequired: true } });
      const user = await proxied.db.prisma.user.create({
        data: { tenantId: tenant.id, username: 'ann', email: 'ann@x.test', state: 'active' },
      });
      const headers = { 'x-forwarded-user-id': user.id, 'x-forwarded-tenant-id': tenant.id };
      const res = await proxied.app.inject({ method: 'POST', url: '/api/v3/users/accept-terms', headers, remoteAddress: '127.0.0.1' });
      expect(res.statusCode).toBe(200);
      const row = await proxied.db.prisma.user.findUnique({ where: { id: user.id } });
      expect(row?.termsAcceptedAt?.toISOString()).toBe(res.json().data.attributes.termsAcceptedAt);
      // The same headers from an untrusted address authenticate nobody.
      const spoofed = await proxied.app.inject({ method: 'POST', url: '/api/v3/users/accept-terms', headers, remoteAddress: '10.1.2.3' });
      expect(spoofed.statusCode).toBe(401);
    } finally {
      await proxied.close();
    }
  });
});
