import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATION_EXAMPLES } from '../src/http/openapi-examples.js';
import { call, startTestApp, type TestApp } from './helpers/app.js';
import { openApiDocument } from './helpers/openapi.js';

interface Media {
  schema?: object;
  example?: unknown;
}
interface Operation {
  operationId?: string;
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, unknown>;
}

// Operations whose success answer is binary only (DER, a tarball), which an example in the document cannot show.
const BINARY_ONLY = new Set(['CertificateRevocationList', 'OcspGet', 'OcspPost', 'BackupEmbeddedDatabase']);

const doc: Doc = JSON.parse(await openApiDocument());
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
);

/** Every example of the document with where it sits and the schema it must satisfy. */
function examples() {
  const out: { where: string; schema: object; example: unknown }[] = [];
  for (const { key, op } of operations) {
    for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
      if (media.example !== undefined) out.push({ where: `${key} request ${type}`, schema: media.schema ?? {}, example: media.example });
    }
    for (const [status, response] of Object.entries(op.responses)) {
      for (const [type, media] of Object.entries(response.content ?? {})) {
        if (media.example !== undefined) out.push({ where: `${key} ${status} ${type}`, schema: media.schema ?? {}, example: media.example });
      }
    }
  }
  return out;
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
// OpenAPI's own formats for binary bodies.
ajv.addFormat('binary', true);

