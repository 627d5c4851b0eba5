// OAuth 2.0 Token Exchange (RFC 8693): a service acting on behalf of a user, driven by a real
// client (openid-client), with a user token obtained through the hosted login.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, snapshot, type TestApp } from './helpers/app.js';
import { Browser, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';
import { issueAccessToken } from '../src/oauth/tokens.js';

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const PASSWORD = 'Correct-Horse-42';

let t: TestApp & { issuer: string };
let tenantA: string;
let adminA: string;
let aliceId: string;
let daveId: string;
let service: { clientId: string; secret: string; serviceAccountId: string };
let worker: { clientId: string; secret: string };
let groupA: { id: string; name: string };

interface Spa {
  clientId: string;
  redirect: string;
  secret?: string;
}
let spaA: Spa;
let spaB: Spa;

const rp = (clientId: string, secret?: string) =>
  client.discovery(new URL(t.issuer), clientId, secret, secret ? client.ClientSecretBasic(secret) : client.None(), {
    execute: [client.allowInsecureRequests],
  });

/** A user's tokens through the hosted login and the authorization code flow with PKCE. */
async function signIn(spa: Spa, email: string, scope: string, dpop?: client.DPoPHandle) {
  const config = await rp(spa.clientId, spa.secret);
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: spa.redirect,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const done = await loginThrough(new Browser(t.issuer), url.toString(), email, PASSWORD);
  expect(done.status).toBe(303);
  const tokens = await client.authorizationCodeGrant(config, new URL(done.headers.get('location')!), { pkceCodeVerifier: verifier }, undefined, {
    ...(dpop ? { DPoP: dpop } : {}),
  });
  return { config, tokens };
}

const exchange = async (config: client.Configuration, params: Record<string, string>, dpop?: client.DPoPHandle) =>
  client.genericGrantRequest(config, TE, params, dpop ? { DPoP: dpop } : undefined);

const exchangeCount = () => t.db.prisma.auditEvent.count({ where: { action: 'token.exchanged' } });

/** A refused exchange: an OAuth error (RFC 6749 §5.2) and nothing issued or changed. */
async function refused(config: client.Configuration, params: Record<string, string>, dpop?: client.DPoPHandle) {
  const before = await snapshot(t.db);
  const audits = await exchangeCount();
  let error: unknown;
  try {
    await exchange(config, params, dpop);
  } catch (err) {
    error = err;
  }
  let e: { status: number; error: string; error_description?: string };
  if (error instanceof client.WWWAuthenticateChallengeError) {
    // A failed Basic authentication: 401 with its challenge (RFC 6749 §5.2), the error in the body.
    expect(error.cause[0]!.scheme).toBe('basic');
    e = { status: error.status, ...((await error.response.json()) as { error: string; error_description: string }) };
  } else {
    expect(error).toBeInstanceOf(client.ResponseBodyError);
    e = error as client.ResponseBodyError;
  }
  expect(e.status).toBeGreaterThanOrEqual(400);
  expect(e.status).toBeLessThan(500);
  expect(typeof e.error_description).toBe('string');
  expect(await exchangeCount()).toBe(audits);
  const after = await snapshot(t.db);
  // A DPoP proof's jti is recorded when the proof is checked, before the grant refuses.
  if (dpop) {
    delete before.UsedDpopProof;
    delete after.UsedDpopProof;
  }
  expect(after).toEqual(before);
  return { status: e.status, error: e.error, description: e.error_description };
}

async function createApp(attributes: Record<string, unknown>) {
  const res = await call(t.app, adminA, 'POST', '/api/v3/applications', { data: { type: 'applications', attributes } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().data.attributes as { clientId: string; clientSecret: string };
}

async function spaOf(tenantId: string): Promise<Spa> {
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } });
  return { clientId: app.clientId, redirect: app.redirectUris[0]! };
}

