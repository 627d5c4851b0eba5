// Every /api operation the app registers (app.routeTable, so routes added later are
// covered without editing this file) × every kind of principal, against the route's
// declared auth level. Path parameters are filled with resources of tenant A found by
// naming convention (segment "serviceaccounts" -> table ServiceAccount, a child row
// belonging to its parent); a parameter with no sample fails the test, never skipped.
// Refusals must change nothing; any success across tenants fails the build.
import { createTestIdp } from './helpers/saml-idp.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';

type Level = 'none' | 'user' | 'admin' | 'sky';
interface Route {
  method: string;
  url: string;
  auth: Level;
}

let t: TestApp;
let tenantA: string;
let tenantB: string;
const tokens: Record<string, string> = {};
/** Samples for parameters no table names (not ids). */
const valueSamples: Record<string, () => string> = {
  subdomain: () => 'tenant-a',
  roleName: () => 'tenant-user',
  // Certificates are issued from a CSR (binary body), which the generic creator does not build.
  serialNum: () => '1234567',
  ocspRequest: () => 'MAA%3D',
};
/** Path segments whose table is not named after them. */
const ALIASES: Record<string, string> = {
  pats: 'personalaccesstoken',
  keys: 'serviceaccountkey',
  groups: 'usergroup',
  tenantidentity: 'tenantidentity',
  roles: 'customrole',
  saml: 'identityprovider',
  oidc: 'identityprovider',
  sessions: 'browsersession',
};

const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * Routes whose only credential is a client certificate (RenewCerts: "the certificate's own
 * holder"): every bearer principal the level admits is still refused, with 403.
 */
const CERTIFICATE_ONLY = new Set(['POST /api/v3/certs/renew']);

/**
 * Routes whose handler asks for a feature role on top of the level (the audit log: audit-view,
 * or tenant-admin): the level's principals without it are refused there with 403.
 */
const FEATURE_ROLE_GATED = new Set(['GET /api/v3/audit-events', 'POST /api/v3/audit-events/search']);

let tables: { name: string; columns: string[] }[] = [];

beforeAll(async () => {
  t = await startTestApp();
  tenantA = await createTenant(t, 'Tenant A', 'tenant-a');
  tenantB = await createTenant(t, 'Tenant B', 'tenant-b');
  tokens.sky = t.adminPat;
  tokens.adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
  tokens.userA = (await seedServiceAccountPat(t, tenantA, ['tenant-user'])).pat;
  tokens.adminB = (await seedServiceAccountPat(t, tenantB, ['tenant-admin'])).pat;
  await t.db.prisma.customRole.create({ data: { tenantId: tenantA, name: 'Auditor', featureRoles: [] } });
  // A SAML IdP of tenant A (multipart, which the generic creator does not build).
  const idp = await createTestIdp('https://idp.tenant-a.test/metadata');
  const added = await t.app.inject({
    method: 'POST',
    url: '/api/v3/idps/saml',
    headers: { authorization: `Bearer ${t.adminPat}`, 'x-forwarded-tenant-id': tenantA, 'content-type': 'multipart/form-data; boundary=b0' },
    payload: `--b0\r\nContent-Disposition: form-data; name="name"\r\n\r\nIdP A\r\n--b0\r\nContent-Disposition: form-data; name="metadataXmlFile"; filename="idp.xml"\r\nContent-Type: application/xml\r\n\r\n${idp.metadata}\r\n--b0--\r\n`,
  });
  if (added.statusCode !== 200) throw new Error(`IdP seed failed: ${added.statusCode} ${added.body}`);
  tokens.customA = (await seedServiceAccountPat(t, tenantA, ['Auditor'])).pat;
  tokens.expiredAdminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'], { expiresAt: new Date(Date.now() - 1000) })).pat;
  const revoked = await seedServiceAccountPat(t, tenantA, ['tenant-admin']);
  tokens.revokedAdminA = revoked.pat;
  const del = await call(t.app, t.adminPat, 'DELETE', `/api/v3/serviceaccounts/${revoked.serviceAccountId}/pats/${revoked.patId}`, undefined, {
    'x-forwarded-tenant-id': tenantA,
  });
  expect(del.statusCode).toBeLessThan(300);
  // Resources of tenant A that routes may name: one of each kind the API can create here.
  const sa = await seedServiceAccountPat(t, tenantA, ['tenant-user'], { username: 'target-sa' });
  const key = await call(
    t.app,
    t.adminPat,
    'POST',
    `/api/v3/serviceaccounts/${sa.serviceAccountId}/keys`,
    { expirationDate: '2099-01-01T00:00:00Z' },
    { 'x-forwarded-tenant-id': tenantA },
  );
  expect(key.statusCode).toBe(201);
  const { rows } = await t.db.pool.query<{ table_name: string; columns: string[] }>(
    `SELECT table_name, array_agg(column_name::text) AS columns FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name`,
  );
  tables = rows.map((r) => ({ name: r.table_name, columns: r.columns }));
  // Routes merged later bring resources this file does not know: create one of each in
  // tenant A through the API itself (every create route, parents before children), with
  // a body sampled from its schema. Whatever still has no sample fails a test below.
  for (let pass = 0; pass < 2; pass++) {
    for (const r of routes().filter((x) => x.method === 'POST' && (x.auth === 'admin' || x.auth === 'user') && !/search|accept-terms/.test(x.url))) {
      const path = await concretePath(r.url).catch(() => undefined);
      if (path) await call(t.app, tokens.adminA, 'POST', path, bodyFor(r));
    }
  }
  // Browser sessions come from logins, not from a create route: one for the user the routes name.
  const user = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId: tenantA }, orderBy: { createdAt: 'desc' } });
  const now = new Date();
  await t.db.prisma.browserSession.create({
    data: {
      tenantId: tenantA,
      userId: user.id,
      tokenHash: randomUUID(),
      amr: ['pwd'],
      authTime: now,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + 3600_000),
    },
  });
});
afterAll(() => t?.close());

