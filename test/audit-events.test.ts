// The audit log's read API: who may read it, its filters, paging and tenant isolation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { call, createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
let alpha: string;
let bravo: string;
let alphaAdmin: { pat: string; serviceAccountId: string };
let bravoAdmin: string;
let auditor: string;
let plain: string;
const created: string[] = [];

const list = (token: string, query = '', headers: Record<string, string> = {}) => call(t.app, token, 'GET', `/api/v3/audit-events${query}`, undefined, headers);
const search = (token: string, data: Record<string, unknown>, query = '') => call(t.app, token, 'POST', `/api/v3/audit-events/search${query}`, { data });
const actions = (res: LightMyRequestResponse) => res.json().data.map((e: { attributes: { action: string } }) => e.attributes.action);

beforeAll(async () => {
  t = await startTestApp();
  alpha = await createTenant(t, 'Alpha', 'alpha');
  bravo = await createTenant(t, 'Bravo', 'bravo');
  alphaAdmin = await seedServiceAccountPat(t, alpha, ['tenant-admin'], { username: 'alpha-admin' });
  bravoAdmin = (await seedServiceAccountPat(t, bravo, ['tenant-admin'])).pat;
  const role = await call(t.app, alphaAdmin.pat, 'POST', '/api/v3/roles', {
    data: { type: 'roles', attributes: { name: 'Auditor', featureRoles: ['audit-view', 'dashboards-view'] } },
  });
  expect(role.statusCode, role.body).toBe(201);
  auditor = (await seedServiceAccountPat(t, alpha, ['Auditor'])).pat;
  plain = (await seedServiceAccountPat(t, alpha, ['tenant-user'])).pat;
  // Three admin writes from a known address, each with its own request id.
  for (const n of [1, 2, 3]) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v3/users',
      remoteAddress: '198.51.100.7',
      headers: { authorization: `Bearer ${alphaAdmin.pat}`, 'content-type': 'application/vnd.api+json', 'x-request-id': `audit-test-${n}` },
      payload: JSON.stringify({ data: { type: 'users', attributes: { username: `u${n}`, email: `u${n}@alpha.test`, password: 'Correct-Horse-42' } } }),
    });
    expect(res.statusCode, res.body).toBe(201);
    created.push(res.json().data.id);
  }
  const other = await call(t.app, bravoAdmin, 'POST', '/api/v3/users', { data: { type: 'users', attributes: { username: 'b1', email: 'b1@bravo.test' } } });
  expect(other.statusCode, other.body).toBe(201);
}, 60_000);
afterAll(async () => {
  await t?.close();
});

describe('an admin write, read back', () => {
  it('carries time, tenant, actor (kind, id, name, address), action, target, outcome and request id', async () => {
    const res = await list(alphaAdmin.pat, `?requestId=audit-test-2`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
    const [event, ...rest] = res.json().data;
    expect(rest).toEqual([]);
    expect(event.type).toBe('audit-events');
    expect(event.attributes).toMatchObject({
      tenantId: alpha,
      actorKind: 'serviceaccount',
      actorId: alphaAdmin.serviceAccountId,
      actorName: 'alpha-admin',
      clientAddress: '198.51.100.7',
      action: 'user.created',
      targetType: 'user',
      targetId: created[1],
      outcome: 'success',
      requestId: 'audit-test-2',
    });
    expect(Date.now() - Date.parse(event.attributes.createdAt)).toBeLessThan(60_000);
    expect(JSON.stringify(event)).not.toContain('Correct-Horse-42');
  });
});

describe('who may read', () => {
  it('tenant-admins and holders of the audit-view feature role read their tenant', async () => {
    for (const token of [alphaAdmin.pat, auditor]) {
      const res = await list(token, '?action=user.created');
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().meta.total).toBe(3);
      expect(res.json().data.every((e: { attributes: { tenantId: string } }) => e.attributes.tenantId === alpha)).toBe(true);
    }
  });

  it('refuses anyone else with 403, on the list and the search', async () => {
    const a = await list(plain);
    expect(a.statusCode).toBe(403);
    expect(a.json().errors[0].detail).toMatch(/audit-view/);
    expect((await search(plain, {})).statusCode).toBe(403);
    expect((await list('not-a-token')).statusCode).toBe(401);
  });

  it('keeps tenants apart: another tenant-admin sees only its own, and may not name another tenant', async () => {
    const own = await list(bravoAdmin, '?action=user.created');
    expect(own.json().data.map((e: { attributes: { tenantId: string } }) => e.attributes.tenantId)).toEqual([bravo]);
    const named = await list(bravoAdmin, `?tenantId=${alpha}`);
    expect(named.statusCode).toBe(403);
    const forwarded = await list(bravoAdmin, '', { 'x-forwarded-tenant-id': alpha });
    expect(forwarded.statusCode).toBe(403);
  });

  it('a skylight-admin reads every tenant, or one', async () => {
    const all = await list(t.adminPat, '?action=user.created&pageSize=100');
    const tenants = new Set(all.json().data.map((e: { attributes: { tenantId: string } }) => e.attributes.tenantId));
    expect(tenants.has(alpha) && tenants.has(bravo)).toBe(true);
    const one = await list(t.adminPat, `?action=user.created&tenantId=${bravo}`);
    expect(one.json().meta.total).toBe(1);
    const forwarded = await list(t.adminPat, '?action=user.created', { 'x-forwarded-tenant-id': alpha });
    expect(forwarded.json().meta.total).toBe(3);
    // The operator tenant's own bootstrap is deployment history too.
    const tenantCreated = await list(t.adminPat, `?action=tenant.created&targetId=${alpha}`);
    expect(tenantCreated.json().meta.total).toBe(1);
  });
});