const api = (token: string, path: string) => fetch(`${t.issuer}${path}`, { headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  t = await startListeningApp();
  tenantA = await createTenant(t, 'Tenant A', 'alpha');
  const tenantB = await createTenant(t, 'Tenant B', 'bravo');
  adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
  // The service's own identity holds more than the users it acts for: none of it may pass on.
  const serviceAccount = await seedServiceAccountPat(t, tenantA, ['tenant-admin']);
  const svc = await createApp({
    name: 'Reports backend',
    clientType: 'confidential',
    grantTypes: ['client_credentials', TE],
    serviceAccountId: serviceAccount.serviceAccountId,
    accessTokenLifetime: 86400,
  });
  service = { clientId: svc.clientId, secret: svc.clientSecret, serviceAccountId: serviceAccount.serviceAccountId };
  const w = await createApp({
    name: 'Worker',
    clientType: 'confidential',
    grantTypes: ['client_credentials'],
    serviceAccountId: serviceAccount.serviceAccountId,
  });
  worker = { clientId: w.clientId, secret: w.clientSecret };
  aliceId = await seedUser(t, tenantA, { email: 'alice@alpha.test', password: PASSWORD, roles: ['tenant-user'] });
  daveId = await seedUser(t, tenantA, { email: 'dave@alpha.test', password: PASSWORD, roles: ['tenant-user'] });
  await seedUser(t, tenantB, { email: 'carol@bravo.test', password: PASSWORD, roles: ['tenant-admin'] });
  const g = await call(t.app, adminA, 'POST', '/api/v3/usergroups', { data: { type: 'usergroups', attributes: { name: 'Readers' } } });
  expect(g.statusCode).toBe(201);
  groupA = { id: g.json().data.id, name: 'Readers' };
  expect((await call(t.app, adminA, 'POST', `/api/v3/usergroups/${groupA.id}/users`, { data: [{ type: 'users', id: aliceId }] })).statusCode).toBeLessThan(300);
  spaA = await spaOf(tenantA);
  spaB = await spaOf(tenantB);
}, 90_000);
afterAll(() => t?.close());

