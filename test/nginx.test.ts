// nginx auth_request in front of an echo upstream, asking our server (listening for
// real) about every request, with the configuration documented in docs/proxy/.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenHash } from '../src/oauth/dpop.js';
import { issueAccessToken } from '../src/oauth/tokens.js';
import { createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';
import { echoUpstream, NGINX, startNginx, type Nginx } from './helpers/nginx.js';

let t: TestApp;
let nginx: Nginx;
let upstream: { server: Server; port: number };
let tenantId: string;

const get = (headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${nginx.port}/app/data`, { headers });

describe.skipIf(!NGINX)('nginx auth_request with validate-token', () => {
  beforeAll(async () => {
    // nginx connects from loopback: its forwarded method and URI are believed (DPoP).
    t = await startTestApp({ TRUSTED_PROXIES: '127.0.0.1/32' });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const iamPort = (t.app.server.address() as { port: number }).port;
    upstream = await echoUpstream();
    const block = readFileSync('docs/proxy/nginx-auth-request.conf', 'utf8')
      .replaceAll('__IAM__', `127.0.0.1:${iamPort}`)
      .replaceAll('__UPSTREAM__', `127.0.0.1:${upstream.port}`);
    nginx = await startNginx(block);
    tenantId = await createTenant(t, 'Proxied');
  });
  afterAll(async () => {
    await nginx?.stop();
    upstream?.server.close();
    await t?.close();
  });

  it('passes a valid PAT and gives the upstream the identity headers', async () => {
    const { pat, serviceAccountId } = await seedServiceAccountPat(t, tenantId, ['tenant-user'], { username: 'probe' });
    const res = await get({ authorization: `Bearer ${pat}` });
    expect(res.status).toBe(200);
    const seen = await res.json();
    expect(seen).toMatchObject({
      'x-forwarded-user-id': serviceAccountId,
      'x-forwarded-user-username': 'probe',
      'x-forwarded-user-roles': 'tenant-user',
      'x-forwarded-tenant-id': tenantId,
    });
  });

  it('does not let a client spoof its identity with its own X-Forwarded-* headers', async () => {
    const { pat, serviceAccountId } = await seedServiceAccountPat(t, tenantId, ['tenant-user']);
    const res = await get({
      authorization: `Bearer ${pat}`,
      'x-forwarded-user-id': 'admin',
      'x-forwarded-user-roles': 'skylight-admin',
      'x-forwarded-tenant-id': 'other',
    });
    const seen = await res.json();
    expect(seen['x-forwarded-user-id']).toBe(serviceAccountId);
    expect(seen['x-forwarded-user-roles']).toBe('tenant-user');
    expect(seen['x-forwarded-tenant-id']).toBe(tenantId);
    // Without a credential the spoofed headers get nowhere.
    expect((await get({ 'x-forwarded-user-id': 'admin', 'x-forwarded-tenant-id': tenantId })).status).toBe(401);
  });

  it('answers 401 for a missing or forged credential and 403 for an expired one', async () => {
    expect((await get()).status).toBe(401);
    expect((await get({ authorization: 'Bearer pca_' + 'Z'.repeat(46) })).status).toBe(401);
    expect((await get({ authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' })).status).toBe(401);
    const { pat } = await seedServiceAccountPat(t, tenantId, ['tenant-user'], { expiresAt: new Date(Date.now() - 1000) });
    expect((await get({ authorization: `Bearer ${pat}` })).status).toBe(403);
  });

  it('refuses a revoked PAT immediately', async () => {
    const { pat, patId } = await seedServiceAccountPat(t, tenantId, ['tenant-user']);
    expect((await get({ authorization: `Bearer ${pat}` })).status).toBe(200);
    await t.db.prisma.personalAccessToken.delete({ where: { id: patId } });
    const until = Date.now() + 2000;
    let status = 200;
    while (status === 200 && Date.now() < until) status = (await get({ authorization: `Bearer ${pat}` })).status;
    expect(status).toBe(401);
  });

  it('forwards a DPoP proof with the method and URI it names, refusing one for another request', async () => {
    const { serviceAccountId } = await seedServiceAccountPat(t, tenantId, ['tenant-user'], { username: 'dpop-probe' });
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const { accessToken } = await issueAccessToken(t.app.oauth, {
      subject: { kind: 'serviceaccount', tenantId, subjectId: serviceAccountId, username: 'dpop-probe', roles: ['tenant-user'], groups: [] },
      scope: '',
      format: 'jwt',
      lifetime: 300,
      jkt: await calculateJwkThumbprint(jwk),
    });
    const proof = (htm: string, htu: string) =>
      new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), htm, htu, ath: accessTokenHash(accessToken) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(privateKey);
    const url = `http://127.0.0.1:${nginx.port}/app/data`;
    const ok = await get({ authorization: `DPoP ${accessToken}`, dpop: await proof('GET', `${url}?any=query`) });
    expect(ok.status).toBe(200);
    expect((await ok.json())['x-forwarded-user-id']).toBe(serviceAccountId);
    const elsewhere = await get({ authorization: `DPoP ${accessToken}`, dpop: await proof('GET', `http://127.0.0.1:${nginx.port}/app/other`) });
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"');
    const stale = await get({
      authorization: `DPoP ${accessToken}`,
      dpop: await new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000) - 600, htm: 'GET', htu: url, ath: accessTokenHash(accessToken) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(privateKey),
    });
    expect(stale.status).toBe(401);
    expect(stale.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await get({ authorization: `Bearer ${accessToken}` })).status).toBe(401);
  });
});
