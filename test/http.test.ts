import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { loadConfig } from '../src/platform/config.js';
import { loggerOptions } from '../src/platform/logger.js';
import { call, snapshot, startTestApp, TEST_ENV, type TestApp } from './helpers/app.js';
import { freshDatabase } from './helpers/db.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ BODY_LIMIT: '2048', CORS_ORIGINS: 'https://ui.iam.test' });
});
afterAll(() => t?.close());

describe('request handling', () => {
  it('answers malformed JSON with 400 and changes nothing', async () => {
    const before = await snapshot(t.db);
    const res = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', '{"data": {"attributes": {"name": "x"');
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0]).toMatchObject({ status: '400' });
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('answers an oversized body with 413', async () => {
    const before = await snapshot(t.db);
    const res = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', { data: { attributes: { name: 'x'.repeat(5000) } } });
    expect(res.statusCode).toBe(413);
    expect(res.json().errors[0]).toMatchObject({ status: '413', code: 'payload_too_large' });
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('answers a wrong media type with 415', async () => {
    const res = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', 'name=x', { 'content-type': 'text/plain' });
    expect(res.statusCode).toBe(415);
    expect(res.json().errors[0].code).toBe('unsupported_media_type');
  });

  it('accepts application/json as well as JSON:API', async () => {
    const res = await call(
      t.app,
      t.adminPat,
      'POST',
      '/api/v3/tenants',
      { data: { attributes: { name: 'Plain JSON' } } },
      { 'content-type': 'application/json' },
    );
    expect(res.statusCode).toBe(201);
  });

  it('lists every invalid field with a JSON pointer', async () => {
    const before = await snapshot(t.db);
    const res = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', {
      data: { attributes: { name: 5, subdomain: 'Bad Label', passwordPolicy: { minLength: 2 } } },
    });
    expect(res.statusCode).toBe(400);
    const pointers = res.json().errors.map((e: { source: { pointer: string } }) => e.source.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/data/attributes/name', '/data/attributes/subdomain', '/data/attributes/passwordPolicy/minLength']));
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('refuses unknown attributes and prototype pollution', async () => {
    const extra = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', { data: { attributes: { name: 'x', isOperator: true } } });
    expect(extra.statusCode).toBe(400);
    const proto = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', '{"data":{"attributes":{"name":"x","__proto__":{"a":1}}}}');
    expect(proto.statusCode).toBe(400);
  });

  it('answers an unknown route with a JSON:API 404', async () => {
    const res = await call(t.app, t.adminPat, 'GET', '/api/v3/nothing-here');
    expect(res.statusCode).toBe(404);
    expect(res.json().errors[0].code).toBe('not_found');
  });

  it('answers an id that is not a UUID with 404, not 500', async () => {
    expect((await call(t.app, t.adminPat, 'GET', '/api/v3/tenants/not-a-uuid')).statusCode).toBe(404);
    expect((await call(t.app, t.adminPat, 'GET', `/api/v3/tenants/${'9'.repeat(64)}`)).statusCode).toBe(404);
  });
});

describe('response headers', () => {
  it('sets strict security headers on every response', async () => {
    for (const url of ['/api/v3/health/liveness', '/api/v3/tenants', '/nope']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    }
  });

  it('returns a request id, echoing a well-formed incoming one', async () => {
    const mine = await t.app.inject({ method: 'GET', url: '/api/v3/health/liveness', headers: { 'x-request-id': 'abc-123' } });
    expect(mine.headers['x-request-id']).toBe('abc-123');
    const hostile = await t.app.inject({ method: 'GET', url: '/api/v3/health/liveness', headers: { 'x-request-id': 'a b\u0001<script>' } });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers CORS preflights only for configured origins', async () => {
    const ok = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v3/tenants',
      headers: { origin: 'https://ui.iam.test', 'access-control-request-method': 'GET' },
    });
    expect(ok.headers['access-control-allow-origin']).toBe('https://ui.iam.test');
    const other = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v3/tenants',
      headers: { origin: 'https://evil.test', 'access-control-request-method': 'GET' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('health and operations', () => {
  it('liveness and readiness answer "OK" as JSON', async () => {
    for (const url of ['/api/v3/health/liveness', '/api/v3/health/readiness']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('application/json');
      expect(res.json()).toBe('OK');
    }
  });

  it('readiness is 503 when migrations are missing', async () => {
    const db = await freshDatabase({ migrated: false });
    await db.pool.query(
      `CREATE TABLE "_prisma_migrations" (id varchar(36), checksum varchar(64), finished_at timestamptz, migration_name varchar(255), logs text, rolled_back_at timestamptz, started_at timestamptz, applied_steps_count int)`,
    );
    const app = await buildApp({ config: loadConfig(TEST_ENV), db, masterKey: randomBytes(32), logger: false });
    try {
      const res = await app.inject({ method: 'GET', url: '/api/v3/health/readiness' });
      expect(res.statusCode).toBe(503);
      expect(res.json().errors[0].status).toBe('503');
    } finally {
      await app.close();
      await db.close();
    }
  });

  it('exposes Prometheus metrics by route and status, and the database pool', async () => {
    await t.app.inject({ method: 'GET', url: '/api/v3/health/liveness' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/http_requests_total\{method="GET",route="\/api\/v3\/health\/liveness",status="200"\} \d+/);
    expect(res.body).toContain('http_request_duration_seconds_bucket');
    expect(res.body).toContain('db_pool_connections_total');
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(doc.json().paths['/api/v3/tenants']).toBeDefined();
    const ui = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
  });
});

describe('logging', () => {
  it('never writes credentials to the log', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _e, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const db = await freshDatabase();
    const app = await buildApp({ config: loadConfig(TEST_ENV), db, masterKey: randomBytes(32), logger: { ...loggerOptions('trace'), stream } });
    try {
      await app.inject({ method: 'GET', url: '/api/v3/tenants', headers: { authorization: 'Bearer pca_SECRETSECRETSECRET', cookie: 'session=SECRETCOOKIE' } });
      const log = lines.join('');
      expect(log).toContain('incoming request');
      expect(log).not.toContain('SECRETSECRET');
      expect(log).not.toContain('SECRETCOOKIE');
    } finally {
      await app.close();
      await db.close();
    }
  });
});
