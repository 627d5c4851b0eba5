// Token verification refusals, key rotation, applications API, validate routes and cascades.
import { createHmac, createPublicKey, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, decodeProtectedHeader, type JWK } from 'jose';
import { bearer, call, createTenant, seedServiceAccountPat, snapshot, startTestApp, type TestApp } from './helpers/app.js';
import { seedUser } from './helpers/oauth.js';
import { issueAccessToken, issueIdToken } from '../src/oauth/tokens.js';
import { createSession } from '../src/http/session-cookie.js';
import { purgeExpired } from '../src/oauth/purge.js';

let t: TestApp;
let tenantA: string;
let tenantB: string;
let adminA: string;
let adminB: string;
let userId: string;
const ISS = 'http://auth.iam.test';

const subject = () => ({ kind: 'user' as const, tenantId: tenantA, subjectId: userId, username: 'alice', roles: ['tenant-admin'], groups: [] });
const api = (token: string) => call(t.app, token, 'GET', '/api/v3/applications');
const validateToken = (token: string) => t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(token) });

async function realSigned(claims: Record<string, unknown>, opts: { typ?: string; exp?: number; nbf?: number; iss?: string; aud?: string } = {}) {
  const { kid, key } = await t.app.oauth.keys.signingKey('RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant_id: tenantA, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid, typ: opts.typ ?? 'at+jwt' })
    .setIssuer(opts.iss ?? ISS)
    .setAudience(opts.aud ?? ISS)
    .setSubject(userId)
    .setJti(randomUUID())
    .setIssuedAt(now - 10)
    .setNotBefore(opts.nbf ?? now - 10)
    .setExpirationTime(opts.exp ?? now + 600)
    .sign(key);
}

beforeAll(async () => {
  t = await startTestApp();
  tenantA = await createTenant(t, 'Tenant A', 'alpha');
  tenantB = await createTenant(t, 'Tenant B', 'bravo');
  adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
  adminB = (await seedServiceAccountPat(t, tenantB, ['tenant-admin'])).pat;
  userId = await seedUser(t, tenantA, { email: 'alice@alpha.test', password: 'Correct-Horse-42', roles: ['tenant-admin'] });
}, 60_000);
afterAll(() => t?.close());

describe('JWT access token verification', () => {
  it('accepts a genuine token', async () => {
    const { accessToken } = await issueAccessToken(t.app.oauth, { subject: subject(), clientId: 'c', scope: 'openid', format: 'jwt', lifetime: 300 });
    expect((await api(accessToken)).statusCode).toBe(200);
    expect((await validateToken(accessToken)).statusCode).toBe(200);
  });

  it('refuses alg "none"', async () => {
    const genuine = await realSigned({});
    const [, payload] = genuine.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: decodeProtectedHeader(genuine).kid })).toString('base64url');
    const forged = `${header}.${payload}.`;
    expect((await api(forged)).statusCode).toBe(401);
    expect((await validateToken(forged)).statusCode).toBe(401);
  });

  it('refuses HS256 signed with the published public key', async () => {
    const jwks = (await t.app.inject({ method: 'GET', url: '/oauth/v2/keys' })).json() as { keys: (JWK & { kid: string })[] };
    const rsa = jwks.keys.find((k) => k.kty === 'RSA')!;
    const pem = createPublicKey({ key: rsa as JWK & { kty: string }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const now = Math.floor(Date.now() / 1000);
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: rsa.kid })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ iss: ISS, sub: userId, tenant_id: tenantA, jti: randomUUID(), iat: now, exp: now + 600 })).toString(
      'base64url',
    );
    for (const secret of [pem, Buffer.from(JSON.stringify(rsa))]) {
      const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      const forged = `${header}.${payload}.${sig}`;
      expect((await api(forged)).statusCode).toBe(401);
      expect((await validateToken(forged)).statusCode).toBe(401);
    }
  });

  it('refuses a tampered payload', async () => {
    const genuine = await realSigned({ roles: ['tenant-user'] });
    const [h, , s] = genuine.split('.');
    const p = Buffer.from(JSON.stringify({ iss: ISS, sub: userId, tenant_id: tenantB, jti: randomUUID(), iat: 1, exp: 9999999999 })).toString('base64url');
    expect((await api(`${h}.${p}.${s}`)).statusCode).toBe(401);
  });

  it('refuses expired tokens (403 on validate) and not-yet-valid tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await realSigned({}, { exp: now - 60 });
    expect((await api(expired)).statusCode).toBe(401);
    const v = await validateToken(expired);
    expect(v.statusCode).toBe(403);
    expect(v.body).toMatch(/expired/);
    const future = await realSigned({}, { nbf: now + 600, exp: now + 1200 });
    expect((await api(future)).statusCode).toBe(401);
    expect((await validateToken(future)).statusCode).toBe(401);
  });

  it('a token signed by our key but with the right claims is accepted (control for the refusals below)', async () => {
    expect((await api(await realSigned({}))).statusCode).toBe(200);
  });

  it('refuses an ID token, or a token of another issuer or audience, used as an access token', async () => {
    expect((await api(await realSigned({}, { aud: 'some-other-api' }))).statusCode).toBe(401);
    const idToken = await issueIdToken(t.app.oauth, { subjectId: userId, clientId: 'c', claims: { tenant_id: tenantA }, lifetime: 300, alg: 'RS256' });
    expect((await api(idToken)).statusCode).toBe(401);
    expect((await api(await realSigned({}, { typ: 'JWT' }))).statusCode).toBe(401);
    expect((await api(await realSigned({}, { iss: 'https://other.example' }))).statusCode).toBe(401);
  });

  it('keeps old keys published after rotation, so earlier tokens stay valid', async () => {
    const before = await issueAccessToken(t.app.oauth, { subject: subject(), clientId: 'c', scope: '', format: 'jwt', lifetime: 300 });
    const oldKid = decodeProtectedHeader(before.accessToken).kid;
    const nextKids = (await t.db.prisma.signingKey.findMany({ where: { state: 'next' } })).map((k) => k.kid);
    const jwksBefore = (await t.app.inject({ method: 'GET', url: '/oauth/v2/keys' })).json().keys.map((k: { kid: string }) => k.kid);
    for (const kid of nextKids) expect(jwksBefore).toContain(kid);

    const rotated = await call(t.app, t.adminPat, 'POST', '/api/v3/signing-keys/rotate');
    expect(rotated.statusCode).toBe(200);
    expect(rotated.json().data.active.sort()).toEqual(nextKids.sort());
    const after = await issueAccessToken(t.app.oauth, { subject: subject(), clientId: 'c', scope: '', format: 'jwt', lifetime: 300 });
    const newKid = decodeProtectedHeader(after.accessToken).kid;
    expect(newKid).not.toBe(oldKid);
    expect(nextKids).toContain(newKid);
    const jwks = (await t.app.inject({ method: 'GET', url: '/oauth/v2/keys' })).json().keys.map((k: { kid: string }) => k.kid);
    expect(jwks).toContain(oldKid);
    expect(jwks).toContain(newKid);
    expect((await api(before.accessToken)).statusCode).toBe(200);
    expect((await api(after.accessToken)).statusCode).toBe(200);
    expect((await call(t.app, adminA, 'POST', '/api/v3/signing-keys/rotate')).statusCode).toBe(403);
  });
});