describe('filters', () => {
  it('by actor, target, action prefix, outcome and request id, combined with AND', async () => {
    expect((await list(alphaAdmin.pat, `?actorId=${alphaAdmin.serviceAccountId}&action=user.created`)).json().meta.total).toBe(3);
    expect((await list(alphaAdmin.pat, `?actorKind=user&action=user.created`)).json().meta.total).toBe(0);
    expect(actions(await list(alphaAdmin.pat, `?targetType=user&targetId=${created[0]}`))).toEqual(['user.created']);
    expect((await list(alphaAdmin.pat, `?action=user.*`)).json().meta.total).toBeGreaterThanOrEqual(3);
    expect((await list(alphaAdmin.pat, `?action=user.created&outcome=failure`)).json().meta.total).toBe(0);
    expect((await list(alphaAdmin.pat, `?requestId=audit-test-1&targetId=${created[1]}`)).json().meta.total).toBe(0);
  });

  it('by time range: from inclusive, to exclusive', async () => {
    const all = (await list(alphaAdmin.pat, '?action=user.created')).json().data;
    const times = all.map((e: { attributes: { createdAt: string } }) => e.attributes.createdAt);
    // Newest first.
    expect([...times].sort().reverse()).toEqual(times);
    const newest = times[0];
    expect((await list(alphaAdmin.pat, `?action=user.created&from=${newest}`)).json().meta.total).toBeGreaterThanOrEqual(1);
    expect((await list(alphaAdmin.pat, `?action=user.created&to=${encodeURIComponent(new Date(Date.parse(times[2])).toISOString())}`)).json().meta.total).toBe(
      0,
    );
    expect((await list(alphaAdmin.pat, `?action=user.created&from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z`)).json().meta.total).toBe(0);
    expect((await list(alphaAdmin.pat, `?action=user.created&from=2000-01-01T00:00:00%2B02:00`)).json().meta.total).toBe(3);
  });

  it('the search takes the same criteria in its body and echoes them', async () => {
    const res = await search(alphaAdmin.pat, { action: 'user.created', targetId: created[2] });
    expect(res.statusCode, res.body).toBe(200);
    expect(actions(res)).toEqual(['user.created']);
    expect(res.json().bodyFilters).toEqual({ action: 'user.created', targetId: created[2] });
    expect((await search(alphaAdmin.pat, {}, '?pageSize=1')).json().data).toHaveLength(1);
  });

  it('refuses bad criteria with 400', async () => {
    for (const q of ['?from=yesterday', '?to=2026-13-01T00:00:00Z', '?outcome=maybe', '?action=a%20b', '?tenantId=nope', '?pageSize=0']) {
      const res = await list(alphaAdmin.pat, q);
      expect(res.statusCode, q).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.api\+json/);
    }
    const reversed = await list(alphaAdmin.pat, '?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    expect(reversed.statusCode).toBe(400);
    expect(reversed.json().errors[0].detail).toMatch(/from/);
    expect((await search(alphaAdmin.pat, { nope: 1 })).statusCode).toBe(400);
  });
});

describe('paging', () => {
  it('pages like every list: page, pageSize, meta and links', async () => {
    const first = await list(alphaAdmin.pat, '?action=user.created&pageSize=2');
    const body = first.json();
    expect(body.meta).toEqual({ page: 1, pageSize: 2, total: 3, totalPages: 2 });
    expect(body.data).toHaveLength(2);
    expect(body.links.next).toBe('/api/v3/audit-events?action=user.created&pageSize=2&page=2');
    expect(body.links.prev).toBeNull();
    const second = (await list(alphaAdmin.pat, body.links.next.replace('/api/v3/audit-events', ''))).json();
    expect(second.data).toHaveLength(1);
    const ids = [...body.data, ...second.data].map((e: { attributes: { targetId: string } }) => e.attributes.targetId);
    expect(new Set(ids)).toEqual(new Set(created));
  });
});

describe('a range too wide to count', () => {
  it('stops counting at the cap, says the total is a lower bound, and still pages past it', async () => {
    const { AUDIT_COUNT_CAP } = await import('../src/audit/query.js');
    const many = await createTenant(t, 'Many', 'many');
    const admin = await seedServiceAccountPat(t, many, ['tenant-admin']);
    const anchor = new Date(Math.floor(Date.now() / 1000) * 1000);
    await t.db.pool.query(
      `INSERT INTO "AuditEvent" ("id", "tenantId", "actorKind", "action", "targetType", "createdAt")
       SELECT gen_random_uuid(), $1, 'system', 'bulk.test', 'none', $3::timestamptz - make_interval(secs => n) FROM generate_series(1, $2::int) n`,
      [many, AUDIT_COUNT_CAP + 250, anchor.toISOString()],
    );
    const first = await list(admin.pat, '?action=bulk.test&pageSize=500');
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().meta).toMatchObject({ total: AUDIT_COUNT_CAP, totalIsLowerBound: true });
    expect(first.json().links.next).toContain('page=2');
    // Past the counted pages: the remaining 250 events, and no next page after them.
    const past = await list(admin.pat, `?action=bulk.test&pageSize=500&page=${AUDIT_COUNT_CAP / 500 + 1}`);
    expect(past.statusCode, past.body).toBe(200);
    expect(past.json().data).toHaveLength(250);
    expect(past.json().links.next).toBeNull();
    // A narrow filter is counted exactly, without the flag.
    const narrow = await list(admin.pat, `?action=bulk.test&to=${new Date(anchor.getTime() - (AUDIT_COUNT_CAP + 200) * 1000).toISOString()}`);
    expect(narrow.json().meta.total).toBe(50);
    expect(narrow.json().meta).not.toHaveProperty('totalIsLowerBound');
  });
});