describe('token exchange (RFC 8693)', () => {
  it('is advertised, and only a confidential client may be allowed it', async () => {
    const config = await rp(spaA.clientId);
    expect(config.serverMetadata().grant_types_supported).toContain(TE);
    const res = await call(t.app, adminA, 'POST', '/api/v3/applications', {
      data: { type: 'applications', attributes: { name: 'SPA exchanging', clientType: 'public', redirectUris: ['https://spa.example/cb'], grantTypes: [TE] } },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].source.pointer).toBe('/data/attributes/grantTypes');
  });

  it("issues the user's token to the service, narrowed, with the service as actor and the user's rights only", async () => {
    const alice = await signIn(spaA, 'alice@alpha.test', 'openid profile email groups');
    const subjectClaims = decodeJwt(alice.tokens.access_token);
    const svc = await rp(service.clientId, service.secret);
    const own = await client.clientCredentialsGrant(svc);
    const audits = await exchangeCount();

    const issued = await exchange(svc, {
      subject_token: alice.tokens.access_token,
      subject_token_type: AT,
      actor_token: own.access_token,
      actor_token_type: AT,
      scope: 'openid groups',
      requested_token_type: AT,
    });
    expect(issued.issued_token_type).toBe(AT);
    expect(issued.token_type).toBe('bearer');
    expect(issued.scope).toBe('openid groups');
    expect(issued.refresh_token).toBeUndefined();
    expect(issued.id_token).toBeUndefined();
    // Never longer than the subject token's remaining life, although the client's lifetime is a day.
    expect(issued.expires_in).toBeLessThanOrEqual(subjectClaims.exp! - Math.floor(Date.now() / 1000) + 1);
    const claims = decodeJwt(issued.access_token);
    expect(claims.exp!).toBeLessThanOrEqual(subjectClaims.exp!);
    expect(claims).toMatchObject({
      sub: aliceId,
      tenant_id: tenantA,
      client_id: service.clientId,
      scope: 'openid groups',
      roles: ['tenant-user'],
      gid: subjectClaims.gid,
      act: { sub: service.serviceAccountId, client_id: service.clientId },
      group_ids: [groupA.id],
      group_names: [groupA.name],
    });
    expect(claims.aud).toEqual([service.clientId, t.issuer]);

    // At the API it is Alice, with her rights: the service's tenant-admin does not pass on.
    expect((await api(issued.access_token, `/api/v3/users/${aliceId}`)).status).toBe(200);
    expect((await api(issued.access_token, '/api/v3/applications')).status).toBe(403);
    expect((await api(own.access_token, '/api/v3/applications')).status).toBe(200);
    const v = await api(issued.access_token, '/api/v3/session/validate-token');
    expect(v.status).toBe(200);
    expect(v.headers.get('x-forwarded-user-id')).toBe(aliceId);
    expect(v.headers.get('x-forwarded-user-roles')).toBe('tenant-user');

    // Introspection tells the actor; the audit log has subject, actor and client.
    const info = await client.tokenIntrospection(svc, issued.access_token);
    expect(info).toMatchObject({ active: true, sub: aliceId, client_id: service.clientId, act: { sub: service.serviceAccountId } });
    expect(await exchangeCount()).toBe(audits + 1);
    const event = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { action: 'token.exchanged' }, orderBy: { createdAt: 'desc' } });
    expect(event).toMatchObject({ tenantId: tenantA, actorId: aliceId, targetId: subjectClaims.gid });
    expect(event.details).toMatchObject({ clientId: service.clientId, actor: { sub: service.serviceAccountId, client_id: service.clientId } });
  });

  it('takes the jwt token type, needs no actor token, and the token dies with the subject token family', async () => {
    const alice = await signIn(spaA, 'alice@alpha.test', 'openid offline_access');
    expect(alice.tokens.refresh_token).toBeTruthy();
    const svc = await rp(service.clientId, service.secret);
    const issued = await exchange(svc, { subject_token: alice.tokens.access_token, subject_token_type: JWT });
    // offline_access is dropped: an exchange never yields a refresh token.
    expect(issued.scope).toBe('openid');
    expect(issued.refresh_token).toBeUndefined();
    expect(decodeJwt(issued.access_token).act).toBeUndefined();
    expect((await api(issued.access_token, `/api/v3/users/${aliceId}`)).status).toBe(200);

    // Revoking the refresh token ends the family (RFC 7009 §2.1), the exchanged token with it.
    await client.tokenRevocation(alice.config, alice.tokens.refresh_token!);
    expect((await api(issued.access_token, `/api/v3/users/${aliceId}`)).status).toBe(401);
    expect((await api(issued.access_token, '/api/v3/session/validate-token')).status).toBeGreaterThanOrEqual(401);
  });

  it("takes a user's opaque access token (as access_token, not as jwt), and issues a JWT", async () => {
    const portal = await createApp({
      name: 'Opaque portal',
      clientType: 'confidential',
      grantTypes: ['authorization_code'],
      redirectUris: ['https://portal.alpha.test/cb'],
      accessTokenType: 'opaque',
    });
    const alice = await signIn(
      { clientId: portal.clientId, secret: portal.clientSecret, redirect: 'https://portal.alpha.test/cb' },
      'alice@alpha.test',
      'openid email',
    );
    expect(alice.tokens.access_token).toMatch(/^pcaat_/);
    const svc = await rp(service.clientId, service.secret);
    expect(await refused(svc, { subject_token: alice.tokens.access_token, subject_token_type: JWT })).toMatchObject({ error: 'invalid_grant' });
    const issued = await exchange(svc, { subject_token: alice.tokens.access_token, subject_token_type: AT, scope: 'email' });
    expect(decodeJwt(issued.access_token)).toMatchObject({ sub: aliceId, client_id: service.clientId, scope: 'email' });
    expect((await api(issued.access_token, `/api/v3/users/${aliceId}`)).status).toBe(200);
    expect(await refused(svc, { subject_token: alice.tokens.access_token, subject_token_type: AT, scope: 'profile' })).toMatchObject({
      error: 'invalid_scope',
    });
  });

  it('binds to the DPoP key of a bound subject token, and refuses it without a proof of that key', async () => {
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const key = client.getDPoPHandle(await rp(spaA.clientId), keyPair);
    const alice = await signIn(spaA, 'alice@alpha.test', 'openid', key);
    const jkt = (decodeJwt(alice.tokens.access_token).cnf as { jkt: string }).jkt;
    expect(jkt).toBeTruthy();
    const svc = await rp(service.clientId, service.secret);
    const params = { subject_token: alice.tokens.access_token, subject_token_type: AT };
    expect((await refused(svc, params)).error).toBe('invalid_grant');
    const otherKey = client.getDPoPHandle(svc, await client.randomDPoPKeyPair('ES256'));
    expect((await refused(svc, params, otherKey)).error).toBe('invalid_grant');

    const sameKey = client.getDPoPHandle(svc, keyPair);
    const issued = await exchange(svc, params, sameKey);
    expect(issued.token_type).toBe('dpop');
    expect((decodeJwt(issued.access_token).cnf as { jkt: string }).jkt).toBe(jkt);
  });

  describe('refusals: an OAuth error, nothing issued', () => {
    let svc: client.Configuration;
    let alice: Awaited<ReturnType<typeof signIn>>;
    beforeAll(async () => {
      svc = await rp(service.clientId, service.secret);
      alice = await signIn(spaA, 'alice@alpha.test', 'openid');
    }, 60_000);
    const subject = () => ({ subject_token: alice.tokens.access_token, subject_token_type: AT });

    it('a wider scope', async () => {
      expect(await refused(svc, { ...subject(), scope: 'openid email' })).toMatchObject({ status: 400, error: 'invalid_scope' });
    });

    it("another tenant's token", async () => {
      const carol = await signIn(spaB, 'carol@bravo.test', 'openid');
      expect(await refused(svc, { subject_token: carol.tokens.access_token, subject_token_type: AT })).toMatchObject({ status: 400, error: 'invalid_grant' });
    });

    it('a revoked token', async () => {
      const revoked = await signIn(spaA, 'alice@alpha.test', 'openid');
      await client.tokenRevocation(revoked.config, revoked.tokens.access_token);
      expect(await refused(svc, { subject_token: revoked.tokens.access_token, subject_token_type: AT })).toMatchObject({ status: 400, error: 'invalid_grant' });
    });

    it('an expired token', async () => {
      const { gid } = decodeJwt(alice.tokens.access_token) as { gid: string };
      const past = new Date(Date.now() - 3600_000);
      const subj = { kind: 'user' as const, tenantId: tenantA, subjectId: aliceId, username: 'alice', roles: ['tenant-user'], groups: [] };
      const expired = await issueAccessToken(
        t.app.oauth,
        { subject: subj, clientId: spaA.clientId, scope: 'openid', format: 'jwt', lifetime: 60, grantId: gid },
        past,
      );
      expect(await refused(svc, { subject_token: expired.accessToken, subject_token_type: AT })).toMatchObject({ status: 400, error: 'invalid_grant' });
    });

    it('the token of a user who is now inactive', async () => {
      const dave = await signIn(spaA, 'dave@alpha.test', 'openid');
      const control = await exchange(svc, { subject_token: dave.tokens.access_token, subject_token_type: AT });
      expect(decodeJwt(control.access_token).sub).toBe(daveId);
      const res = await call(t.app, adminA, 'PATCH', `/api/v3/users/${daveId}`, { data: { type: 'users', id: daveId, attributes: { state: 'inactive' } } });
      expect(res.statusCode, res.body).toBe(200);
      expect(await refused(svc, { subject_token: dave.tokens.access_token, subject_token_type: AT })).toMatchObject({ status: 400, error: 'invalid_grant' });
    });

    it('a client not allowed the grant, and a public client', async () => {
      const w = await rp(worker.clientId, worker.secret);
      expect(await refused(w, subject())).toMatchObject({ status: 400, error: 'unauthorized_client' });
      const spa = await rp(spaA.clientId);
      expect(await refused(spa, subject())).toMatchObject({ status: 400, error: 'unauthorized_client' });
      const wrongSecret = await rp(service.clientId, 'not-the-secret');
      expect(await refused(wrongSecret, subject())).toMatchObject({ status: 401, error: 'invalid_client' });
    });

    it('token types other than access tokens', async () => {
      const idType = await refused(svc, { ...subject(), subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' });
      expect(idType).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(idType.description).toMatch(/subject_token_type/);
      const refreshWanted = await refused(svc, { ...subject(), requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' });
      expect(refreshWanted).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(refreshWanted.description).toMatch(/requested_token_type/);
      expect(await refused(svc, { subject_token: alice.tokens.access_token })).toMatchObject({ error: 'invalid_request' });
      // An ID token is not an access token, whatever type it is sent as.
      expect(await refused(svc, { subject_token: alice.tokens.id_token!, subject_token_type: JWT })).toMatchObject({ error: 'invalid_grant' });
    });

    it('garbage, a missing token, a foreign target, and actor or subject tokens that are not what they must be', async () => {
      expect(await refused(svc, { subject_token: 'garbage', subject_token_type: AT })).toMatchObject({ status: 400, error: 'invalid_grant' });
      expect(await refused(svc, { subject_token: 'a.b.c', subject_token_type: JWT })).toMatchObject({ status: 400, error: 'invalid_grant' });
      expect(await refused(svc, { subject_token: 'pcaat_nothing', subject_token_type: JWT })).toMatchObject({ status: 400, error: 'invalid_grant' });
      expect(await refused(svc, { subject_token_type: AT })).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(await refused(svc, { ...subject(), audience: 'https://other.example' })).toMatchObject({ status: 400, error: 'invalid_target' });
      expect(await refused(svc, { ...subject(), resource: 'https://other.example/api' })).toMatchObject({ status: 400, error: 'invalid_target' });
      expect(await refused(svc, { ...subject(), resource: 'not a uri' })).toMatchObject({ status: 400, error: 'invalid_target' });
      // The actor is the requesting client itself, never a token of another party.
      expect(await refused(svc, { ...subject(), actor_token: alice.tokens.access_token, actor_token_type: AT })).toMatchObject({ error: 'invalid_grant' });
      expect(await refused(svc, { ...subject(), actor_token: 'garbage', actor_token_type: AT })).toMatchObject({ error: 'invalid_grant' });
      expect(await refused(svc, { ...subject(), actor_token_type: AT })).toMatchObject({ error: 'invalid_request' });
      // A service account's token is no user to act for.
      const own = await client.clientCredentialsGrant(svc);
      expect(await refused(svc, { subject_token: own.access_token, subject_token_type: AT })).toMatchObject({ error: 'invalid_grant' });
      // Control: the same subject token is accepted with correct parameters and a target of ours.
      const ok = await exchange(svc, { ...subject(), audience: t.issuer, resource: `${t.issuer}/api/v3/users` });
      expect(decodeJwt(ok.access_token).sub).toBe(aliceId);
    });
  });
});