const routes = (): Route[] => t.app.routeTable.filter((r) => r.url.startsWith('/api/')) as Route[];

/** The table a path segment names ("serviceaccounts" -> ServiceAccount). */
function tableFor(segment: string) {
  const s = norm(segment);
  const wanted = ALIASES[s] ?? s;
  return tables.find((tb) => [wanted, wanted.replace(/s$/, ''), wanted.replace(/ies$/, 'y')].includes(norm(tb.name)));
}

/** Fills the path with tenant A's resources; throws naming the parameter it cannot fill. */
async function concretePath(url: string): Promise<string> {
  const parts = url.split('/');
  let parent: { table: string; id: string } | undefined;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (!p.startsWith(':')) continue;
    const name = p.slice(1);
    if (valueSamples[name]) {
      parts[i] = valueSamples[name]!();
      continue;
    }
    const table = tableFor(parts[i - 1] ?? '');
    if (!table) throw new Error(`no table for parameter ${p} of ${url}: add an alias or a value sample`);
    if (table.name === 'Tenant') {
      parts[i] = tenantA;
      parent = { table: 'Tenant', id: tenantA };
      continue;
    }
    const where = [`"tenantId" = $1`];
    const args = [tenantA];
    if (parent && parent.table !== 'Tenant') {
      const fk = table.columns.find((c) => norm(c) === norm(parent!.table) + 'id');
      if (fk) {
        where.push(`"${fk}"::text = $2`);
        args.push(parent.id);
      }
    }
    if (!table.columns.includes('tenantId')) throw new Error(`table ${table.name} (parameter ${p} of ${url}) has no tenantId`);
    const { rows } = await t.db.pool.query(
      `SELECT id::text AS id FROM "${table.name}" WHERE ${where.join(' AND ')} ORDER BY "createdAt" DESC NULLS LAST LIMIT 1`,
      args,
    );
    if (!rows[0]) throw new Error(`no ${table.name} of tenant A to fill ${p} of ${url}: seed one in beforeAll`);
    parts[i] = rows[0].id;
    parent = { table: table.name, id: rows[0].id };
  }
  return parts.join('/');
}

