// DPoP (RFC 9449): sender-constrained tokens, driven by a real client (openid-client), and an
// independent check of the proof rules with proofs built by hand with jose.
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { Browser, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';
import { accessTokenHash } from '../src/oauth/dpop.js';
import { purgeExpired } from '../src/oauth/purge.js';

const PROXY = '10.9.9.9';
const PASSWORD = 'Correct-Horse-42';
let t: TestApp & { issuer: string };
let tenantId: string;
let machine: { clientId: string; secret: string; serviceAccountId: string };
let spa: { clientId: string; redirect: string };

interface Key {
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}
async function newKey(alg = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

/** A DPoP proof built by hand; `claims` and `header` override the correct values. */
function proof(key: Key, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  return new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header })
    .sign(key.privateKey);
}

const basic = () => `Basic ${Buffer.from(`${machine.clientId}:${machine.secret}`).toString('base64')}`;
const tokenUrl = () => `${t.issuer}/oauth/v2/token`;

/** client_credentials with a hand-built proof (or none). */
function clientCredentials(dpop?: string) {
  return fetch(tokenUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(), ...(dpop ? { dpop } : {}) },
    body: 'grant_type=client_credentials',
  });
}

async function boundToken(key: Key): Promise<string> {
  const res = await clientCredentials(await proof(key, { htm: 'POST', htu: tokenUrl() }));
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body.token_type).toBe('DPoP');
  return body.access_token;
}

function api(path: string, headers: Record<string, string>, method = 'GET') {
  return fetch(`${t.issuer}${path}`, { method, headers });
}

async function rp(clientId: string, auth: client.ClientAuth) {
  return client.discovery(new URL(t.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

beforeAll(async () => {
  t = await startListeningApp({ TRUSTED_PROXIES: `${PROXY}/32` });
  tenantId = await createTenant(t, 'Tenant D', 'dpop');
  const admin = await seedServiceAccountPat(t, tenantId, ['tenant-admin']);
  const created = await call(t.app, admin.pat, 'POST', '/api/v3/applications', {
    data: {
      type: 'applications',
      attributes: { name: 'Worker', clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId: admin.serviceAccountId },
    },
  });
  expect(created.statusCode).toBe(201);
  machine = {
    clientId: created.json().data.attributes.clientId,
    secret: created.json().data.attributes.clientSecret,
    serviceAccountId: admin.serviceAccountId,
  };
  const ui = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } });
  spa = { clientId: ui.clientId, redirect: ui.redirectUris[0]! };
  await seedUser(t, tenantId, { email: 'dora@dpop.test', password: PASSWORD, roles: ['tenant-admin'] });
}, 60_000);
afterAll(() => t?.close());

