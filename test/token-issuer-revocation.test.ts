// Access tokens die with what they were issued through: deleting the application of a
// client_credentials token, the key of a JWT-bearer token, the service account or the user
// a token stands for (or making the user inactive) makes the token fail everywhere it is
// checked: the proxy's validate-token (even when it answered from its cache before), /api/v3
// and introspection.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { decodeJwt, importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { purgeExpired } from '../src/oauth/purge.js';
import { openDatabase, type Database } from '../src/platform/db.js';
import { bearer, call, createTenant, startTestApp, type TestApp } from './helpers/app.js';
import { testLogger } from './helpers/log-capture.js';
import { Browser, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';

const PASSWORD = 'Correct-Horse-42';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

interface Ctx {
  t: TestApp;
  tenantId: string;
  introspector?: { clientId: string; secret: string };
}

const asOperator = (c: Ctx) => ({ 'x-forwarded-tenant-id': c.tenantId });
const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
const form = (app: FastifyInstance, url: string, params: Record<string, string>, authorization?: string) =>
  app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
    payload: new URLSearchParams(params).toString(),
  });

async function serviceAccount(c: Ctx, accessTokenType: 'Bearer' | 'Jwt' = 'Jwt'): Promise<string> {
  const username = `m-${randomUUID().slice(0, 8)}`;
  const res = await call(
    c.t.app,
    c.t.adminPat,
    'POST',
    '/api/v3/serviceaccounts?roles=tenant-admin',
    { accessTokenType, name: username, username },
    asOperator(c),
  );
  expect(res.statusCode, res.body).toBe(201);
  return res.json().machineUserId;
}

interface KeyFile {
  keyId: string;
  key: string;
  userId: string;
}
async function addKey(c: Ctx, saId: string): Promise<KeyFile> {
  const res = await call(c.t.app, c.t.adminPat, 'POST', `/api/v3/serviceaccounts/${saId}/keys`, { expirationDate: '2099-01-01T00:00:00Z' }, asOperator(c));
  expect(res.statusCode, res.body).toBe(201);
  return JSON.parse(Buffer.from(res.json().key, 'base64').toString('utf8'));
}

async function machineClient(c: Ctx, serviceAccountId: string, accessTokenType: 'jwt' | 'opaque') {
  const res = await call(
    c.t.app,
    c.t.adminPat,
    'POST',
    '/api/v3/applications',
    {
      data: {
        type: 'applications',
        attributes: {
          name: `cc-${randomUUID().slice(0, 8)}`,
          clientType: 'confidential',
          grantTypes: ['client_credentials'],
          serviceAccountId,
          accessTokenType,
        },
      },
    },
    asOperator(c),
  );
  expect(res.statusCode, res.body).toBe(201);
  const a = res.json().data.attributes;
  return { id: res.json().data.id as string, clientId: a.clientId as string, secret: a.clientSecret as string };
}

async function clientCredentialsToken(c: Ctx, m: { clientId: string; secret: string }): Promise<string> {
  const res = await form(c.t.app, '/oauth/v2/token', { grant_type: 'client_credentials' }, basic(m.clientId, m.secret));
  expect(res.statusCode, res.body).toBe(200);
  return res.json().access_token;
}

async function jwtBearerToken(c: Ctx, file: KeyFile): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: file.keyId })
    .setIssuer(file.userId)
    .setSubject(file.userId)
    .setAudience(c.t.config.PUBLIC_URL)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .setJti(randomUUID())
    .sign(await importPKCS8(file.key, 'RS256'));
  const res = await form(c.t.app, '/oauth/v2/token', { grant_type: JWT_BEARER, assertion });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().access_token;
}

const validate = (app: FastifyInstance, token: string) => app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(token) });