/** The same path with ids of nothing: reaching the handler proves authorisation passed, without touching fixtures. */
const absentPath = (url: string) => url.replace(/:([A-Za-z]+)/g, (_m, name: string) => (valueSamples[name] ? 'absent-subdomain' : randomUUID()));

/** A minimal body valid against the operation's request schema, so that only authorisation can refuse it. */
function sample(schema: any, name = ''): unknown {
  if (!schema || typeof schema !== 'object') return {};
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  if (schema.default !== undefined) return schema.default;
  const alt = schema.anyOf ?? schema.oneOf;
  if (alt) return sample(alt.find((a: any) => a.type !== 'null') ?? alt[0], name);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((a: any) => sample(a, name)));
  const type = Array.isArray(schema.type) ? schema.type.find((x: string) => x !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of schema.required ?? []) out[key] = sample(schema.properties?.[key], key);
      return out;
    }
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => sample(schema.items, name));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    case 'string': {
      if (schema.format === 'date-time') return '2099-01-01T00:00:00Z';
      if (schema.format === 'uuid') return randomUUID();
      if (schema.format === 'email') return 'matrix@example.com';
      if (schema.format === 'uri') return 'https://example.com/';
      const base = `matrix${name.replace(/[^a-z]/gi, '').toLowerCase()}`;
      return base.padEnd(schema.minLength ?? 1, 'x').slice(0, schema.maxLength ?? 64);
    }
    default:
      return {};
  }
}

let openapi: any;
function bodyFor(route: Route): unknown {
  if (route.method === 'GET' || route.method === 'DELETE') return undefined;
  openapi ??= t.app.swagger();
  const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
  const content = openapi.paths?.[path]?.[route.method.toLowerCase()]?.requestBody?.content ?? {};
  const schema = (Object.values(content)[0] as any)?.schema;
  return schema ? sample(schema) : {};
}

async function send(route: Route, path: string, token: string | undefined, headers: Record<string, string> = {}) {
  return call(t.app, token, route.method as never, path, bodyFor(route), headers);
}

const label = (r: Route) => `${r.method} ${r.url} [${r.auth}]`;

