// Bad input for every operation of the OpenAPI document (so routes added later are
// covered without editing this file): wrong types, missing and extra fields, huge
// and deeply nested values, invalid UTF-8, odd Unicode, out-of-range numbers,
// duplicate keys, wrong media types. Every answer must be a 4xx (never a 5xx, never a
// hang) with a JSON:API error body under /api, and a refused request changes nothing.
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, snapshot, startTestApp, type TestApp } from './helpers/app.js';

interface Operation {
  method: string;
  path: string;
  params: { name: string; in: string }[];
  hasBody: boolean;
}

let t: TestApp;
let ops: Operation[] = [];
let tenantId: string;

const RUNS = Number(process.env.FUZZ_RUNS ?? 25);

beforeAll(async () => {
  t = await startTestApp();
  tenantId = await createTenant(t, 'Fuzz', 'fuzz');
  const doc = t.app.swagger() as { paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: unknown }>> };
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      ops.push({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        hasBody: Boolean(op.requestBody) || ['POST', 'PUT', 'PATCH'].includes(method.toUpperCase()),
      });
    }
  }
  ops = ops.filter((o) => !o.path.startsWith('/docs'));
});
afterAll(() => t?.close());

const hugeString = fc.constant('x'.repeat(200_000));
const oddUnicode = fc.constantFrom(
  '\u0000',
  '\uFEFF',
  '\u202E',
  '\uD800',
  '𝔘𝔫𝔦',
  '../../etc/passwd',
  '%00',
  "' OR 1=1 --",
  '<script>',
  'Ａ',
  '\u0301'.repeat(50),
);
const weirdNumber = fc.constantFrom(-1, 0, 1e308, -1e308, 2 ** 53 + 1, 1.5, Number.MAX_SAFE_INTEGER);
const deepNesting = fc.integer({ min: 500, max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n));

const badScalar = fc.oneof(
  fc.string(),
  oddUnicode,
  weirdNumber,
  fc.boolean(),
  fc.constant(null),
  hugeString.map((s) => s.slice(0, 5000)),
);
const badBody: fc.Arbitrary<{ payload: string | Buffer; type: string }> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ payload: JSON.stringify(v) ?? 'null', type: 'application/vnd.api+json' })),
  fc
    .record({ data: fc.record({ type: badScalar, attributes: fc.dictionary(fc.string({ maxLength: 20 }), badScalar) }) }, { requiredKeys: [] })
    .map((v) => ({ payload: JSON.stringify(v), type: 'application/json' })),
  fc.dictionary(fc.string({ maxLength: 20 }), badScalar).map((v) => ({ payload: JSON.stringify(v), type: 'application/json' })),
  deepNesting.map((payload) => ({ payload, type: 'application/json' })),
  hugeString.map((s) => ({ payload: JSON.stringify({ data: { attributes: { name: s } } }), type: 'application/json' })),
  fc.constant({ payload: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]), type: 'application/json' }),
  fc.constant({ payload: '{"data":{"attributes":{"name":"a","name":"b"}},"data":1}', type: 'application/json' }),
  fc.constant({ payload: '{"__proto__":{"isAdmin":true}}', type: 'application/json' }),
  fc.constant({ payload: '{"constructor":{"prototype":{"x":1}}}', type: 'application/json' }),
  fc.string().map((payload) => ({ payload, type: 'text/plain' })),
  fc.string().map((payload) => ({ payload, type: 'application/x-www-form-urlencoded' })),
  fc.constant({ payload: '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b SYSTEM "file:///etc/passwd">]><a>&b;</a>', type: 'application/xml' }),
  fc.constant({ payload: '', type: 'application/json' }),
);

const badPathValue = fc.oneof(
  fc.string({ minLength: 1 }),
  oddUnicode,
  fc.constant('9'.repeat(40)),
  fc.constant('00000000-0000-7000-8000-000000000000'),
  fc.constant('a'.repeat(1500)),
);
const badQuery = fc.dictionary(
  fc.constantFrom('page', 'pageSize', 'NameFilter', 'filter', 'withPAT', 'roles', 'format', 'certduration', 'x'),
  fc.oneof(fc.string(), weirdNumber.map(String), oddUnicode, fc.constant('(a+)+$'), fc.constant('[')),
);

// Lone surrogates cannot be URI-encoded; send the bytes of an invalid UTF-8 sequence instead.
function encode(value: string) {
  try {
    return encodeURIComponent(value);
  } catch {
    return '%ED%A0%80';
  }
}

function urlFor(op: Operation, pathValue: string, query: Record<string, string>) {
  const path = op.path.replace(/\{[^}]+\}/g, () => encode(pathValue).replace(/%2F/gi, '%252F'));
  const qs = Object.entries(query)
    .map(([k, v]) => `${encode(k)}=${encode(v)}`)
    .join('&');
  return qs ? `${path}?${qs}` : path;
}

function checkResponse(op: Operation, res: { statusCode: number; body: string; headers: Record<string, unknown> }, label: string) {
  expect(res.statusCode, `${label} -> ${res.statusCode} ${res.body.slice(0, 300)}`).toBeLessThan(500);
  if (res.statusCode >= 400 && op.path.startsWith('/api/') && !op.path.startsWith('/api/v3/session/') && !op.path.startsWith('/api/v3/certs/ocsp')) {
    const body = JSON.parse(res.body);
    expect(Array.isArray(body.errors), `${label}: JSON:API error body`).toBe(true);
    expect(body.errors[0].status).toBe(String(res.statusCode));
  }
}

describe('bad input on every operation', () => {
  it('the OpenAPI document lists operations to fuzz', () => {
    expect(ops.length).toBeGreaterThan(10);
  });

  it('never answers 5xx, answers JSON:API errors, and changes nothing when it refuses', async () => {
    const headersSets = [{ authorization: `Bearer ${t.adminPat}`, 'x-forwarded-tenant-id': tenantId }, { authorization: `Bearer ${t.adminPat}` }, {}];
    for (const op of ops) {
      const before = await snapshot(t.db);
      let allRefused = true;
      await fc.assert(
        fc.asyncProperty(badPathValue, badQuery, badBody, fc.constantFrom(...headersSets), async (pathValue, query, body, headers) => {
          const req: InjectOptions = { method: op.method as never, url: urlFor(op, pathValue, query), headers: { ...headers } };
          if (op.hasBody) {
            req.payload = body.payload;
            (req.headers as Record<string, string>)['content-type'] = body.type;
          }
          const res = await t.app.inject(req);
          checkResponse(op, res, `${op.method} ${String(req.url).slice(0, 120)}`);
          if (res.statusCode < 400) allRefused = false;
        }),
        { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 42) },
      );
      if (allRefused) expect(await snapshot(t.db), `${op.method} ${op.path} changed the database`).toEqual(before);
    }
  }, 600_000);
});
