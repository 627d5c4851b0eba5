// The JWT-bearer grant (RFC 7523) end to end, as a user's script does it: create a
// service account and a key through the API, sign an assertion with the key file,
// exchange it at /oauth/v2/token, and use the token on /api/v3 and validate-token.
import { randomUUID } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, call, createTenant, startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
let tenantId: string;
beforeAll(async () => {
  t = await startTestApp();
  tenantId = await createTenant(t, 'Machines');
});
afterAll(() => t?.close());

async function accountWithKey(accessTokenType: 'Bearer' | 'Jwt') {
  const headers = { 'x-forwarded-tenant-id': tenantId };
  const sa = await call(
    t.app,
    t.adminPat,
    'POST',
    '/api/v3/serviceaccounts?roles=tenant-user',
    { accessTokenType, name: `m-${accessTokenType}`, username: `m-${accessTokenType}-${randomUUID().slice(0, 6)}` },
    headers,
  );
  expect(sa.statusCode).toBe(201);
  const id = sa.json().machineUserId;
  const key = await call(t.app, t.adminPat, 'POST', `/api/v3/serviceaccounts/${id}/keys`, { expirationDate: '2099-01-01T00:00:00Z' }, headers);
  expect(key.statusCode).toBe(201);
  return { id, file: JSON.parse(Buffer.from(key.json().key, 'base64').toString('utf8')) as { keyId: string; key: string; userId: string } };
}

async function assertion(file: { keyId: string; key: string; userId: string }, aud = t.config.PUBLIC_URL) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: file.keyId })
    .setIssuer(file.userId)
    .setSubject(file.userId)
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .setJti(randomUUID())
    .sign(await importPKCS8(file.key, 'RS256'));
}

const token = (assertionJwt: string) =>
  t.app.inject({
    method: 'POST',
    url: '/oauth/v2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: assertionJwt, scope: 'openid' }).toString(),
  });

describe('urn:ietf:params:oauth:grant-type:jwt-bearer', () => {
  it.each(['Jwt', 'Bearer'] as const)('issues a %s access token usable on /api/v3 and by the proxy', async (type) => {
    const { id, file } = await accountWithKey(type);
    const res = await token(await assertion(file));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    expect(body.access_token.split('.').length === 3).toBe(type === 'Jwt');
    const self = await t.app.inject({ method: 'GET', url: '/api/v3/serviceaccounts/self', headers: bearer(body.access_token) });
    expect(self.statusCode).toBe(200);
    expect(JSON.stringify(self.json())).toContain(id);
    const v = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(body.access_token) });
    expect(v.statusCode).toBe(200);
    expect(v.headers['x-forwarded-user-id']).toBe(id);
    expect(v.headers['x-forwarded-user-roles']).toBe('tenant-user');
  });

  it('refuses a replayed, mis-addressed or unsigned assertion with invalid_grant', async () => {
    const { file } = await accountWithKey('Jwt');
    const once = await assertion(file);
    expect((await token(once)).statusCode).toBe(200);
    const replay = await token(once);
    expect(replay.statusCode).toBe(400);
    expect(replay.json().error).toBe('invalid_grant');
    expect((await token(await assertion(file, 'https://elsewhere.test'))).json().error).toBe('invalid_grant');
    const [h, p] = (await assertion(file)).split('.');
    expect((await token(`${h}.${p}.`)).json().error).toBe('invalid_grant');
  });

  it('stops working once the service account is deleted', async () => {
    const { id, file } = await accountWithKey('Bearer');
    const issued = (await token(await assertion(file))).json().access_token;
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(issued) })).statusCode).toBe(200);
    const del = await call(t.app, t.adminPat, 'DELETE', `/api/v3/serviceaccounts/${id}`, undefined, { 'x-forwarded-tenant-id': tenantId });
    expect(del.statusCode).toBe(204);
    const until = Date.now() + 2000;
    let status = 200;
    while (status === 200 && Date.now() < until)
      status = (await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(issued) })).statusCode;
    expect(status).toBe(401);
    expect((await token(await assertion(file))).json().error).toBe('invalid_grant');
  });
});
