// The request log as an operator reads it: one completion line per request naming the route pattern,
// status, tenant, principal and duration; the proxies' validate calls only at debug (a counter
// otherwise), so the log does not double the proxied traffic.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { buildApp } from '../src/http/app.js';
import { loadConfig } from '../src/platform/config.js';
import type { Database } from '../src/platform/db.js';
import { loggerOptions } from '../src/platform/logger.js';
import { TEST_ENV, bearer } from './helpers/app.js';
import { freshDatabase } from './helpers/db.js';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  method?: string;
  route?: string;
  path?: string;
  status?: number;
  tenantId?: string;
  principal?: { kind?: string; id: string; credential?: string };
  remoteAddress?: string;
  durationMs?: number;
}

async function appLoggingAt(db: Database, level: string): Promise<{ app: FastifyInstance; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const app = await buildApp({ config: loadConfig(TEST_ENV), db, masterKey: randomBytes(32), logger: { ...loggerOptions(level), stream } });
  await app.ready();
  return { app, lines };
}

let db: Database;
let info: { app: FastifyInstance; lines: LogLine[] };
let debug: { app: FastifyInstance; lines: LogLine[] };
let pat: string;
let tenantId: string;

beforeAll(async () => {
  db = await freshDatabase();
  const boot = (await bootstrap(db, loadConfig(TEST_ENV)))!;
  pat = boot.pat!;
  tenantId = boot.tenantId;
  info = await appLoggingAt(db, 'info');
  debug = await appLoggingAt(db, 'debug');
});
afterAll(async () => {
  await info?.app.close();
  await debug?.app.close();
  await db?.close();
});

const completions = (lines: LogLine[], reqId: string) => lines.filter((l) => l.reqId === reqId && l.msg === 'request completed');

describe('request completion line', () => {
  it('one info line per request with route pattern, status, tenant, principal and duration, and no other request line', async () => {
    const res = await info.app.inject({ method: 'GET', url: '/api/v3/tenants', headers: bearer(pat) });
    expect(res.statusCode).toBe(200);
    const reqId = String(res.headers['x-request-id']);
    const [line, ...more] = completions(info.lines, reqId);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 30, method: 'GET', route: '/api/v3/tenants', status: 200, tenantId, remoteAddress: '127.0.0.1' });
    expect(line!.principal).toMatchObject({ kind: 'serviceaccount', credential: 'pat' });
    expect(line!.principal!.id).toMatch(/\S/);
    expect(line!.durationMs).toBeGreaterThan(0);
    // Fastify's own "incoming request" / "request completed" pair is off: this is the request's only line.
    expect(info.lines.filter((l) => l.reqId === reqId)).toHaveLength(1);
  });

  it('logs the route pattern, not the identifiers or query a client put into the URL', async () => {
    const id = randomBytes(8).toString('hex');
    const res = await info.app.inject({ method: 'GET', url: `/api/v3/serviceaccounts/${id}?include=${id}`, headers: bearer(pat) });
    expect(res.statusCode).toBe(404);
    const lines = completions(info.lines, String(res.headers['x-request-id']));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ route: '/api/v3/serviceaccounts/:machineUserId', status: 404, tenantId });
    expect(JSON.stringify(lines[0])).not.toContain(id);
  });

  it('a request no route matches is logged with its path, without the query, and an anonymous one without a principal', async () => {
    const res = await info.app.inject({ method: 'GET', url: '/no/such/route?password=x' });
    expect(res.statusCode).toBe(404);
    const [line] = completions(info.lines, String(res.headers['x-request-id']));
    expect(line).toMatchObject({ route: 'unmatched', path: '/no/such/route', status: 404 });
    expect(line!.principal).toBeUndefined();
    expect(line!.tenantId).toBeUndefined();
  });
});

describe('the validate routes', () => {
  it('log nothing at info, and are counted by route and status instead', async () => {
    const route = '/api/v3/session/validate-token';
    const count = async () => {
      const text = await info.app.metrics.registry.getSingleMetricAsString('http_requests_total');
      const m = new RegExp(`http_requests_total\\{method="GET",route="${route}",status="200"\\} (\\d+)`).exec(text);
      return m ? Number(m[1]) : 0;
    };
    const before = await count();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await info.app.inject({ method: 'GET', url: route, headers: bearer(pat) });
      expect(res.statusCode).toBe(200);
      ids.push(String(res.headers['x-request-id']));
    }
    expect(info.lines.filter((l) => ids.includes(l.reqId ?? ''))).toEqual([]);
    expect(await count()).toBe(before + 3);
  });

  it('log their completion line at debug, with the tenant and principal they let through', async () => {
    for (const url of ['/api/v3/session/validate-token', '/api/v3/session/validate', '/api/v3/session/validate-cert']) {
      const res = await debug.app.inject({ method: 'GET', url, headers: bearer(pat) });
      const lines = completions(debug.lines, String(res.headers['x-request-id']));
      expect(lines, url).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 20, route: url, status: res.statusCode });
      if (url.endsWith('-token')) {
        expect(res.statusCode).toBe(200);
        expect(lines[0]).toMatchObject({ tenantId, principal: { id: res.headers['x-forwarded-user-id'] } });
      }
    }
    // Other routes stay at info when debug is on.
    const res = await debug.app.inject({ method: 'GET', url: '/api/v3/tenants', headers: bearer(pat) });
    expect(completions(debug.lines, String(res.headers['x-request-id']))[0]!.level).toBe(30);
  });
});