describe('OpenAPI examples', () => {
  it('every example satisfies the schema it is placed under', () => {
    const all = examples();
    expect(all.length).toBeGreaterThan(400);
    const failures: string[] = [];
    for (const { where, schema, example } of all) {
      // Refs point into the document's components: validate against the schema as if it were the document's root.
      const validate = ajv.compile({ ...schema, components: doc.components });
      if (!validate(example)) failures.push(`${where}: ${ajv.errorsText(validate.errors)}`);
    }
    expect(failures).toEqual([]);
  });

  it('a schema violation is caught (the check above can fail)', () => {
    const user = doc.paths['/api/v3/users']!.post!.responses['201']!.content!['application/vnd.api+json']!;
    const broken = structuredClone(user.example) as { data: { attributes: Record<string, unknown> } };
    broken.data.attributes.state = 'sleeping';
    expect(ajv.validate({ ...user.schema, components: doc.components }, broken)).toBe(false);
  });

  it('a difference of shape between an answer and its example is caught', () => {
    expect(shapeDiff({ data: { id: 'a', name: 'x' } }, { data: { id: 'b', title: 'x' } })).toEqual([
      '/data/name: only in the answer',
      '/data/title: only in the example',
    ]);
    expect(shapeDiff({ meta: { total: '3' } }, { meta: { total: 3 } })).toEqual(['/meta/total: string against number']);
    expect(shapeDiff({ lastLoginAt: null }, { lastLoginAt: '2026-12-01T07:58:42.006Z' })).toEqual([]);
  });

  it('every operation that answers a body on success has an example of it, binary-only answers excepted', () => {
    const missing: string[] = [];
    for (const { key, op } of operations) {
      const success = Object.entries(op.responses).filter(([status, r]) => /^2/.test(status) && r.content);
      if (success.length === 0 || BINARY_ONLY.has(op.operationId!)) continue;
      if (!success.some(([, r]) => Object.values(r.content!).some((m) => m.example !== undefined))) missing.push(key);
    }
    expect(missing).toEqual([]);
    for (const id of BINARY_ONLY)
      expect(
        operations.some(({ op }) => op.operationId === id),
        id,
      ).toBe(true);
  });

  it('every request body has an example, except binary ones', () => {
    const missing = operations
      .filter(
        ({ op }) =>
          op.requestBody &&
          !Object.entries(op.requestBody.content).some(([type, m]) => m.example !== undefined || /pkcs10|ocsp-request|octet-stream/.test(type)),
      )
      .map(({ key }) => key);
    expect(missing).toEqual([]);
  });

  it('every JSON:API, SCIM and OAuth error answer has an example', () => {
    const missing: string[] = [];
    for (const { key, op } of operations) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        for (const [type, media] of Object.entries(response.content ?? {})) {
          if (type !== 'text/html' && media.example === undefined) missing.push(`${key} ${status} ${type}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('every entry of the examples table names an operation of the document', () => {
    const keys = new Set(operations.map((o) => o.key));
    expect(Object.keys(OPERATION_EXAMPLES).filter((k) => !keys.has(k))).toEqual([]);
  });
});

/**
 * Where two JSON values differ in shape: the same keys, nested, with leaves of the same type; a null matches any
 * leaf, since nullable fields (lastLoginAt...) are null in a fresh database where the example shows them set.
 */
function shapeDiff(actual: unknown, expected: unknown, at = ''): string[] {
  if (actual === null || expected === null) return [];
  if (Array.isArray(actual) || Array.isArray(expected)) {
    if (!Array.isArray(actual) || !Array.isArray(expected)) return [`${at}: array and not`];
    return actual.length && expected.length ? shapeDiff(actual[0], expected[0], `${at}/0`) : [];
  }
  if (typeof actual === 'object' && typeof expected === 'object') {
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(e)])].sort();
    return keys.flatMap((k) => (k in a && k in e ? shapeDiff(a[k], e[k], `${at}/${k}`) : [`${at}/${k}: only in ${k in a ? 'the answer' : 'the example'}`]));
  }
  return typeof actual === typeof expected ? [] : [`${at}: ${typeof actual} against ${typeof expected}`];
}

const example = (path: string, method: string, status: string) => doc.paths[path]![method]!.responses[status]!.content!;
const requestExample = (path: string, method: string) => Object.values(doc.paths[path]![method]!.requestBody!.content)[0]!.example as Record<string, unknown>;

describe('OpenAPI examples against the running server', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('create tenant: the request example is accepted and the answer has the example shape', async () => {
    const res = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', requestExample('/api/v3/tenants', 'post'));
    expect(res.statusCode, res.body).toBe(201);
    expect(shapeDiff(res.json(), example('/api/v3/tenants', 'post', '201')['application/vnd.api+json']!.example)).toEqual([]);
  });

  it('create user and list users: the request example is accepted and the answers have the example shapes', async () => {
    const created = await call(t.app, t.adminPat, 'POST', '/api/v3/users', requestExample('/api/v3/users', 'post'));
    expect(created.statusCode, created.body).toBe(201);
    const createdExample = example('/api/v3/users', 'post', '201')['application/vnd.api+json']!.example as { data: object; meta: object };
    // Without SMTP the server answers a set-password link where the example, with mail, says it mailed one.
    expect(shapeDiff(created.json().data, createdExample.data)).toEqual([]);
    expect(Object.keys(created.json().meta)).toContain('invitation');

    const listed = await call(t.app, t.adminPat, 'GET', '/api/v3/users');
    expect(listed.statusCode, listed.body).toBe(200);
    expect(shapeDiff(listed.json(), example('/api/v3/users', 'get', '200')['application/vnd.api+json']!.example)).toEqual([]);
  });

  it('token endpoint: the form example, with a real client, gets the answer the example shows', async () => {
    const sa = await call(t.app, t.adminPat, 'POST', '/api/v3/serviceaccounts', { name: 'robot', username: 'acme-robot' });
    expect(sa.statusCode, sa.body).toBe(201);
    const app = await call(t.app, t.adminPat, 'POST', '/api/v3/applications', {
      data: {
        type: 'applications',
        attributes: {
          name: 'Robot',
          clientType: 'confidential',
          tokenEndpointAuthMethod: 'client_secret_post',
          grantTypes: ['client_credentials'],
          serviceAccountId: sa.json().machineUserId,
        },
      },
    });
    expect(app.statusCode, app.body).toBe(201);
    const { clientId, clientSecret } = app.json().data.attributes;
    const form = { ...requestExample('/oauth/v2/token', 'post'), client_id: clientId, client_secret: clientSecret } as Record<string, string>;
    const res = await t.app.inject({
      method: 'POST',
      url: '/oauth/v2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(form).toString(),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(shapeDiff(res.json(), example('/oauth/v2/token', 'post', '200')['application/json']!.example)).toEqual([]);
  });

  it('the error examples say what the server says: 400 for a bad value, 401 without a credential, 404 for an unknown user', async () => {
    const bad = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', { data: { type: 'tenants', attributes: { name: 42 } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual(example('/api/v3/tenants', 'post', '400')['application/vnd.api+json']!.example);

    const unauth = await call(t.app, undefined, 'GET', '/api/v3/users');
    expect(unauth.statusCode).toBe(401);
    expect(unauth.headers['content-type']).toContain('application/vnd.api+json');
    expect(unauth.json()).toEqual(example('/api/v3/users', 'get', '401')['application/vnd.api+json']!.example);

    const missing = await call(t.app, t.adminPat, 'GET', '/api/v3/users/0193a5f2-0000-7000-8000-000000000000');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual(example('/api/v3/users/{id}', 'get', '404')['application/vnd.api+json']!.example);
  });

  it('the 403 and 409 examples have the code and shape the server answers with', async () => {
    const sa = await call(t.app, t.adminPat, 'POST', '/api/v3/serviceaccounts?withPAT=true', {
      name: 'no roles',
      username: 'no-roles',
      expirationDate: '2030-01-01T00:00:00Z',
    });
    expect(sa.statusCode, sa.body).toBe(201);
    const denied = await call(t.app, sa.json().pat, 'GET', '/api/v3/tenants');
    expect(denied.statusCode, denied.body).toBe(403);
    const deniedExample = example('/api/v3/tenants', 'get', '403')['application/vnd.api+json']!.example as { errors: { code: string }[] };
    expect(shapeDiff(denied.json(), deniedExample)).toEqual([]);
    expect(denied.json().errors[0].code).toBe(deniedExample.errors[0]!.code);

    const again = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', { data: { type: 'tenants', attributes: { name: 'Twice', subdomain: 'twice' } } });
    expect(again.statusCode, again.body).toBe(201);
    const clash = await call(t.app, t.adminPat, 'POST', '/api/v3/tenants', {
      data: { type: 'tenants', attributes: { name: 'Twice again', subdomain: 'twice' } },
    });
    expect(clash.statusCode, clash.body).toBe(409);
    const clashExample = example('/api/v3/tenants', 'post', '409')['application/vnd.api+json']!.example as { errors: { code: string }[] };
    expect(shapeDiff(clash.json(), clashExample)).toEqual([]);
    expect(clash.json().errors[0].code).toBe(clashExample.errors[0]!.code);
  });
});