describe('authorization matrix', () => {
  it('covers at least the routes known today, every one declaring a level', () => {
    const all = routes();
    expect(all.length).toBeGreaterThanOrEqual(20);
    for (const r of all) expect(['none', 'user', 'admin', 'sky'], label(r)).toContain(r.auth);
  });

  it('can fill every path parameter with a resource of tenant A', async () => {
    const failures: string[] = [];
    for (const r of routes()) await concretePath(r.url).catch((e: Error) => failures.push(e.message));
    expect(failures).toEqual([]);
  });

  // A database snapshot before and after every refused request of every route: minutes on a busy machine.
  it('refuses, and changes nothing, for every principal the level excludes', async () => {
    const wrong: string[] = [];
    for (const r of routes()) {
      if (r.auth === 'none') continue; // public: nothing to refuse (covered below)
      const path = await concretePath(r.url);
      const hasParams = r.url.includes(':');
      const cases: [string, string | undefined, Record<string, string>, number[]][] = [
        ['anonymous', undefined, {}, [401]],
        ['forged PAT', 'pca_' + 'A'.repeat(46), {}, [401]],
        ['expired PAT of a tenant-admin', tokens.expiredAdminA, {}, [401]],
        ['revoked PAT of a tenant-admin', tokens.revokedAdminA, {}, [401]],
        ['tenant-admin of B naming A', tokens.adminB, { 'x-forwarded-tenant-id': tenantA }, [403, 404]],
      ];
      if (hasParams) cases.push(["tenant-admin of B on A's resource", tokens.adminB, {}, [403, 404]]);
      if (r.auth === 'admin' || r.auth === 'sky') {
        cases.push(['tenant-user of A', tokens.userA, {}, [403]], ['custom-role account of A', tokens.customA, {}, [403]]);
      }
      if (r.auth === 'sky') cases.push(['tenant-admin of A', tokens.adminA, {}, [403]]);
      for (const [who, token, headers, allowed] of cases) {
        const before = await snapshot(t.db);
        const res = await send(r, path, token, headers);
        if (!allowed.includes(res.statusCode)) wrong.push(`${label(r)} by ${who}: ${res.statusCode} ${res.body.slice(0, 160)}`);
        else if (res.json().errors?.[0]?.status !== String(res.statusCode)) wrong.push(`${label(r)} by ${who}: no JSON:API error body`);
        const after = await snapshot(t.db);
        const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
        if (changed.length) wrong.push(`${label(r)} by ${who}: refused yet changed ${changed.join(', ')}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 300_000);

  it('lets every principal the level admits through authorisation', async () => {
    const wrong: string[] = [];
    for (const r of routes()) {
      const path = absentPath(r.url);
      const admitted: [string, string | undefined, Record<string, string>][] = [['skylight-admin', tokens.sky, {}]];
      if (r.auth === 'none') admitted.push(['anonymous', undefined, {}]);
      if (r.auth === 'user' || r.auth === 'admin') admitted.push(['tenant-admin of A', tokens.adminA, {}]);
      if (r.auth === 'user') admitted.push(['tenant-user of A', tokens.userA, {}], ['custom-role account of A', tokens.customA, {}]);
      for (const [who, token, headers] of admitted) {
        const res = await send(r, path, token, headers);
        // 'user' routes may still check "admin, or the subject itself" in the handler: 403 there is that check.
        // Public routes may still want a credential of their own (validate-token): only a 5xx is wrong there.
        if (r.auth === 'none') {
          if (res.statusCode >= 500) wrong.push(`${label(r)} by ${who}: ${res.statusCode}`);
          continue;
        }
        if (CERTIFICATE_ONLY.has(`${r.method} ${r.url}`)) {
          if (res.statusCode !== 403) wrong.push(`${label(r)} by ${who}: ${res.statusCode} (a bearer credential must be refused with 403)`);
          continue;
        }
        const refused =
          res.statusCode === 401 ||
          (res.statusCode === 403 &&
            !(r.auth === 'user' && r.url.includes(':') && who !== 'tenant-admin of A' && who !== 'skylight-admin') &&
            !(FEATURE_ROLE_GATED.has(`${r.method} ${r.url}`) && who !== 'tenant-admin of A' && who !== 'skylight-admin'));
        if (refused || res.statusCode >= 500) wrong.push(`${label(r)} by ${who}: ${res.statusCode} ${res.body.slice(0, 160)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('sends bodies that pass validation, so that only authorisation can refuse them', async () => {
    const invalid: string[] = [];
    for (const r of routes().filter((x) => x.method !== 'GET' && x.method !== 'DELETE' && x.auth !== 'none')) {
      const res = await send(r, absentPath(r.url), tokens.sky, { 'x-forwarded-tenant-id': tenantA });
      const pointer = res.statusCode === 400 ? res.json().errors?.[0]?.source?.pointer : undefined;
      if (pointer !== undefined) invalid.push(`${label(r)}: ${res.body.slice(0, 200)}`);
    }
    expect(invalid).toEqual([]);
  });

  it('lets no credential of tenant B read tenant A through any route', async () => {
    // Reads of A's resources by B, in every form the API takes a tenant: path id, header, both.
    const leaks: string[] = [];
    for (const r of routes().filter((x) => x.method === 'GET' && x.auth !== 'none')) {
      const path = await concretePath(r.url);
      for (const headers of [{}, { 'x-forwarded-tenant-id': tenantA }] as Record<string, string>[]) {
        const res = await send(r, path, tokens.adminB, headers);
        if (res.statusCode < 300 && (r.url.includes(':') || Object.keys(headers).length) && res.body.includes(tenantA)) {
          leaks.push(`${label(r)} ${JSON.stringify(headers)}: ${res.statusCode} ${res.body.slice(0, 160)}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });
});
