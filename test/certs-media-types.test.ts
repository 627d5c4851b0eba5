// SignCSR and RenewCerts take only the CSR media types of the contract. A browser form's
// types (form-urlencoded, multipart, text/plain) would let another site post a CSR with
// an operator's session cookie or a user's client certificate: CSRF.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pem } from '../src/pki/der.js';
import { createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { expectJsonApiError, signCsr } from './helpers/certs.js';
import { nodeCsr } from './helpers/csr.js';

let t: TestApp;
let tenant: string;
let admin: string;
let csr: Buffer;

beforeAll(async () => {
  // The proxy that forwards client certificates (RenewCerts) is this host.
  t = await startTestApp({ TRUSTED_PROXIES: '127.0.0.1' });
  tenant = await createTenant(t, 'Certs media types');
  admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'], { username: 'certs-admin' })).pat;
  csr = nodeCsr('sign-test');
  // The CA is created on first use; create it now so that snapshots compare only what a request does.
  expect((await t.app.inject({ method: 'GET', url: '/api/v3/certs/ca' })).statusCode).toBe(200);
}, 60_000);
afterAll(async () => t?.close());

const sign = (query: string, body: Buffer | string, type: string | undefined, token = admin) => signCsr(t, token, query, body, type);

describe('SignCSR media types', () => {
  const pemCsr = () => pem('CERTIFICATE REQUEST', csr);

  it('takes the contract CSR types: application/pkcs10, application/octet-stream, application/x-pem-file', async () => {
    for (const [type, body] of [
      ['application/pkcs10', csr],
      ['application/pkcs10', pemCsr()],
      ['application/octet-stream', csr],
      ['application/x-pem-file', pemCsr()],
      ['Application/PKCS10; charset=binary', csr],
    ] as const) {
      const res = await sign('requestedUsername=media-ok&format=pem', body, type);
      expect(res.statusCode, `${type}: ${res.body}`).toBe(200);
      expect(res.body).toMatch(/^-----BEGIN CERTIFICATE-----/);
    }
  });

  it('refuses browser form types and every other type with 415, and issues nothing', async () => {
    const before = await snapshot(t.db);
    const form = pemCsr().replace(/\n/g, '');
    for (const [type, body] of [
      // What a cross-site HTML form can send with the victim's session cookie.
      ['application/x-www-form-urlencoded', form],
      ['application/x-www-form-urlencoded', `csr=${encodeURIComponent(pemCsr())}`],
      ['text/plain', pemCsr()],
      ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="csr"\r\n\r\n${pemCsr()}\r\n--x--\r\n`],
      // Other types, and none at all.
      ['application/json', JSON.stringify({ csr: pemCsr() })],
      ['application/vnd.api+json', JSON.stringify({ data: { csr: pemCsr() } })],
      ['application/xml', '<csr/>'],
      ['application/pkcs10x', csr],
      [undefined, csr],
    ] as const) {
      const res = await sign('requestedUsername=media-no&format=pem', body, type);
      const error = expectJsonApiError(res, 415, 'unsupported_media_type');
      expect(error.detail, String(type)).toMatch(/application\/pkcs10/);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('still authenticates first: a form post without a credential is 401, by a tenant-user 403', async () => {
    const none = await t.app.inject({
      method: 'POST',
      url: '/api/v3/certs/sign',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'a=b',
    });
    expectJsonApiError(none, 401, 'unauthorized');
    const user = (await seedServiceAccountPat(t, tenant, ['tenant-user'])).pat;
    expectJsonApiError(await sign('', 'a=b', 'application/x-www-form-urlencoded', user), 403, 'forbidden');
  });

  it('RenewCerts takes the same types only: a form post by a certificate holder is 415, and issues nothing', async () => {
    const issued = await sign('requestedUsername=renew-device&format=pem', csr, 'application/pkcs10');
    expect(issued.statusCode, issued.body).toBe(200);
    // As a TLS-terminating proxy forwards the certificate the browser or device presented.
    const holder = { 'x-ssl-client-cert': encodeURIComponent(issued.body) };
    const renew = (type: string, body: Buffer | string, headers: Record<string, string> = holder) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v3/certs/renew?format=pem',
        remoteAddress: '127.0.0.1',
        headers: { ...headers, 'content-type': type },
        payload: body,
      });

    const before = await snapshot(t.db);
    // A browser holding a client certificate would send it along with a cross-site form too.
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', pemCsr().replace(/\n/g, '')],
      ['text/plain', pemCsr()],
      ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="csr"\r\n\r\n${pemCsr()}\r\n--x--\r\n`],
      ['application/json', JSON.stringify({ csr: pemCsr() })],
    ] as const) {
      const error = expectJsonApiError(await renew(type, body), 415, 'unsupported_media_type');
      expect(error.detail, type).toMatch(/application\/pkcs10/);
    }
    expect(await snapshot(t.db)).toEqual(before);

    // Authorization still comes first: a bearer credential is 403 whatever the body.
    expectJsonApiError(await renew('application/x-www-form-urlencoded', 'a=b', { authorization: `Bearer ${admin}` }), 403, 'forbidden');
    expectJsonApiError(await renew('application/pkcs10', csr, { authorization: `Bearer ${admin}` }), 403, 'forbidden');
    // A CSR type renews.
    const renewed = await renew('application/x-pem-file', pemCsr());
    expect(renewed.statusCode, renewed.body).toBe(200);
    expect(renewed.body).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('the hosted login and the token endpoint still take form bodies', async () => {
    const login = await t.app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'email=nobody%40certs.test&csrf=x',
    });
    expect(login.statusCode).not.toBe(415);
    expect(login.statusCode).toBeLessThan(500);
    const token = await t.app.inject({
      method: 'POST',
      url: '/oauth/v2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=client_credentials&client_id=nope&client_secret=nope',
    });
    expect(token.statusCode).not.toBe(415);
    expect(token.statusCode).toBeLessThan(500);
    expect(token.json()).toHaveProperty('error');
  });
});