describe('applications API', () => {
  it('creates, reads, updates, rotates and deletes, showing a secret only once', async () => {
    const created = await call(t.app, adminA, 'POST', '/api/v3/applications', {
      data: {
        type: 'applications',
        attributes: {
          name: 'Portal',
          clientType: 'confidential',
          redirectUris: ['https://portal.example/cb'],
          postLogoutRedirectUris: ['https://portal.example/'],
        },
      },
    });
    expect(created.statusCode).toBe(201);
    const { id, attributes } = created.json().data;
    expect(attributes).toMatchObject({
      name: 'Portal',
      tokenEndpointAuthMethod: 'client_secret_basic',
      grantTypes: ['authorization_code', 'refresh_token'],
      accessTokenType: 'jwt',
      signingAlg: 'RS256',
    });
    expect(attributes.clientSecret).toMatch(/^[0-9A-Za-z]{48}$/);
    const row = await t.db.prisma.application.findUniqueOrThrow({ where: { id } });
    expect(row.clientSecretHash).not.toContain(attributes.clientSecret);

    const got = await call(t.app, adminA, 'GET', `/api/v3/applications/${id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json().data.attributes.clientSecret).toBeUndefined();

    const patched = await call(t.app, adminA, 'PATCH', `/api/v3/applications/${id}`, {
      data: { attributes: { accessTokenType: 'opaque', signingAlg: 'ES256', redirectUris: ['https://portal.example/cb2'] } },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().data.attributes).toMatchObject({ accessTokenType: 'opaque', signingAlg: 'ES256', redirectUris: ['https://portal.example/cb2'] });

    const rotated = await call(t.app, adminA, 'POST', `/api/v3/applications/${id}/secret`);
    expect(rotated.json().data.attributes.clientSecret).not.toBe(attributes.clientSecret);
    expect(rotated.json().data.attributes.secretRotatedAt).toBeTruthy();

    expect((await call(t.app, adminA, 'DELETE', `/api/v3/applications/${id}`)).statusCode).toBe(204);
    expect((await call(t.app, adminA, 'GET', `/api/v3/applications/${id}`)).statusCode).toBe(404);
  });

  it('refuses inconsistent or unsafe applications with 4xx and changes nothing', async () => {
    const before = await snapshot(t.db);
    const bad = [
      [{ name: 'p', clientType: 'public', tokenEndpointAuthMethod: 'client_secret_basic', redirectUris: ['https://x.example/cb'] }, 422],
      [{ name: 'p', clientType: 'public', grantTypes: ['client_credentials'] }, 422],
      [{ name: 'p', clientType: 'confidential', grantTypes: ['client_credentials'] }, 422],
      [{ name: 'p', clientType: 'public', redirectUris: [] }, 422],
      [{ name: 'p', clientType: 'public', redirectUris: ['http://app.example/cb'] }, 400],
      [{ name: 'p', clientType: 'public', redirectUris: ['https://app.example/cb#frag'] }, 400],
      [{ name: 'p', clientType: 'public', redirectUris: ['javascript:alert(1)'] }, 400],
      [{ name: 'p', clientType: 'public', redirectUris: ['https://x.example/cb'], grantTypes: ['implicit'] }, 400],
      [{ name: 'AnalyticsUI', clientType: 'public', redirectUris: ['https://x.example/cb'] }, 409],
      [{ name: 'p', clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId: randomUUID() }, 422],
    ] as const;
    for (const [attributes, status] of bad) {
      const res = await call(t.app, adminA, 'POST', '/api/v3/applications', { data: { attributes } });
      expect(res.statusCode, JSON.stringify(attributes)).toBe(status);
    }
    const managed = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: tenantA, name: 'AnalyticsUI' } });
    expect((await call(t.app, adminA, 'DELETE', `/api/v3/applications/${managed.id}`)).statusCode).toBe(422);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it("hides another tenant's applications (404) and a service account of another tenant cannot be bound", async () => {
    const managed = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: tenantA, name: 'AnalyticsUI' } });
    const before = await snapshot(t.db);
    for (const [method, url] of [
      ['GET', ''],
      ['PATCH', ''],
      ['DELETE', ''],
      ['POST', '/secret'],
    ] as const) {
      const res = await call(
        t.app,
        adminB,
        method,
        `/api/v3/applications/${managed.id}${url}`,
        method === 'PATCH' ? { data: { attributes: { redirectUris: ['https://evil.example/cb'] } } } : undefined,
      );
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    expect((await call(t.app, adminB, 'GET', '/api/v3/applications/not-a-uuid')).statusCode).toBe(404);
    const saA = await t.db.prisma.serviceAccount.findFirstOrThrow({ where: { tenantId: tenantA } });
    const res = await call(t.app, adminB, 'POST', '/api/v3/applications', {
      data: { attributes: { name: 'steal', clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId: saA.id } },
    });
    expect(res.statusCode).toBe(422);
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('AnalyticsUI follows the tenant subdomain', () => {
  it('gets, changes and loses its frontend redirect with the subdomain, keeping URIs an admin added', async () => {
    const id = await createTenant(t, 'Tenant C');
    const ui = () => t.db.prisma.application.findFirstOrThrow({ where: { tenantId: id, name: 'AnalyticsUI' } });
    expect((await ui()).redirectUris).toEqual([]);
    const put = await call(t.app, t.adminPat, 'PUT', '/api/v3/onboarding/tenant-identity', {
      data: { type: 'tenantInfo', attributes: { tenantId: id, subdomain: 'charlie', name: 'C' } },
    });
    expect(put.statusCode).toBeLessThan(300);
    expect((await ui()).redirectUris).toEqual(['https://charlie.iam.test/login']);
    await t.db.prisma.application.update({
      where: { id: (await ui()).id },
      data: { redirectUris: ['https://charlie.iam.test/login', 'https://extra.example/cb'] },
    });
    const patched = await call(t.app, t.adminPat, 'PATCH', `/api/v3/tenants/${id}`, { data: { attributes: { subdomain: 'delta' } } });
    expect(patched.statusCode).toBe(200);
    expect((await ui()).redirectUris).toEqual(['https://extra.example/cb', 'https://delta.iam.test/login']);
    expect((await ui()).postLogoutRedirectUris).toEqual(['https://delta.iam.test/']);
    expect((await call(t.app, t.adminPat, 'DELETE', '/api/v3/onboarding/tenant-identity/delta')).statusCode).toBe(204);
    expect((await ui()).redirectUris).toEqual(['https://extra.example/cb']);
  });
});

/**
 * Polls until `status()` gives `want` (at most 2 s) and returns the last status. For changes
 * made with plain SQL, which reach the credential cache by NOTIFY a moment after commit;
 * changes made through the API are visible at once (the server waits for its own NOTIFY).
 */
async function settle(status: () => Promise<number>, want: number): Promise<number> {
  const until = Date.now() + 2000;
  let last = await status();
  while (last !== want && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    last = await status();
  }
  return last;
}

describe('ES256 and opaque tokens', () => {
  it('an ES256 JWT access token and an opaque one are accepted', async () => {
    const es = await issueAccessToken(t.app.oauth, { subject: subject(), clientId: 'c', scope: '', format: 'jwt', lifetime: 300, alg: 'ES256' });
    expect(decodeProtectedHeader(es.accessToken).alg).toBe('ES256');
    expect((await api(es.accessToken)).statusCode).toBe(200);
    const opaque = await issueAccessToken(t.app.oauth, { subject: subject(), scope: '', format: 'opaque', lifetime: 300 });
    expect(opaque.accessToken).toMatch(/^pcaat_[0-9A-Za-z]{43}$/);
    expect((await api(opaque.accessToken)).statusCode).toBe(200);
    const row = await t.db.prisma.oAuthToken.findUniqueOrThrow({ where: { id: opaque.jti } });
    expect(row.tokenHash).not.toContain(opaque.accessToken.slice(6));
    await t.db.prisma.oAuthToken.update({ where: { id: opaque.jti }, data: { expiresAt: new Date(Date.now() - 1000) } });
    // Changed behind the server's back (plain SQL): caches learn of it by NOTIFY, within moments.
    expect(await settle(async () => (await api(opaque.accessToken)).statusCode, 401)).toBe(401);
    expect((await validateToken(opaque.accessToken)).statusCode).toBe(403);
  });
});

describe('hosted login without an authorization request', () => {
  it('takes the tenant from the Host subdomain and signs the user in', async () => {
    const host = { host: 'alpha.iam.test' };
    const page = await t.app.inject({ method: 'GET', url: '/ui/login', headers: host });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Tenant A');
    const csrfCookie = (page.cookies as { name: string; value: string }[]).find((c) => c.name === 'iam_csrf')!.value;
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const res = await t.app.inject({
      method: 'POST',
      url: '/ui/login/password',
      headers: { ...host, cookie: `iam_csrf=${csrfCookie}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ csrf, email: 'alice@alpha.test', password: 'Correct-Horse-42' }).toString(),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('signed in');
    const session = (res.cookies as { name: string; value: string; httpOnly?: boolean }[]).find((c) => c.name === 'iam_session')!;
    expect(session.httpOnly).toBe(true);
    const v = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: `iam_session=${session.value}` } });
    expect(v.statusCode).toBe(200);
    expect(v.headers['x-forwarded-user-id']).toBe(userId);
    const none = await t.app.inject({ method: 'GET', url: '/ui/login', headers: { host: 'auth.iam.test' } });
    expect(none.statusCode).toBe(400);
  });
});

