import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/http/app.js';
import { bootstrap } from '../../src/bootstrap/bootstrap.js';
import { loadConfig, type Config } from '../../src/platform/config.js';
import type { Database } from '../../src/platform/db.js';
import { generatePat, hashPat } from '../../src/principals/pat.js';
import { freshDatabase } from './db.js';
import { captureErrorBodies, testLogger } from './log-capture.js';

export const TEST_ENV = {
  BASE_DOMAIN: 'iam.test',
  PUBLIC_URL: 'http://auth.iam.test',
  LOG_LEVEL: 'silent',
  ARGON2_MEMORY_KIB: '8192',
  ARGON2_ITERATIONS: '1',
};

export interface TestApp {
  app: FastifyInstance;
  db: Database;
  config: Config;
  /** PAT of the operator service account (skylight-admin). */
  adminPat: string;
  operatorTenantId: string;
  close(): Promise<void>;
}

export async function startTestApp(env: Record<string, string> = {}, opts: { masterKey?: Buffer } = {}): Promise<TestApp> {
  const config = loadConfig({ ...TEST_ENV, ...env });
  const db = await freshDatabase();
  const app = await buildApp({ config, db, masterKey: opts.masterKey ?? randomBytes(32), logger: testLogger() });
  captureErrorBodies(app, config.DATA_DIR);
  await app.ready();
  const boot = await bootstrap(db, config);
  if (!boot?.pat) throw new Error('bootstrap did not run');
  return {
    app,
    db,
    config,
    adminPat: boot.pat,
    operatorTenantId: boot.tenantId,
    async close() {
      await app.close();
      await db.close();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** app.inject with a bearer token; JSON bodies are sent as JSON:API. */
export function call(
  app: FastifyInstance,
  token: string | undefined,
  method: InjectOptions['method'],
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    headers: {
      ...(token ? bearer(token) : {}),
      ...(body !== undefined ? { 'content-type': 'application/vnd.api+json' } : {}),
      ...headers,
    },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Creates a tenant through the operator API and returns its id. */
export async function createTenant(t: TestApp, name: string, subdomain?: string): Promise<string> {
  const res = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', {
    data: { type: 'tenants', attributes: { name, ...(subdomain ? { subdomain } : {}) } },
  });
  if (res.statusCode !== 201) throw new Error(`tenant create failed: ${res.statusCode} ${res.body}`);
  return res.json().data.id;
}

/**
 * Seeds a service account with the given roles and returns a PAT for it. Service
 * accounts have their own routes in a later issue; the foundation seeds them directly.
 */
export async function seedServiceAccountPat(
  t: TestApp,
  tenantId: string,
  roles: string[],
  opts: { expiresAt?: Date; username?: string } = {},
): Promise<{ pat: string; serviceAccountId: string; patId: string }> {
  const username = opts.username ?? `sa-${randomBytes(4).toString('hex')}`;
  const pat = generatePat();
  const sa = await t.db.prisma.serviceAccount.create({
    data: {
      tenantId,
      name: username,
      username,
      roles: { create: roles.map((roleName) => ({ roleName })) },
      pats: { create: { tokenHash: hashPat(pat), expiresAt: opts.expiresAt ?? new Date(Date.now() + 3600_000) } },
    },
    include: { pats: true },
  });
  return { pat, serviceAccountId: sa.id, patId: sa.pats[0]!.id };
}

/**
 * Row counts of every table: equal before and after means a refused request changed nothing.
 * Bookkeeping of the attempt itself is left out: the audit log records refused attempts too,
 * and a PAT's lastUsedAt is noted when it is verified, whatever the request then does.
 */
export async function snapshot(db: Database): Promise<Record<string, string>> {
  const { rows: tables } = await db.pool.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'AuditEvent' ORDER BY tablename`,
  );
  const out: Record<string, string> = {};
  for (const { tablename } of tables) {
    const row = tablename === 'PersonalAccessToken' ? `(to_jsonb(t) - 'lastUsedAt')::text` : 't::text';
    const { rows } = await db.pool.query(`SELECT md5(coalesce(string_agg(${row}, '|' ORDER BY ${row}), '')) AS h FROM "${tablename}" t`);
    out[tablename] = rows[0].h;
  }
  return out;
}
