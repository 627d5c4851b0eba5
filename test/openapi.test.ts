import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestApp, type TestApp } from './helpers/app.js';
import { openApiDocument } from './helpers/openapi.js';

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  responses: Record<string, { description: string; content?: Record<string, unknown> }>;
}
type Paths = Record<string, Record<string, Operation>>;

const operations = (paths: Paths) => Object.entries(paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

describe('OpenAPI document', () => {
  it('openapi/openapi.json matches the running app (run `npm run openapi` after changing routes)', async () => {
    const file = readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8');
    expect(JSON.parse(file)).toEqual(JSON.parse(await openApiDocument()));
  });

  it('documents every /api route with an operationId', async () => {
    const doc = JSON.parse(await openApiDocument());
    const api = operations(doc.paths).filter((o) => o.path.startsWith('/api/'));
    expect(api.length).toBeGreaterThan(5);
    for (const o of api) expect(o.op.operationId, `${o.method} ${o.path}`).toBeTruthy();
  });

  it('gives every operation a summary and a description that says who may call it', async () => {
    const doc = JSON.parse(await openApiDocument());
    const all = operations(doc.paths);
    expect(all.length).toBeGreaterThan(100);
    for (const { path, method, op } of all) {
      expect(op.summary, `${method} ${path}`).toBeTruthy();
      expect(op.summary!.length, `${method} ${path}: a summary is short`).toBeLessThanOrEqual(100);
      expect(op.description, `${method} ${path}`).toBeTruthy();
    }
  });

  it('declares JSON:API errors under their media type, with the error document and a description of their own', async () => {
    const doc = JSON.parse(await openApiDocument());
    for (const { path, method, op } of operations(doc.paths)) {
      if (!path.startsWith('/api/v3/') || path.startsWith('/api/v3/session/validate')) continue;
      for (const [status, response] of Object.entries(op.responses)) {
        expect(response.description, `${method} ${path} ${status}`).not.toBe('Default Response');
        if (Number(status) < 400) continue;
        expect(response.content, `${method} ${path} ${status}`).toHaveProperty(
          ['application/vnd.api+json', 'schema', '$ref'],
          '#/components/schemas/ErrorDocument',
        );
      }
    }
  });

  it('declares the JSON:API media type for the success of every /api/v3 operation that answers a JSON:API document', async () => {
    // These answer something else, which the document declares: the health checks' JSON string, certificates,
    // CRL and OCSP, the validate routes' text for a proxy, and the SAML and OIDC IdP routes' plain JSON (as the PCA guide's SAML answers).
    const other = new Set([
      'LivenessCheck',
      'ReadinessCheck',
      'SignCSR',
      'RenewCerts',
      'CaCertificate',
      'CertificateRevocationList',
      'OcspGet',
      'OcspPost',
      'ValidateCert',
      'ValidateSession',
      'ValidateToken',
      'AddSamlIdp',
      'UpdateSamlIdp',
      'AddOidcIdp',
      'UpdateOidcIdp',
    ]);
    const doc = JSON.parse(await openApiDocument());
    for (const { path, method, op } of operations(doc.paths)) {
      if (!path.startsWith('/api/v3/') || other.has(op.operationId!)) continue;
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 300 || !response.content) continue;
        expect(Object.keys(response.content), `${method} ${path} ${status}`).toEqual(['application/vnd.api+json']);
      }
    }
  });
});

// The media types the document declares are the ones the server sends.
describe('OpenAPI document: media types as served', () => {
  let t: TestApp;
  let doc: { paths: Paths };
  beforeAll(async () => {
    t = await startTestApp();
    doc = JSON.parse(await openApiDocument());
  });
  afterAll(async () => t?.close());

  const cases: [string, 'GET' | 'POST', string, string, boolean][] = [
    // operation path in the document, method, URL, what the answer is, with the operator's credential
    ['/api/v3/users', 'GET', '/api/v3/users', 'a JSON:API list', true],
    ['/api/v3/users', 'GET', '/api/v3/users', 'a JSON:API error (401)', false],
    ['/api/v3/users/{id}', 'GET', '/api/v3/users/00000000-0000-4000-8000-000000000000', 'a JSON:API error (404)', true],
    ['/api/v3/health/liveness', 'GET', '/api/v3/health/liveness', 'a JSON string', false],
    ['/api/v3/certs/ca', 'GET', '/api/v3/certs/ca', 'a PEM certificate', false],
    ['/api/v3/session/validate-token', 'GET', '/api/v3/session/validate-token', 'a word for the proxy (401)', false],
    ['/scim/v2/Users', 'GET', '/scim/v2/Users', 'a SCIM list', true],
    ['/scim/v2/Users', 'GET', '/scim/v2/Users', 'a SCIM error (401)', false],
    ['/.well-known/openid-configuration', 'GET', '/.well-known/openid-configuration', 'JSON metadata', false],
  ];
  it.each(cases)('%s %s: %s', async (path, method, url, _what, withCredential) => {
    const res = await call(t.app, withCredential ? t.adminPat : undefined, method, url);
    const declared = doc.paths[path]?.[method.toLowerCase()]?.responses[String(res.statusCode)];
    expect(declared, `${method} ${path} answered ${res.statusCode}, which the document does not declare`).toBeDefined();
    const mediaType = String(res.headers['content-type']).split(';')[0]!.trim();
    expect(Object.keys(declared!.content ?? {})).toContain(mediaType);
  });
});
