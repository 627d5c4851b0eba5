// PAR and DPoP state lives in the database (and nonces derive from the shared master key), so
// several instances behind a load balancer act as one: checked with two apps on one PostgreSQL.
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenHash } from '../src/oauth/dpop.js';
import { call } from './helpers/app.js';
import { startInstances, type Instances } from './helpers/instances.js';

const ISSUER = 'http://auth.iam.test';
let s: Instances;
let app: { clientId: string; secret: string };

const basic = () => `Basic ${Buffer.from(`${app.clientId}:${app.secret}`).toString('base64')}`;
const form = (o: Record<string, string>) => new URLSearchParams(o).toString();

describe.runIf(process.env.TEST_DATABASE_URL)('PAR and DPoP across instances', () => {
  beforeAll(async () => {
    s = await startInstances(process.env.TEST_DATABASE_URL!, 2, {});
    const sa = await s.dbs[0]!.prisma.serviceAccount.findFirstOrThrow({ where: { tenantId: s.tenantId, username: 'adm' } });
    const created = await call(s.apps[0]!, s.pat, 'POST', '/api/v3/applications', {
      data: {
        type: 'applications',
        attributes: {
          name: 'Both',
          clientType: 'confidential',
          grantTypes: ['authorization_code', 'client_credentials'],
          redirectUris: ['https://both.example/cb'],
          serviceAccountId: sa.id,
        },
      },
    });
    expect(created.statusCode).toBe(201);
    app = { clientId: created.json().data.attributes.clientId, secret: created.json().data.attributes.clientSecret };
  }, 60_000);
  afterAll(() => s?.close());

  it('takes a request pushed to one instance on another, once', async () => {
    const pushed = await s.apps[0]!.inject({
      method: 'POST',
      url: '/oauth/v2/par',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      payload: form({ response_type: 'code', redirect_uri: 'https://both.example/cb', scope: 'openid', state: 'x' }),
    });
    expect(pushed.statusCode).toBe(201);
    const url = `/oauth/v2/authorize?${form({ client_id: app.clientId, request_uri: pushed.json().request_uri })}`;
    const taken = await s.apps[1]!.inject({ method: 'GET', url });
    expect(taken.statusCode).toBe(302);
    expect(taken.headers.location).toMatch(/^\/ui\/login\?r=/);
    const again = await s.apps[0]!.inject({ method: 'GET', url });
    expect(again.statusCode).toBe(400);
    expect(again.body).toContain('invalid_request_uri');
  });

  it('refuses on one instance a DPoP proof used on another, and shares the nonces', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const proof = (claims: Record<string, unknown>) =>
      new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(privateKey);
    const tokenRequest = async (i: number, dpop: string) =>
      s.apps[i]!.inject({
        method: 'POST',
        url: '/oauth/v2/token',
        headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded', dpop },
        payload: 'grant_type=client_credentials',
      });
    const issued = await tokenRequest(0, await proof({ htm: 'POST', htu: `${ISSUER}/oauth/v2/token` }));
    expect(issued.statusCode).toBe(200);
    const token = issued.json().access_token;
    expect(issued.json().token_type).toBe('DPoP');
    expect(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).cnf.jkt).toBe(await calculateJwkThumbprint(jwk));

    const once = await proof({ htm: 'GET', htu: `${ISSUER}/api/v3/users`, ath: accessTokenHash(token) });
    const use = (i: number, dpop: string) => s.apps[i]!.inject({ method: 'GET', url: '/api/v3/users', headers: { authorization: `DPoP ${token}`, dpop } });
    expect((await use(0, once)).statusCode).toBe(200);
    const replayed = await use(1, once);
    expect(replayed.statusCode).toBe(401);
    expect(replayed.headers['www-authenticate']).toContain('error="invalid_dpop_proof"');

    const stale = Math.floor(Date.now() / 1000) - 600;
    const asked = await tokenRequest(0, await proof({ htm: 'POST', htu: `${ISSUER}/oauth/v2/token`, iat: stale }));
    expect(asked.json().error).toBe('use_dpop_nonce');
    const nonce = asked.headers['dpop-nonce'] as string;
    expect((await tokenRequest(1, await proof({ htm: 'POST', htu: `${ISSUER}/oauth/v2/token`, iat: stale, nonce }))).statusCode).toBe(200);
  });
});