describe('validate routes', () => {
  it('401 without or with an unknown credential; 403 for a locked user or a disabled tenant', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/session/validate' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie: 'iam_session=' + 'A'.repeat(43) } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token' })).statusCode).toBe(401);
    expect((await validateToken('garbage')).statusCode).toBe(401);
    // Forwarded identity headers do not stand in for a credential, even from a trusted proxy address.
    const spoof = await t.app.inject({
      method: 'GET',
      url: '/api/v3/session/validate',
      headers: { 'x-forwarded-user-id': userId, 'x-forwarded-tenant-id': tenantA },
    });
    expect(spoof.statusCode).toBe(401);

    const pat = await validateToken(adminA);
    expect(pat.statusCode).toBe(200);
    expect(pat.headers['x-forwarded-tenant-id']).toBe(tenantA);

    const lockedId = await seedUser(t, tenantA, { email: 'frank@alpha.test', password: 'Correct-Horse-42' });
    const reply = {
      setCookie(_n: string, v: string) {
        (reply as unknown as { value: string }).value = v;
      },
    } as never;
    await createSession(t.db.prisma, reply, t.config, { tenantId: tenantA, userId: lockedId, amr: ['pwd'] });
    const cookie = `iam_session=${(reply as unknown as { value: string }).value}`;
    const ok = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['x-forwarded-user-id']).toBe(lockedId);
    expect(ok.headers['x-forwarded-usergroups']).toBe('');
    // The cookie also authenticates /api/v3 (as a tenant-user: admin routes refuse it).
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/applications', headers: { cookie } })).statusCode).toBe(403);

    await t.db.prisma.user.update({ where: { id: lockedId }, data: { state: 'locked' } });
    await settle(async () => (await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie } })).statusCode, 403);
    const locked = await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie } });
    expect(locked.statusCode).toBe(403);
    expect(locked.headers['content-type']).toMatch(/^text\/plain/);
    await t.db.prisma.user.update({ where: { id: lockedId }, data: { state: 'active' } });

    await t.db.prisma.tenant.update({ where: { id: tenantB }, data: { state: 'disabled' } });
    await settle(async () => (await validateToken(adminB)).statusCode, 403);
    const disabled = await validateToken(adminB);
    await t.db.prisma.tenant.update({ where: { id: tenantB }, data: { state: 'active' } });
    expect(disabled.statusCode).toBe(403);
    expect(disabled.body).toMatch(/tenant disabled/);

    // Idle timeout.
    await t.db.prisma.browserSession.updateMany({ where: { userId: lockedId }, data: { lastSeenAt: new Date(Date.now() - 2 * 3600_000) } });
    expect((await t.app.inject({ method: 'GET', url: '/api/v3/session/validate', headers: { cookie } })).statusCode).toBe(403);
  });

  it('deleting a user removes its sessions, codes, grants and tokens, and its JWTs stop working', async () => {
    const id = await seedUser(t, tenantA, { email: 'gone@alpha.test', password: 'Correct-Horse-42' });
    const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId: tenantA, name: 'AnalyticsUI' } });
    const reply = { setCookie() {} } as never;
    await createSession(t.db.prisma, reply, t.config, { tenantId: tenantA, userId: id, amr: ['pwd'] });
    const grant = await t.db.prisma.oAuthGrant.create({ data: { tenantId: tenantA, applicationId: app.id, userId: id, scope: 'openid', amr: [] } });
    const s = { ...subject(), subjectId: id, roles: [] };
    const jwt = await issueAccessToken(t.app.oauth, {
      subject: s,
      clientId: app.clientId,
      applicationId: app.id,
      scope: 'openid',
      format: 'jwt',
      lifetime: 300,
      grantId: grant.id,
    });
    const opaque = await issueAccessToken(t.app.oauth, {
      subject: s,
      clientId: app.clientId,
      applicationId: app.id,
      scope: 'openid',
      format: 'opaque',
      lifetime: 300,
      grantId: grant.id,
    });
    expect((await validateToken(jwt.accessToken)).statusCode).toBe(200);
    expect((await validateToken(opaque.accessToken)).statusCode).toBe(200);
    await t.db.prisma.user.delete({ where: { id } });
    expect(await t.db.prisma.browserSession.count({ where: { userId: id } })).toBe(0);
    expect(await t.db.prisma.oAuthGrant.count({ where: { userId: id } })).toBe(0);
    expect(await t.db.prisma.oAuthToken.count({ where: { grantId: grant.id } })).toBe(0);
    expect((await validateToken(jwt.accessToken)).statusCode).toBe(403);
    expect((await validateToken(opaque.accessToken)).statusCode).toBe(401);
  });
});

describe('housekeeping', () => {
  it('purges expired tokens and revocation records, keeping live ones', async () => {
    const live = await issueAccessToken(t.app.oauth, { subject: subject(), scope: '', format: 'opaque', lifetime: 300 });
    const dead = await issueAccessToken(t.app.oauth, { subject: subject(), scope: '', format: 'opaque', lifetime: 300 });
    await t.db.prisma.oAuthToken.update({ where: { id: dead.jti }, data: { expiresAt: new Date(Date.now() - 2 * 86400_000) } });
    await t.db.prisma.revokedJwt.create({ data: { jti: 'old-jti', tenantId: tenantA, expiresAt: new Date(Date.now() - 1000) } });
    const purged = await purgeExpired(t.db.prisma);
    expect(purged.tokens).toBeGreaterThanOrEqual(1);
    expect(await t.db.prisma.oAuthToken.count({ where: { id: dead.jti } })).toBe(0);
    expect(await t.db.prisma.revokedJwt.count({ where: { jti: 'old-jti' } })).toBe(0);
    expect((await api(live.accessToken)).statusCode).toBe(200);
  });
});
