// RFC 7523 JWT-bearer assertions, signed with jose from the key file the API returns,
// exactly as a user's script would; /oauth/v2/token maps verifyKeyAssertion's result.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPKCS8, SignJWT, type JWTPayload } from 'jose';
import { call, createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';
import { pruneUsedAssertions, verifyKeyAssertion } from '../src/service-accounts/assertion.js';

let t: TestApp;
let tenantA: string;
let tenantB: string;
let adminA: string;
let adminB: string;
let AUD: string;

const SA = '/api/v3/serviceaccounts';
const inDays = (d: number) => new Date(Date.now() + d * 86400_000).toISOString();
const nowS = () => Math.floor(Date.now() / 1000);

interface KeyFile {
  type: string;
  keyId: string;
  key: string;
  userId: string;
}

async function newAccount(admin: string, username: string, body: Record<string, unknown> = {}) {
  const res = await call(t.app, admin, 'POST', SA, { name: username, username, roles: ['tenant-contributor'], ...body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().machineUserId as string;
}

/** Returns the base64 key file, as a user would copy it from the API response. */
async function newKey(admin: string, accountId: string, keyType?: 'RSA' | 'EC'): Promise<string> {
  const res = await call(t.app, admin, 'POST', `${SA}/${accountId}/keys`, { expirationDate: inDays(30), ...(keyType ? { keyType } : {}) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().key;
}

/** A user's script: decode the key file, import the PEM, sign with kid = keyId. */
async function sign(
  keyFileB64: string,
  opts: { claims?: JWTPayload; kid?: string; alg?: string; aud?: string; lifetime?: number; iat?: number } = {},
): Promise<string> {
  const file = JSON.parse(Buffer.from(keyFileB64, 'base64').toString('utf8')) as KeyFile;
  const alg = opts.alg ?? (file.key.length < 400 ? 'ES256' : 'RS256');
  const privateKey = await importPKCS8(file.key, alg);
  const iat = opts.iat ?? nowS();
  return new SignJWT({ jti: randomUUID(), ...opts.claims })
    .setProtectedHeader({ alg, kid: opts.kid ?? file.keyId })
    .setIssuer((opts.claims?.iss as string) ?? file.userId)
    .setSubject((opts.claims?.sub as string) ?? file.userId)
    .setAudience(opts.aud ?? AUD)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (opts.lifetime ?? 300))
    .sign(privateKey);
}

const verify = (assertion: string, now?: Date) => verifyKeyAssertion(t.db.prisma, assertion, AUD, now);

async function expectRefused(assertion: string, reason: RegExp) {
  const res = await verify(assertion);
  expect(res.ok).toBe(false);
  if (!res.ok) {
    expect(res.error).toBe('invalid_grant');
    expect(res.description).toMatch(reason);
  }
}

let accountA: string;
let keyA: string;

beforeAll(async () => {
  t = await startTestApp();
  AUD = t.config.PUBLIC_URL;
  tenantA = await createTenant(t, 'Tenant A');
  tenantB = await createTenant(t, 'Tenant B');
  adminA = (await seedServiceAccountPat(t, tenantA, ['tenant-admin'])).pat;
  adminB = (await seedServiceAccountPat(t, tenantB, ['tenant-admin'])).pat;
  accountA = await newAccount(adminA, 'collector-a');
  keyA = await newKey(adminA, accountA);
});
afterAll(() => t?.close());

describe('verifyKeyAssertion', () => {
  it('accepts an assertion signed with the key file, returning the account principal', async () => {
    const res = await verify(await sign(keyA));
    expect(res).toMatchObject({
      ok: true,
      accessTokenType: 'Bearer',
      principal: { kind: 'serviceaccount', credential: 'jwt', tenantId: tenantA, subjectId: accountA, username: 'collector-a', roles: ['tenant-contributor'] },
    });
    // A script whose clock lags a little still gets through; the refusals below are not that lenient.
    expect((await verify(await sign(keyA, { iat: nowS() - 120, lifetime: 600 }))).ok).toBe(true);
  });

  it('accepts an array aud containing the issuer, and an EC P-256 key; reports accessTokenType Jwt', async () => {
    const file = JSON.parse(Buffer.from(keyA, 'base64').toString()) as KeyFile;
    const pk = await importPKCS8(file.key, 'RS256');
    const multi = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256', kid: file.keyId })
      .setIssuer(file.userId)
      .setSubject(file.userId)
      .setAudience(['https://other.example', AUD])
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(pk);
    expect((await verify(multi)).ok).toBe(true);

    const jwtAccount = await newAccount(adminA, 'jwt-robot', { accessTokenType: 'Jwt' });
    const ecKey = await newKey(adminA, jwtAccount, 'EC');
    const res = await verify(await sign(ecKey, { alg: 'ES256' }));
    expect(res).toMatchObject({ ok: true, accessTokenType: 'Jwt', principal: { subjectId: jwtAccount } });
  });

  it('refuses a wrong audience', async () => {
    await expectRefused(await sign(keyA, { aud: 'https://evil.example' }), /aud/);
    await expectRefused(await sign(keyA, { aud: `${AUD}/oauth/v2/token-not` }), /aud/);
  });

  it('refuses an expired assertion, one living over an hour, and one issued in the future', async () => {
    await expectRefused(await sign(keyA, { iat: nowS() - 600, lifetime: 300 }), /expired/);
    await expectRefused(await sign(keyA, { lifetime: 3601 }), /longer than 3600/);
    await expectRefused(await sign(keyA, { iat: nowS() - 10, lifetime: 7200 }), /longer than 3600/);
    await expectRefused(await sign(keyA, { iat: nowS() + 600, lifetime: 60 }), /iat is in the future/);
    // Within the clock skew it passes.
    expect((await verify(await sign(keyA, { iat: nowS() + 30, lifetime: 60 }))).ok).toBe(true);
  });

  it('refuses a replayed jti, and an assertion without jti', async () => {
    const once = await sign(keyA);
    expect((await verify(once)).ok).toBe(true);
    await expectRefused(once, /jti has already been used/);
    const file = JSON.parse(Buffer.from(keyA, 'base64').toString()) as KeyFile;
    const noJti = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: file.keyId })
      .setIssuer(file.userId)
      .setSubject(file.userId)
      .setAudience(AUD)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(await importPKCS8(file.key, 'RS256'));
    await expectRefused(noJti, /jti/);
    // The same jti in a freshly signed assertion is a replay too.
    const jti = randomUUID();
    expect((await verify(await sign(keyA, { claims: { jti } }))).ok).toBe(true);
    await expectRefused(await sign(keyA, { claims: { jti } }), /already been used/);
  });

  it("refuses a signature by another key, and another account's key", async () => {
    const otherKeySameAccount = await newKey(adminA, accountA);
    const kidA = (JSON.parse(Buffer.from(keyA, 'base64').toString()) as KeyFile).keyId;
    // Signed by the second key but claiming to be the first one.
    await expectRefused(await sign(otherKeySameAccount, { kid: kidA }), /signature/);

    const accountA2 = await newAccount(adminA, 'collector-a2');
    const keyA2 = await newKey(adminA, accountA2);
    // Account A2's own key, claiming to be account A.
    await expectRefused(await sign(keyA2, { claims: { iss: accountA, sub: accountA } }), /no such key/);
    // iss and sub must agree.
    await expectRefused(await sign(keyA, { claims: { iss: accountA2 } }), /iss and sub/);
  });

  it("refuses a key of another tenant's account used for this tenant's account", async () => {
    const accountB = await newAccount(adminB, 'collector-b');
    const keyB = await newKey(adminB, accountB);
    expect((await verify(await sign(keyB))).ok).toBe(true);
    await expectRefused(await sign(keyB, { claims: { iss: accountA, sub: accountA } }), /no such key/);
    const kidA = (JSON.parse(Buffer.from(keyA, 'base64').toString()) as KeyFile).keyId;
    await expectRefused(await sign(keyB, { kid: kidA, claims: { iss: accountA, sub: accountA } }), /signature/);
  });

  it('refuses a deleted key, an expired key, an expired account and a deleted account', async () => {
    const account = await newAccount(adminA, 'short-term');
    const key = await newKey(adminA, account);
    const kid = (JSON.parse(Buffer.from(key, 'base64').toString()) as KeyFile).keyId;
    expect((await verify(await sign(key))).ok).toBe(true);

    await t.db.prisma.serviceAccountKey.update({ where: { id: kid }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await expectRefused(await sign(key), /key has expired/);
    await t.db.prisma.serviceAccountKey.update({ where: { id: kid }, data: { expiresAt: new Date(Date.now() + 86400_000) } });
    expect((await verify(await sign(key))).ok).toBe(true);

    await t.db.prisma.serviceAccount.update({ where: { id: account }, data: { expirationDate: new Date(Date.now() - 1000) } });
    await expectRefused(await sign(key), /service account has expired/);
    await t.db.prisma.serviceAccount.update({ where: { id: account }, data: { expirationDate: null } });

    expect((await call(t.app, adminA, 'DELETE', `${SA}/${account}/keys/${kid}`)).statusCode).toBe(204);
    await expectRefused(await sign(key), /no such key/);

    const key2 = await newKey(adminA, account);
    expect((await verify(await sign(key2))).ok).toBe(true);
    expect((await call(t.app, adminA, 'DELETE', `${SA}/${account}`)).statusCode).toBe(204);
    await expectRefused(await sign(key2), /no such key/);
  });

  it('refuses the accounts of a disabled tenant', async () => {
    const tenant = await createTenant(t, 'Soon disabled');
    const admin = (await seedServiceAccountPat(t, tenant, ['tenant-admin'])).pat;
    const account = await newAccount(admin, 'robot');
    const key = await newKey(admin, account);
    expect((await verify(await sign(key))).ok).toBe(true);
    await t.db.prisma.tenant.update({ where: { id: tenant }, data: { state: 'disabled' } });
    await expectRefused(await sign(key), /tenant of the service account is disabled/);
  });

  it('refuses unsigned, HMAC-signed, wrong-alg and malformed assertions', async () => {
    const file = JSON.parse(Buffer.from(keyA, 'base64').toString()) as KeyFile;
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = { iss: file.userId, sub: file.userId, aud: AUD, iat: nowS(), exp: nowS() + 60, jti: randomUUID() };
    await expectRefused(`${b64({ alg: 'none', kid: file.keyId })}.${b64(claims)}.`, /alg/);
    const hmac = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: file.keyId }).sign(new TextEncoder().encode('x'.repeat(32)));
    await expectRefused(hmac, /alg/);
    await expectRefused(await sign(keyA, { alg: 'PS256' }), /alg/);
    for (const junk of ['', 'a.b.c', 'not a jwt', 'x'.repeat(20000)]) await expectRefused(junk, /JWT/);
    await expectRefused(await sign(keyA, { kid: 'not-a-uuid' }), /kid/);
  });

  it('forgets used jti values once their assertions have expired', async () => {
    const jti = randomUUID();
    expect((await verify(await sign(keyA, { claims: { jti }, lifetime: 60 }))).ok).toBe(true);
    expect(await t.db.prisma.usedAssertion.count({ where: { jti } })).toBe(1);
    expect(await pruneUsedAssertions(t.db.prisma, new Date())).toBe(0);
    expect(await t.db.prisma.usedAssertion.count({ where: { jti } })).toBe(1);
    await pruneUsedAssertions(t.db.prisma, new Date(Date.now() + 3 * 3600_000));
    expect(await t.db.prisma.usedAssertion.count({ where: { jti } })).toBe(0);
  });
});
