// The production logger, at trace level, with requests that carry every kind of
// credential in every place a client can put one: nothing of them reaches a log line
// or an error body. Also proves the scanner used on the whole suite's logs finds them.
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { bootstrap } from '../src/bootstrap/bootstrap.js';
import { loadConfig } from '../src/platform/config.js';
import { loggerOptions } from '../src/platform/logger.js';
import type { Database } from '../src/platform/db.js';
import { generatePat } from '../src/principals/pat.js';
import { TEST_ENV } from './helpers/app.js';
import { freshDatabase } from './helpers/db.js';
import { LEAK_MESSAGE, leakedInternals, scanForInternals, scanForSecrets } from './helpers/secret-scan.js';
import type { FastifyInstance } from 'fastify';

let db: Database;
let app: FastifyInstance;
let adminPat: string;
const lines: string[] = [];
const bodies: string[] = [];

beforeAll(async () => {
  db = await freshDatabase();
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const config = loadConfig(TEST_ENV);
  app = await buildApp({ config, db, masterKey: randomBytes(32), logger: { ...loggerOptions('trace'), stream } });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode >= 400) bodies.push(String(payload));
    return payload;
  });
  await app.ready();
  adminPat = (await bootstrap(db, config))!.pat!;
});
afterAll(async () => {
  await app?.close();
  await db?.close();
});

const PASSWORD = 'Sup3r-Secret-Passw0rd!';
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----';

describe('secrets in logs and error bodies', () => {
  it('the scanner finds each kind of secret', () => {
    const pat = generatePat();
    const planted = [
      pat,
      `"authorization":"Bearer ${pat}"`,
      'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl',
      PEM.split('\n')[0],
      '"url":"/x?refresh_token=abcdef"',
      '"client_secret":"abcdefgh"',
      `"x":"${PASSWORD}"`,
    ];
    for (const p of planted) expect(scanForSecrets(`{"msg":"x","v":${JSON.stringify(p)}}\n` + p, [PASSWORD]), p).not.toEqual([]);
    expect(scanForSecrets('{"authorization":"[redacted]","password":"[redacted]"}')).toEqual([]);
  });

  it('requests carrying credentials everywhere leave none in the logs or error bodies', async () => {
    const pat = generatePat();
    const requests = [
      { method: 'GET', url: '/api/v3/tenants', headers: { authorization: `Bearer ${adminPat}` } },
      { method: 'GET', url: '/api/v3/tenants', headers: { authorization: `Bearer ${pat}` } },
      { method: 'GET', url: '/api/v3/tenants', headers: { authorization: `Basic ${Buffer.from('admin:' + PASSWORD).toString('base64')}` } },
      { method: 'GET', url: '/api/v3/session/validate-token', headers: { authorization: `Bearer ${pat}`, cookie: `session=${pat}` } },
      {
        method: 'POST',
        url: '/api/v3/tenants',
        headers: { authorization: `Bearer ${adminPat}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ password: PASSWORD, client_secret: PASSWORD, privateKey: PEM, token: pat }),
      },
      // Malformed JSON: the parser's message must not echo the body back.
      {
        method: 'POST',
        url: '/api/v3/tenants',
        headers: { authorization: `Bearer ${adminPat}`, 'content-type': 'application/json' },
        payload: `{"password":"${PASSWORD}", "pat":"${pat}"`,
      },
      {
        method: 'POST',
        url: '/api/v3/tenants',
        headers: { authorization: `Bearer ${adminPat}`, 'content-type': 'application/json' },
        payload: `${pat} ${PASSWORD}`,
      },
      { method: 'GET', url: `/api/v3/tenants?access_token=${pat}&password=${encodeURIComponent(PASSWORD)}`, headers: {} },
      { method: 'GET', url: `/api/v3/serviceaccounts/${pat}`, headers: { authorization: `Bearer ${adminPat}` } },
    ];
    for (const r of requests) await app.inject(r as never);
    expect(lines.length).toBeGreaterThan(requests.length);
    const findings = scanForSecrets([...lines, ...bodies].join('\n'), [PASSWORD]);
    expect(findings).toEqual([]);
  });
});

describe('URLs with ID tokens', () => {
  it('masks id_token_hint and any JWT in a logged URL', async () => {
    const { scrubUrl } = await import('../src/platform/logger.js');
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    expect(scrubUrl(`/oidc/v1/end_session?id_token_hint=${jwt}&state=s1`)).toBe('/oidc/v1/end_session?id_token_hint=[redacted]&state=s1');
    expect(scrubUrl(`/x/${jwt}?a=${jwt}`)).not.toContain('c2lnbmF0dXJl');
  });
});

describe('server internals in response bodies', () => {
  it('the scanner finds source paths, stack frames and ORM text, and passes ordinary bodies', () => {
    const roots = ['/srv/iam/', '/var/lib/iam'];
    const planted = [
      '{"detail":"cannot open /srv/iam/src/export/outputs.ts"}',
      '{"detail":"ENOENT: no such file or directory, open \'/var/lib/iam/exports/x.json\'"}',
      '{"message":"\\nInvalid `tx.user.createMany()` invocation in\\n/app/src/export/import.ts:367:80"}',
      '{"detail":"boom\\n    at writeOrg (/app/src/export/import.ts:10:5)"}',
      '{"detail":"boom\\n    at async Promise.all (index 0)\\n    at node:internal/process/task_queues:95:5"}',
      '{"detail":"require failed in /app/node_modules/pg/lib/client.js"}',
      '{"detail":"dist/index.js:12:3"}',
    ];
    for (const body of planted) expect(scanForInternals(body, roots), body).toBeDefined();
    const clean = [
      '{"errors":[{"status":"400","detail":"\\"once.json\\" already exists in the export folder; an export never replaces a file"}]}',
      '{"orgs":[{"errors":[{"type":"org","message":"a user references an identity provider that is not in the document"}]}]}',
      '<html><script src="/ui/login.js"></script><p>Sign in at least once</p></html>',
      '{"links":{"self":"https://auth.iam.test/api/v3/users?page[number]=2"}}',
    ];
    for (const body of clean) expect(scanForInternals(body, roots), body).toBeUndefined();
  });

  it('the run fails on a logged leak and on nothing else', () => {
    const leak = JSON.stringify({ level: 50, msg: LEAK_MESSAGE, method: 'POST', url: '/admin/v1/import', status: 200, leak: 'server path /srv/iam/: ...' });
    const other = JSON.stringify({ level: 50, msg: 'unhandled error', err: { stack: 'Error: x\n    at f (/srv/iam/src/a.ts:1:1)' } });
    expect(leakedInternals([other, leak].join('\n'))).toEqual(['line 2: POST /admin/v1/import -> 200: server path /srv/iam/: ...']);
    expect(leakedInternals(other)).toEqual([]);
  });
});