describe('DPoP with openid-client', () => {
  it('advertises the proof algorithms', async () => {
    const meta = (await rp(machine.clientId, client.ClientSecretBasic(machine.secret))).serverMetadata();
    expect(meta.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'RS256', 'EdDSA']));
  });

  it('binds client_credentials tokens to the key, which /api/v3 and validate-token then require', async () => {
    const config = await rp(machine.clientId, client.ClientSecretBasic(machine.secret));
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const dpop = client.getDPoPHandle(config, keyPair);
    const tokens = await client.clientCredentialsGrant(config, {}, { DPoP: dpop });
    expect(tokens.token_type).toBe('dpop');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt });

    const users = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${t.issuer}/api/v3/users`), 'GET', undefined, undefined, {
      DPoP: dpop,
    });
    expect(users.status).toBe(200);
    const validated = await client.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(`${t.issuer}/api/v3/session/validate-token`),
      'GET',
      undefined,
      undefined,
      { DPoP: dpop },
    );
    expect(validated.status).toBe(200);
    expect(validated.headers.get('x-forwarded-user-id')).toBe(machine.serviceAccountId);

    // Stolen, the token alone is worthless: as a bearer token it is refused with the DPoP challenge.
    for (const path of ['/api/v3/users', '/api/v3/session/validate-token']) {
      const res = await api(path, { authorization: `Bearer ${tokens.access_token}` });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^DPoP algs="[^"]+", error="invalid_token"/);
    }
    const introspected = await client.tokenIntrospection(config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });
  });

  it('binds the access and refresh tokens of a public client in the code flow, and userinfo checks the proof', async () => {
    const config = await rp(spa.clientId, client.None());
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const dpop = client.getDPoPHandle(config, keyPair);
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: spa.redirect,
      scope: 'openid email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const done = await loginThrough(new Browser(t.issuer), url.toString(), 'dora@dpop.test', PASSWORD);
    expect(done.status).toBe(303);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.headers.get('location')!), { pkceCodeVerifier: verifier }, undefined, {
      DPoP: dpop,
    });
    expect(tokens.token_type).toBe('dpop');
    expect(tokens.refresh_token).toBeTruthy();
    const sub = tokens.claims()!.sub;
    expect((await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP: dpop })).email).toBe('dora@dpop.test');
    const asBearer = await api('/oidc/v1/userinfo', { authorization: `Bearer ${tokens.access_token}` });
    expect(asBearer.status).toBe(401);

    // The refresh token needs the same key: not another one, not none (and neither attempt spends it).
    const other = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: other })).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop });
    expect(refreshed.token_type).toBe('dpop');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    expect(decodeJwt(refreshed.access_token).cnf).toEqual({ jkt });
    const again = await client.refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP: dpop });
    expect(again.token_type).toBe('dpop');
  });
});

describe('DPoP proofs checked independently (jose)', () => {
  it('refuses a bad proof at the token endpoint, issuing nothing', async () => {
    const key = await newKey();
    const htu = tokenUrl();
    const before = await t.db.prisma.usedDpopProof.count();
    const cases = [
      await proof(key, { htm: 'GET', htu }),
      await proof(key, { htm: 'POST', htu: `${t.issuer}/oauth/v2/introspect` }),
      await proof(key, { htm: 'POST', htu }, { typ: 'JWT' }),
      await proof(key, { htm: 'POST', htu }, { jwk: { ...key.jwk, d: 'AAAA' } }),
      await proof(key, { htm: 'POST', htu, jti: undefined }),
      'not.a.jwt',
    ];
    for (const dpop of cases) {
      const res = await clientCredentials(dpop);
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('invalid_dpop_proof');
    }
    const { privateKey } = await generateKeyPair('ES256');
    const foreign = await new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), htm: 'POST', htu })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
      .sign(privateKey);
    expect((await clientCredentials(foreign)).status).toBe(400);
    expect(await t.db.prisma.usedDpopProof.count()).toBe(before);
  });

  it('asks for a nonce when the iat is stale, and accepts the proof that carries it', async () => {
    const key = await newKey();
    const stale = Math.floor(Date.now() / 1000) - 600;
    const res = await clientCredentials(await proof(key, { htm: 'POST', htu: tokenUrl(), iat: stale }));
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('use_dpop_nonce');
    const nonce = res.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ok = await clientCredentials(await proof(key, { htm: 'POST', htu: tokenUrl(), iat: stale, nonce }));
    expect(ok.status).toBe(200);
    const wrongNonce = await clientCredentials(await proof(key, { htm: 'POST', htu: tokenUrl(), nonce: 'x'.repeat(43) }));
    expect((await wrongNonce.json()).error).toBe('use_dpop_nonce');
  });

  it('refuses wrong htm, wrong htu, a replayed jti, a stale iat, a missing ath, another key; accepts the right proof', async () => {
    const key = await newKey();
    const token = await boundToken(key);
    const htu = `${t.issuer}/api/v3/users`;
    const ath = accessTokenHash(token);
    const send = async (dpop: string) => api('/api/v3/users', { authorization: `DPoP ${token}`, dpop });

    const good = await proof(key, { htm: 'GET', htu: `${htu}?ignored=query`, ath });
    expect((await send(good)).status).toBe(200);
    const replay = await send(good);
    expect(replay.status).toBe(401);
    expect(replay.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"');

    const other = await newKey();
    const refused: [string, string][] = [
      [await proof(key, { htm: 'POST', htu, ath }), 'invalid_dpop_proof'],
      [await proof(key, { htm: 'GET', htu: `${t.issuer}/api/v3/tenants`, ath }), 'invalid_dpop_proof'],
      [await proof(key, { htm: 'GET', htu: `https://elsewhere.example/api/v3/users`, ath }), 'invalid_dpop_proof'],
      [await proof(key, { htm: 'GET', htu }), 'invalid_dpop_proof'],
      [await proof(key, { htm: 'GET', htu, ath: accessTokenHash('another token') }), 'invalid_dpop_proof'],
      [await proof(other, { htm: 'GET', htu, ath }), 'invalid_dpop_proof'],
      [await proof(key, { htm: 'GET', htu, ath, iat: Math.floor(Date.now() / 1000) - 600 }), 'use_dpop_nonce'],
    ];
    for (const [dpop, error] of refused) {
      const res = await send(dpop);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain(`error="${error}"`);
      expect(JSON.stringify(await res.json())).not.toMatch(/prisma|at \w+ \(|\/src\//i);
    }
    expect((await api('/api/v3/users', { authorization: `DPoP ${token}` })).status).toBe(401);
    expect((await api('/api/v3/users', { authorization: `Bearer ${token}`, dpop: good })).status).toBe(401);

    // An unbound token is a bearer token: under the DPoP scheme it is refused.
    const plain = await (await clientCredentials()).json();
    expect(plain.token_type).toBe('Bearer');
    expect((await api('/api/v3/users', { authorization: `Bearer ${plain.access_token}` })).status).toBe(200);
    const mislabelled = await api('/api/v3/users', {
      authorization: `DPoP ${plain.access_token}`,
      dpop: await proof(key, { htm: 'GET', htu, ath: accessTokenHash(plain.access_token) }),
    });
    expect(mislabelled.status).toBe(401);
  });

  it('validate-token checks the proof against the request a trusted proxy forwards, and only from one', async () => {
    const key = await newKey();
    const token = await boundToken(key);
    const ath = accessTokenHash(token);
    const forwarded = { 'x-forwarded-method': 'POST', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example', 'x-forwarded-uri': '/orders?page=2' };
    const validate = (dpop: string, remoteAddress: string, headers: Record<string, string> = forwarded) =>
      t.app.inject({ method: 'GET', url: '/api/v3/session/validate-token', remoteAddress, headers: { authorization: `DPoP ${token}`, dpop, ...headers } });

    const forOrders = () => proof(key, { htm: 'POST', htu: 'https://app.example/orders', ath });
    const ok = await validate(await forOrders(), PROXY);
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['x-forwarded-user-id']).toBe(machine.serviceAccountId);
    // From anyone else the forwarded headers mean nothing: the proof must name validate-token itself.
    expect((await validate(await forOrders(), '192.0.2.7')).statusCode).toBe(401);
    const direct = await validate(await proof(key, { htm: 'GET', htu: `${t.issuer}/api/v3/session/validate-token`, ath }), '192.0.2.7');
    expect(direct.statusCode).toBe(200);
    // A trusted proxy that does not say which request it asks about gets no answer for a bound token.
    const unsaid = await validate(await forOrders(), PROXY, {});
    expect(unsaid.statusCode).toBe(401);
    expect(unsaid.headers['www-authenticate']).toContain('error="invalid_dpop_proof"');
    const asBearer = await t.app.inject({
      method: 'GET',
      url: '/api/v3/session/validate-token',
      remoteAddress: PROXY,
      headers: { authorization: `Bearer ${token}`, ...forwarded },
    });
    expect(asBearer.statusCode).toBe(401);
    expect(asBearer.headers['www-authenticate']).toMatch(/^DPoP /);
  });

  it('issues one token for a proof sent several times at once, and none for an expired proof', async () => {
    const key = await newKey();
    const dpop = await proof(key, { htm: 'POST', htu: tokenUrl() });
    // Sent together, the copies are checked in the same batch of jtis: only one may pass.
    const answers = await Promise.all(Array.from({ length: 6 }, () => clientCredentials(dpop)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 400, 400, 400, 400, 400]);
    for (const a of answers.filter((r) => r.status === 400)) expect((await a.json()).error).toBe('invalid_dpop_proof');
    const expired = await clientCredentials(await proof(key, { htm: 'POST', htu: tokenUrl(), exp: Math.floor(Date.now() / 1000) - 1 }));
    expect(expired.status).toBe(400);
    expect((await expired.json()).error_description).toMatch(/expired/);
  });

  it('remembers proof jtis in the database until they expire, then purges them', async () => {
    const key = await newKey();
    await boundToken(key);
    const rows = await t.db.prisma.usedDpopProof.findMany({ where: { jkt: key.jkt } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.expiresAt.getTime()).toBeGreaterThan(Date.now());
    await t.db.prisma.usedDpopProof.updateMany({ where: { jkt: key.jkt }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const purged = await purgeExpired(t.db.prisma);
    expect(purged.proofs).toBeGreaterThanOrEqual(1);
    expect(await t.db.prisma.usedDpopProof.count({ where: { jkt: key.jkt } })).toBe(0);
    // Kept without the write-ahead log (docs/oauth.md gives the trade-off): 'u' is UNLOGGED.
    const { rows: kind } = await t.db.pool.query(`SELECT relpersistence FROM pg_class WHERE relname = 'UsedDpopProof'`);
    expect(kind).toEqual([{ relpersistence: 'u' }]);
  });
});