async function introspect(c: Ctx, token: string): Promise<{ active: boolean }> {
  const i = c.introspector!;
  const res = await form(c.t.app, '/oauth/v2/introspect', { token }, basic(i.clientId, i.secret));
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** Valid on all three paths; validate-token twice, so that its answer is cached. */
async function expectValid(c: Ctx, token: string) {
  expect((await validate(c.t.app, token)).statusCode).toBe(200);
  expect((await validate(c.t.app, token)).statusCode).toBe(200);
  expect((await call(c.t.app, token, 'GET', '/api/v3/applications')).statusCode).toBe(200);
  expect((await introspect(c, token)).active).toBe(true);
}

/** Refused on all three paths, validate-token first (it held the token in its cache). */
async function expectRefused(c: Ctx, token: string, what: string) {
  const v = await validate(c.t.app, token);
  expect([401, 403], `validate-token answered ${v.statusCode} for ${what}`).toContain(v.statusCode);
  expect((await call(c.t.app, token, 'GET', '/api/v3/applications')).statusCode, `/api/v3 for ${what}`).toBe(401);
  expect((await introspect(c, token)).active, `introspection of ${what}`).toBe(false);
}

async function setUp(t: TestApp): Promise<Ctx> {
  const c: Ctx = { t, tenantId: await createTenant(t, `Issuers ${randomUUID().slice(0, 6)}`) };
  const m = await machineClient(c, await serviceAccount(c), 'jwt');
  c.introspector = m;
  return c;
}

describe('tokens die with what issued them', () => {
  let c: Ctx;
  let t: TestApp & { issuer: string };
  beforeAll(async () => {
    t = await startListeningApp();
    c = await setUp(t);
    expect(t.app.credentialCache.enabled).toBe(true);
  }, 60_000);
  afterAll(() => t?.close());

  it.each(['jwt', 'opaque'] as const)('a client_credentials %s token fails once its application is deleted', async (format) => {
    const sa = await serviceAccount(c);
    const doomed = await machineClient(c, sa, format);
    const sibling = await machineClient(c, sa, format);
    const token = await clientCredentialsToken(c, doomed);
    const other = await clientCredentialsToken(c, sibling);
    await expectValid(c, token);
    await expectValid(c, other);

    expect((await call(t.app, t.adminPat, 'DELETE', `/api/v3/applications/${doomed.id}`, undefined, asOperator(c))).statusCode).toBe(204);
    await expectRefused(c, token, `a ${format} token of a deleted application`);
    // Only that application's tokens: another client of the same service account is untouched.
    await expectValid(c, other);
  });

  it.each(['Jwt', 'Bearer'] as const)('a JWT-bearer %s token fails once its key is deleted', async (type) => {
    const sa = await serviceAccount(c, type);
    const doomed = await addKey(c, sa);
    const kept = await addKey(c, sa);
    const token = await jwtBearerToken(c, doomed);
    const other = await jwtBearerToken(c, kept);
    expect(token.split('.').length === 3).toBe(type === 'Jwt');
    await expectValid(c, token);
    await expectValid(c, other);

    expect((await call(t.app, t.adminPat, 'DELETE', `/api/v3/serviceaccounts/${sa}/keys/${doomed.keyId}`, undefined, asOperator(c))).statusCode).toBe(204);
    await expectRefused(c, token, `a ${type} token of a deleted key`);
    await expectValid(c, other);
  });

  it('every token of a service account fails once the account is deleted', async () => {
    const sa = await serviceAccount(c);
    const key = await addKey(c, sa);
    const tokens = {
      'client_credentials jwt': await clientCredentialsToken(c, await machineClient(c, sa, 'jwt')),
      'client_credentials opaque': await clientCredentialsToken(c, await machineClient(c, sa, 'opaque')),
      'jwt-bearer jwt': await jwtBearerToken(c, key),
    };
    for (const token of Object.values(tokens)) await expectValid(c, token);

    expect((await call(t.app, t.adminPat, 'DELETE', `/api/v3/serviceaccounts/${sa}`, undefined, asOperator(c))).statusCode).toBe(204);
    for (const [what, token] of Object.entries(tokens)) await expectRefused(c, token, `a ${what} token of a deleted service account`);
  });

  async function userToken(email: string, app: { clientId: string; redirect: string }): Promise<string> {
    const verifier = randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: app.clientId,
      redirect_uri: app.redirect,
      scope: 'openid offline_access',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: randomUUID(),
      nonce: randomUUID(),
    });
    const res = await loginThrough(new Browser(t.issuer), `/oauth/v2/authorize?${query}`, email, PASSWORD);
    expect(res.status).toBe(303);
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const tok = await form(t.app, '/oauth/v2/token', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: app.redirect,
      client_id: app.clientId,
      code_verifier: verifier,
    });
    expect(tok.statusCode, tok.body).toBe(200);
    return tok.json().access_token;
  }

  async function userClients() {
    const out: Record<'jwt' | 'opaque', { clientId: string; redirect: string }> = {} as never;
    for (const accessTokenType of ['jwt', 'opaque'] as const) {
      const redirect = `https://${accessTokenType}.example/cb`;
      const res = await call(
        t.app,
        t.adminPat,
        'POST',
        '/api/v3/applications',
        {
          data: {
            type: 'applications',
            attributes: { name: `ui-${randomUUID().slice(0, 8)}`, clientType: 'public', redirectUris: [redirect], accessTokenType },
          },
        },
        asOperator(c),
      );
      expect(res.statusCode, res.body).toBe(201);
      out[accessTokenType] = { clientId: res.json().data.attributes.clientId, redirect };
    }
    return out;
  }

  it.each(['deleted', 'made inactive'] as const)("a user's tokens fail once the user is %s", async (change) => {
    const email = `u-${randomUUID().slice(0, 8)}@issuers.test`;
    const userId = await seedUser(t, c.tenantId, { email, password: PASSWORD, roles: ['tenant-admin'] });
    const clients = await userClients();
    const tokens = { jwt: await userToken(email, clients.jwt), opaque: await userToken(email, clients.opaque) };
    expect(decodeJwt(tokens.jwt).sub).toBe(userId);
    for (const token of Object.values(tokens)) await expectValid(c, token);

    const res =
      change === 'deleted'
        ? await call(t.app, t.adminPat, 'DELETE', `/api/v3/users/${userId}`, undefined, asOperator(c))
        : await call(t.app, t.adminPat, 'PATCH', `/api/v3/users/${userId}`, { data: { type: 'users', attributes: { state: 'inactive' } } }, asOperator(c));
    expect(res.statusCode, res.body).toBe(change === 'deleted' ? 204 : 200);
    for (const [format, token] of Object.entries(tokens)) await expectRefused(c, token, `a ${format} token of a user ${change}`);
  });

  it('one standing grant serves every token of a client or key, and housekeeping keeps it', async () => {
    const sa = await serviceAccount(c);
    const m = await machineClient(c, sa, 'jwt');
    const key = await addKey(c, sa);
    const cc = [await clientCredentialsToken(c, m), await clientCredentialsToken(c, m)];
    const jb = [await jwtBearerToken(c, key), await jwtBearerToken(c, key)];
    const gid = (token: string) => decodeJwt(token).gid as string;
    expect(gid(cc[0]!)).toBeTruthy();
    expect(gid(cc[1]!)).toBe(gid(cc[0]!));
    expect(gid(jb[0]!)).toBeTruthy();
    expect(gid(jb[1]!)).toBe(gid(jb[0]!));
    expect(gid(jb[0]!)).not.toBe(gid(cc[0]!));
    expect(await t.db.prisma.oAuthGrant.count({ where: { serviceAccountId: sa } })).toBe(2);

    // A standing grant has no stored tokens when its tokens are JWTs; purging must not end it.
    await t.db.prisma.oAuthGrant.updateMany({ where: { serviceAccountId: sa }, data: { createdAt: new Date(Date.now() - 7 * 86400_000) } });
    await purgeExpired(t.db.prisma);
    for (const token of [...cc, ...jb]) expect((await validate(t.app, token)).statusCode).toBe(200);
  });

  it('a client_credentials token fails once its application is bound to another service account or loses the grant type', async () => {
    const sa = await serviceAccount(c);
    const m = await machineClient(c, sa, 'jwt');
    const first = await clientCredentialsToken(c, m);
    await expectValid(c, first);
    const rebound = await call(
      t.app,
      t.adminPat,
      'PATCH',
      `/api/v3/applications/${m.id}`,
      { data: { attributes: { serviceAccountId: await serviceAccount(c) } } },
      asOperator(c),
    );
    expect(rebound.statusCode, rebound.body).toBe(200);
    await expectRefused(c, first, 'a token of a rebound application');
    // An instance still holding the client as it was (hot cache) gets no new grant for the old account.
    await expect(t.app.oauth.standingGrants.idFor({ tenantId: c.tenantId, applicationId: m.id, serviceAccountId: sa })).rejects.toThrow(/no longer bound/);

    const second = await clientCredentialsToken(c, m);
    expect(decodeJwt(second).sub).not.toBe(sa);
    await expectValid(c, second);
    const changed = await call(
      t.app,
      t.adminPat,
      'PATCH',
      `/api/v3/applications/${m.id}`,
      {
        data: { attributes: { grantTypes: ['authorization_code'], redirectUris: ['https://machine.example/cb'], serviceAccountId: null } },
      },
      asOperator(c),
    );
    expect(changed.statusCode, changed.body).toBe(200);
    await expectRefused(c, second, 'a token of an application that lost client_credentials');
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('tokens die with what issued them on every instance', () => {
  let c: Ctx;
  let other: { app: FastifyInstance; db: Database };
  beforeAll(async () => {
    const t = await startTestApp();
    c = await setUp(t);
    const db = await openDatabase({ url: t.db.url, poolMax: 3 });
    const app = await buildApp({ config: t.config, db, masterKey: t.app.masterKey, logger: testLogger() });
    await app.ready();
    other = { app, db };
  }, 60_000);
  afterAll(async () => {
    await other?.app.close();
    await other?.db.close();
    await c?.t.close();
  });

  /** Waits (at most 1 s) until the other instance refuses a token it had cached. */
  async function refusedElsewhere(token: string) {
    const since = Date.now();
    while ((await validate(other.app, token)).statusCode === 200 && Date.now() - since < 1000) await new Promise((r) => setTimeout(r, 5));
    expect([401, 403]).toContain((await validate(other.app, token)).statusCode);
    expect((await call(other.app, token, 'GET', '/api/v3/applications')).statusCode).toBe(401);
  }

  it('an application or key deleted through one instance ends its tokens on another', async () => {
    const sa = await serviceAccount(c);
    const m = await machineClient(c, sa, 'jwt');
    const key = await addKey(c, sa);
    const cc = await clientCredentialsToken(c, m);
    const jb = await jwtBearerToken(c, key);
    for (const token of [cc, jb]) for (let i = 0; i < 3; i++) expect((await validate(other.app, token)).statusCode).toBe(200);

    expect((await call(c.t.app, c.t.adminPat, 'DELETE', `/api/v3/applications/${m.id}`, undefined, asOperator(c))).statusCode).toBe(204);
    await refusedElsewhere(cc);
    expect((await validate(other.app, jb)).statusCode).toBe(200);
    expect((await call(c.t.app, c.t.adminPat, 'DELETE', `/api/v3/serviceaccounts/${sa}/keys/${key.keyId}`, undefined, asOperator(c))).statusCode).toBe(204);
    await refusedElsewhere(jb);
  });
});
