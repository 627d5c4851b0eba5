// client_secret_jwt and private_key_jwt with a jwks_uri (RFC 7523 §2.2, OIDC Core §9), signed
// request objects (RFC 9101) by value and through PAR, and dpop_jkt at PAR (RFC 9449 §10), each
// driven by a real relying party (openid-client) against a listening server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { call, createTenant, seedServiceAccountPat, type TestApp } from './helpers/app.js';
import { Browser, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';

let t: TestApp & { issuer: string };
let tenantId: string;
let admin: string;
let serviceAccountId: string;
const PASSWORD = 'Correct-Horse-42';
const REDIRECT = 'http://127.0.0.1:9/cb';
const REFETCH_SECONDS = 2;

// The client's own server publishing its JWK Set.
let jwksServer: Server;
let jwksBase: string;
let served: { keys: JWK[] } = { keys: [] };
let jwksFetches = 0;

async function rp(clientId: string, auth: client.ClientAuth) {
  return client.discovery(new URL(t.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

const create = (attributes: Record<string, unknown>) =>
  call(t.app, admin, 'POST', '/api/v3/applications', {
    data: { type: 'applications', attributes: { name: `App ${randomUUID().slice(0, 8)}`, ...attributes } },
  });

async function keyPair(alg: string, kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' } as JWK };
}

function tokenForm(form: Record<string, string>, path = '/oauth/v2/token', headers: Record<string, string> = {}) {
  return fetch(`${t.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

async function hmacAssertion(clientId: string, secret: string, alg = 'HS256', claims: { aud?: string; jti?: string; exp?: string | number } = {}) {
  return new SignJWT({})
    .setProtectedHeader({ alg })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(claims.aud ?? t.issuer)
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? '1m')
    .setJti(claims.jti ?? randomUUID())
    .sign(new TextEncoder().encode(secret));
}

beforeAll(async () => {
  jwksServer = createServer((req, res) => {
    jwksFetches++;
    res.setHeader('content-type', 'application/jwk-set+json');
    res.end(JSON.stringify(served));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksBase = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
  // The test's JWK server is on loopback: allowed the way SAML metadata tests allow theirs.
  t = await startListeningApp({ CLIENT_JWKS_ALLOW_CIDRS: '127.0.0.1/32', CLIENT_JWKS_REFETCH_SECONDS: String(REFETCH_SECONDS) });
  tenantId = await createTenant(t, 'Tenant J', 'jar');
  ({ pat: admin, serviceAccountId } = await seedServiceAccountPat(t, tenantId, ['tenant-admin']));
  await seedUser(t, tenantId, { email: 'jane@jar.test', password: PASSWORD, roles: ['tenant-admin'] });
}, 60_000);
afterAll(async () => {
  await t?.close();
  jwksServer?.close();
});

describe('client_secret_jwt (RFC 7523 §2.2, OIDC Core §9)', () => {
  it('authenticates with an HMAC assertion keyed by the secret, which is kept sealed, at every endpoint, once per jti', async () => {
    const created = await create({
      clientType: 'confidential',
      tokenEndpointAuthMethod: 'client_secret_jwt',
      grantTypes: ['client_credentials'],
      serviceAccountId,
    });
    expect(created.statusCode).toBe(201);
    const { clientId, clientSecret } = created.json().data.attributes as { clientId: string; clientSecret: string };
    const row = await t.db.prisma.application.findUniqueOrThrow({ where: { clientId } });
    expect(row.clientSecretSealed).toMatch(/^v1\./);
    expect(row.clientSecretSealed).not.toContain(clientSecret);

    const config = await rp(clientId, client.ClientSecretJwt(clientSecret));
    const tokens = await client.clientCredentialsGrant(config);
    expect(decodeJwt(tokens.access_token).sub).toBe(serviceAccountId);
    expect(await client.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, client_id: clientId });
    await client.tokenRevocation(config, tokens.access_token);
    expect(await client.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: false });

    // HS384 and HS512 too, with the token endpoint's URL as audience.
    for (const alg of ['HS384', 'HS512']) {
      const res = await tokenForm({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await hmacAssertion(clientId, clientSecret, alg, { aud: `${t.issuer}/oauth/v2/token` }),
      });
      expect({ alg, status: res.status }).toEqual({ alg, status: 200 });
    }

    // Refused: the secret itself, another secret, a replayed jti, a foreign audience, a long life.
    await expect(client.clientCredentialsGrant(await rp(clientId, client.ClientSecretBasic(clientSecret)))).rejects.toMatchObject({ status: 401 });
    await expect(client.clientCredentialsGrant(await rp(clientId, client.ClientSecretPost(clientSecret)))).rejects.toMatchObject({ error: 'invalid_client' });
    await expect(client.clientCredentialsGrant(await rp(clientId, client.ClientSecretJwt(`${clientSecret}x`)))).rejects.toMatchObject({
      error: 'invalid_client',
    });
    const once = await hmacAssertion(clientId, clientSecret);
    const post = async (assertion: string) => {
      const res = await tokenForm({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });
      return { status: res.status, ...((await res.json()) as { error?: string; error_description?: string }) };
    };
    expect((await post(once)).status).toBe(200);
    expect(await post(once)).toMatchObject({ status: 401, error: 'invalid_client', error_description: expect.stringMatching(/already used/) });
    expect(await post(await hmacAssertion(clientId, clientSecret, 'HS256', { aud: 'https://elsewhere.test' }))).toMatchObject({ status: 401 });
    expect(await post(await hmacAssertion(clientId, clientSecret, 'HS256', { exp: '1h' }))).toMatchObject({ status: 401, error: 'invalid_client' });
    expect(await post(await hmacAssertion(clientId, clientSecret, 'HS256', { exp: Math.floor(Date.now() / 1000) - 300 }))).toMatchObject({ status: 401 });
  });

  it('issues a new, sealed secret when a client becomes client_secret_jwt, and rotation keeps it sealed', async () => {
    const created = await create({ clientType: 'confidential', grantTypes: ['client_credentials'], serviceAccountId });
    const { id } = created.json().data;
    const { clientId, clientSecret: old } = created.json().data.attributes;
    expect((await t.db.prisma.application.findUniqueOrThrow({ where: { clientId } })).clientSecretSealed).toBeNull();
    const patched = await call(t.app, admin, 'PATCH', `/api/v3/applications/${id}`, {
      data: { type: 'applications', attributes: { tokenEndpointAuthMethod: 'client_secret_jwt' } },
    });
    expect(patched.statusCode).toBe(200);
    const fresh = patched.json().data.attributes.clientSecret as string;
    expect(fresh).toBeTruthy();
    expect(fresh).not.toBe(old);
    expect((await client.clientCredentialsGrant(await rp(clientId, client.ClientSecretJwt(fresh)))).access_token).toBeTruthy();
    await expect(client.clientCredentialsGrant(await rp(clientId, client.ClientSecretJwt(old)))).rejects.toMatchObject({ error: 'invalid_client' });

    const rotated = await call(t.app, admin, 'POST', `/api/v3/applications/${id}/secret`);
    const next = rotated.json().data.attributes.clientSecret as string;
    expect((await client.clientCredentialsGrant(await rp(clientId, client.ClientSecretJwt(next)))).access_token).toBeTruthy();
    await expect(client.clientCredentialsGrant(await rp(clientId, client.ClientSecretJwt(fresh)))).rejects.toMatchObject({ error: 'invalid_client' });

    // Back to client_secret_basic: the sealed secret is forgotten, the hash stays.
    const back = await call(t.app, admin, 'PATCH', `/api/v3/applications/${id}`, {
      data: { type: 'applications', attributes: { tokenEndpointAuthMethod: 'client_secret_basic' } },
    });
    expect(back.json().data.attributes.clientSecret).toBeUndefined();
    expect((await t.db.prisma.application.findUniqueOrThrow({ where: { clientId } })).clientSecretSealed).toBeNull();
    expect((await client.clientCredentialsGrant(await rp(clientId, client.ClientSecretBasic(next)))).access_token).toBeTruthy();
  });
});

describe('private_key_jwt with a jwks_uri', () => {
  it('fetches the JWK Set through the guard, caches it, and refetches on an unknown kid at most every so often', async () => {
    const k1 = await keyPair('ES256', 'k1');
    const k2 = await keyPair('PS256', 'k2');
    served = { keys: [k1.jwk] };
    const created = await create({
      clientType: 'confidential',
      tokenEndpointAuthMethod: 'private_key_jwt',
      grantTypes: ['client_credentials'],
      serviceAccountId,
      jwksUri: `${jwksBase}/jwks.json`,
    });
    expect(created.statusCode).toBe(201);
    const { clientId, jwksUri, jwks } = created.json().data.attributes;
    expect({ jwksUri, jwks }).toEqual({ jwksUri: `${jwksBase}/jwks.json`, jwks: null });

    const before = jwksFetches;
    const withK1 = await rp(clientId, client.PrivateKeyJwt({ key: k1.privateKey as CryptoKey, kid: 'k1' }));
    expect((await client.clientCredentialsGrant(withK1)).access_token).toBeTruthy();
    expect((await client.clientCredentialsGrant(withK1)).access_token).toBeTruthy();
    expect(jwksFetches - before).toBe(1);

    // The client rotates to k2. Just after a fetch, an unknown kid is refused without a new fetch...
    served = { keys: [k1.jwk, k2.jwk] };
    const withK2 = await rp(clientId, client.PrivateKeyJwt({ key: k2.privateKey as CryptoKey, kid: 'k2' }));
    await expect(client.clientCredentialsGrant(withK2)).rejects.toMatchObject({ error: 'invalid_client' });
    expect(jwksFetches - before).toBe(1);
    // ...and once the refetch interval has passed, it causes one fetch that finds the new key.
    await new Promise((r) => setTimeout(r, REFETCH_SECONDS * 1000 + 200));
    expect((await client.clientCredentialsGrant(withK2)).access_token).toBeTruthy();
    expect((await client.clientCredentialsGrant(withK2)).access_token).toBeTruthy();
    expect(jwksFetches - before).toBe(2);

    // A key the set does not hold, under a known kid, stays refused.
    const stranger = await keyPair('ES256', 'k1');
    await expect(
      client.clientCredentialsGrant(await rp(clientId, client.PrivateKeyJwt({ key: stranger.privateKey as CryptoKey, kid: 'k1' }))),
    ).rejects.toMatchObject({
      error: 'invalid_client',
    });
  });

  it('refuses jwks and jwksUri together, and a jwks_uri that points into the private network, at registration', async () => {
    const k = await keyPair('ES256', 'k');
    const base = { clientType: 'confidential', tokenEndpointAuthMethod: 'private_key_jwt', grantTypes: ['client_credentials'], serviceAccountId };
    const before = await t.db.prisma.application.count();
    const both = await create({ ...base, jwks: { keys: [k.jwk] }, jwksUri: `${jwksBase}/jwks.json` });
    expect(both.statusCode).toBe(422);
    expect(both.json().errors[0].source.pointer).toBe('/data/attributes/jwksUri');
    for (const uri of ['http://10.0.0.7/jwks', 'https://169.254.169.254/latest', 'https://[::1]/jwks', 'http://127.0.0.2/jwks', 'https://127.0.0.3/jwks']) {
      const res = await create({ ...base, jwksUri: uri });
      expect({ uri, status: res.statusCode }).toEqual({ uri, status: 422 });
      expect(res.json().errors[0].detail).toMatch(/private or reserved|https/);
    }
    expect((await create({ ...base, jwksUri: 'file:///etc/passwd' })).statusCode).toBe(400);
    expect(await t.db.prisma.application.count()).toBe(before);
  });

  it('refuses at first use a jwks_uri that has become unreachable, with a clear error', async () => {
    const created = await create({
      clientType: 'confidential',
      tokenEndpointAuthMethod: 'private_key_jwt',
      grantTypes: ['client_credentials'],
      serviceAccountId,
      jwksUri: `${jwksBase}/jwks.json`,
    });
    expect(created.statusCode).toBe(201);
    const id: string = created.json().data.id;
    const clientId: string = created.json().data.attributes.clientId;
    // Moved (by the database, as a change of the network would) to a port nothing listens on.
    await t.db.prisma.application.update({ where: { id }, data: { jwksUri: 'http://127.0.0.1:9/jwks.json' } });
    const k = await keyPair('ES256', 'k');
    const res = await tokenForm({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k' })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(t.issuer)
        .setExpirationTime('1m')
        .setJti(randomUUID())
        .sign(k.privateKey),
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_client');
    expect(body.error_description).toMatch(/keys cannot be fetched: jwksUri could not be fetched/);
  });
});

describe('signed request objects (RFC 9101)', () => {
  let jar: { id: string; clientId: string; secret: string };
  let signer: Awaited<ReturnType<typeof keyPair>>;

  beforeAll(async () => {
    signer = await keyPair('ES256', 'req');
    const created = await create({ clientType: 'confidential', redirectUris: [REDIRECT], jwks: { keys: [signer.jwk] }, requireSignedRequestObject: true });
    expect(created.statusCode).toBe(201);
    expect(created.json().data.attributes.requireSignedRequestObject).toBe(true);
    jar = { id: created.json().data.id, clientId: created.json().data.attributes.clientId, secret: created.json().data.attributes.clientSecret };
  });

  async function flowParams(extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    return {
      verifier,
      state,
      params: {
        redirect_uri: REDIRECT,
        scope: 'openid email',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        ...extra,
      },
    };
  }

  /** A request object built by hand, for the ones openid-client would not build. */
  async function requestObject(claims: Record<string, unknown>, opts: { key?: CryptoKey; alg?: string; exp?: number | string } = {}) {
    const { params } = await flowParams();
    return new SignJWT({ response_type: 'code', client_id: jar.clientId, ...params, ...claims })
      .setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: 'req' })
      .setIssuer(jar.clientId)
      .setAudience(t.issuer)
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(opts.key ?? (signer.privateKey as CryptoKey));
  }

  it('is advertised', async () => {
    const meta = (await rp(jar.clientId, client.ClientSecretBasic(jar.secret))).serverMetadata();
    expect(meta.request_parameter_supported).toBe(true);
    expect(meta.request_object_signing_alg_values_supported).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519']);
    expect(meta.request_uri_parameter_supported).toBe(false);
    expect(meta).not.toHaveProperty('require_signed_request_object');
  });

  it('signs in with a request object by value; only its parameters count; a plain request is refused for this client', async () => {
    const config = await rp(jar.clientId, client.ClientSecretBasic(jar.secret));
    const flow = await flowParams();
    const url = await client.buildAuthorizationUrlWithJAR(config, flow.params, signer.privateKey as CryptoKey);
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request']);
    // Parameters outside the object are ignored (RFC 9101 §6.3): a foreign redirect_uri changes nothing.
    url.searchParams.set('redirect_uri', 'https://evil.example/cb');
    url.searchParams.set('scope', 'openid profile');
    const done = await loginThrough(new Browser(t.issuer), url.toString(), 'jane@jar.test', PASSWORD);
    expect(done.status).toBe(303);
    const location = new URL(done.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT);
    const tokens = await client.authorizationCodeGrant(config, location, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
    expect(tokens.scope).toBe('openid email');

    const plain = await new Browser(t.issuer).get(client.buildAuthorizationUrl(config, flow.params).toString());
    expect(plain.status).toBe(302);
    const error = new URL(plain.headers.get('location')!);
    expect(error.searchParams.get('error')).toBe('invalid_request');
    expect(error.searchParams.get('error_description')).toMatch(/signed request objects/);
  });

  it('signs in with a request object pushed through PAR', async () => {
    const config = await rp(jar.clientId, client.ClientSecretBasic(jar.secret));
    const flow = await flowParams();
    const signed = await client.buildAuthorizationUrlWithJAR(config, flow.params, signer.privateKey as CryptoKey);
    const url = await client.buildAuthorizationUrlWithPAR(config, signed.searchParams);
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const done = await loginThrough(new Browser(t.issuer), url.toString(), 'jane@jar.test', PASSWORD);
    expect(done.status).toBe(303);
    const tokens = await client.authorizationCodeGrant(config, new URL(done.headers.get('location')!), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
    });
    expect(tokens.claims()!.email).toBe('jane@jar.test');

    // A plain push is refused for this client.
    await expect(client.buildAuthorizationUrlWithPAR(config, flow.params)).rejects.toMatchObject({ error: 'invalid_request' });
  });

  it('refuses a wrong key, alg none, an expired object, another client_id, a replayed jti: at the endpoint and at PAR', async () => {
    const other = await keyPair('ES256', 'req');
    const unsigned = (() => {
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      return `${b64({ alg: 'none' })}.${b64({ iss: jar.clientId, aud: t.issuer, exp: now + 300, client_id: jar.clientId, response_type: 'code', redirect_uri: REDIRECT })}.`;
    })();
    const jti = randomUUID();
    const cases: [string, string, RegExp][] = [
      ['wrong key', await requestObject({}, { key: other.privateKey as CryptoKey }), /not signed by a key of the client/],
      ['alg none', unsigned, /alg none/],
      ['HS256', await requestObject({}, { alg: 'HS256', key: new TextEncoder().encode(jar.secret) as unknown as CryptoKey }), /must be signed with/],
      ['expired', await requestObject({}, { exp: Math.floor(Date.now() / 1000) - 600 }), /expired/],
      ['client_id', await requestObject({ client_id: 'someone-else' }), /client_id/],
    ];
    for (const [name, jwt, message] of cases) {
      const page = await new Browser(t.issuer).get(`/oauth/v2/authorize?client_id=${jar.clientId}&request=${jwt}`);
      expect({ name, status: page.status }).toEqual({ name, status: 400 });
      expect(await page.text()).toMatch(message);
      const pushed = await tokenForm({ client_id: jar.clientId, request: jwt }, '/oauth/v2/par', {
        authorization: `Basic ${Buffer.from(`${jar.clientId}:${jar.secret}`).toString('base64')}`,
      });
      expect({ name, status: pushed.status }).toEqual({ name, status: 400 });
      expect(await pushed.json()).toMatchObject({ error: 'invalid_request_object', error_description: expect.stringMatching(message) });
    }
    // The outer client_id must be the object's.
    const mismatch = await new Browser(t.issuer).get(`/oauth/v2/authorize?client_id=${jar.clientId}&request=${await requestObject({ client_id: 'x' })}`);
    expect(mismatch.status).toBe(400);

    // A request the object describes but the endpoint refuses does not spend its jti.
    const refusedJti = randomUUID();
    const refused = await new Browser(t.issuer).get(
      `/oauth/v2/authorize?client_id=${jar.clientId}&request=${await requestObject({ jti: refusedJti, response_type: 'token' })}`,
    );
    expect(new URL(refused.headers.get('location')!).searchParams.get('error')).toBe('unsupported_response_type');
    expect(await t.db.prisma.usedClientAssertion.count({ where: { jti: `request:${refusedJti}` } })).toBe(0);

    // A jti is used once.
    const once = await requestObject({ jti });
    const first = await new Browser(t.issuer).get(`/oauth/v2/authorize?client_id=${jar.clientId}&request=${once}`);
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toMatch(/^\/ui\/login\?r=/);
    const again = await new Browser(t.issuer).get(`/oauth/v2/authorize?client_id=${jar.clientId}&request=${once}`);
    expect(again.status).toBe(400);
    expect(await again.text()).toMatch(/already used/);
  });
});

describe('dpop_jkt at PAR (RFC 9449 §10)', () => {
  it('binds the code to the key of the DPoP proof of the push: the redemption must prove it', async () => {
    const created = await create({ clientType: 'confidential', redirectUris: [REDIRECT] });
    const { clientId, clientSecret } = created.json().data.attributes;
    const config = await rp(clientId, client.ClientSecretBasic(clientSecret));
    const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const signIn = async (push: (params: Record<string, string>) => Promise<URL>) => {
      const verifier = client.randomPKCECodeVerifier();
      const url = await push({
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const done = await loginThrough(new Browser(t.issuer), url.toString(), 'jane@jar.test', PASSWORD);
      expect(done.status).toBe(303);
      return { verifier, location: new URL(done.headers.get('location')!) };
    };

    const bound = await signIn((p) => client.buildAuthorizationUrlWithPAR(config, p, { DPoP: dpop }));
    const code = await t.db.prisma.authorizationCode.findFirstOrThrow({ where: { applicationId: created.json().data.id }, orderBy: { createdAt: 'desc' } });
    expect(code.dpopJkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Without a proof, or with another key's, the code is refused; with the key's, it is redeemed, bound.
    await expect(client.authorizationCodeGrant(config, bound.location, { pkceCodeVerifier: bound.verifier })).rejects.toMatchObject({
      error: 'invalid_dpop_proof',
    });
    const other = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    await expect(client.authorizationCodeGrant(config, bound.location, { pkceCodeVerifier: bound.verifier }, undefined, { DPoP: other })).rejects.toMatchObject(
      {
        error: 'invalid_dpop_proof',
      },
    );
    const tokens = await client.authorizationCodeGrant(config, bound.location, { pkceCodeVerifier: bound.verifier }, undefined, { DPoP: dpop });
    expect(tokens.token_type).toBe('dpop');

    // dpop_jkt as a parameter binds the same way, and must agree with a proof sent with it.
    const keys = await client.randomDPoPKeyPair('ES256');
    const thumbprint = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
    const byParam = await signIn((p) => client.buildAuthorizationUrlWithPAR(config, { ...p, dpop_jkt: thumbprint }));
    await expect(client.authorizationCodeGrant(config, byParam.location, { pkceCodeVerifier: byParam.verifier })).rejects.toMatchObject({
      error: 'invalid_dpop_proof',
    });
    const withKeys = client.getDPoPHandle(config, keys);
    expect(
      (await client.authorizationCodeGrant(config, byParam.location, { pkceCodeVerifier: byParam.verifier }, undefined, { DPoP: withKeys })).token_type,
    ).toBe('dpop');
    await expect(
      client.buildAuthorizationUrlWithPAR(config, { redirect_uri: REDIRECT, scope: 'openid', dpop_jkt: 'A'.repeat(43) }, { DPoP: withKeys }),
    ).rejects.toMatchObject({ error: 'invalid_dpop_proof' });
  });
});
