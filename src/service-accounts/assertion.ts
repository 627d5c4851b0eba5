// RFC 7523 JWT-bearer assertions signed with a service account's key: every rule of
// the grant is enforced here, so the token endpoint only maps the result to a response.
import { createPublicKey } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Prisma } from '../platform/db.js';
import { isUuid } from '../platform/ids.js';
import type { Principal } from '../principals/principal.js';

/** Longest lifetime (exp - iat) accepted: assertions are meant to be used once, right away. */
export const MAX_ASSERTION_LIFETIME_S = 3600;
/** Tolerated clock difference between the signer and us. */
export const CLOCK_SKEW_S = 60;
const MAX_ASSERTION_LENGTH = 16 * 1024;
const PRUNE_EVERY_MS = 60_000;

export type AssertionResult =
  { ok: true; principal: Principal; accessTokenType: 'Bearer' | 'Jwt' } | { ok: false; error: 'invalid_grant'; description: string };

const refuse = (description: string): AssertionResult => ({ ok: false, error: 'invalid_grant', description });

function joseReason(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'the assertion has expired';
  if (e instanceof errors.JWTClaimValidationFailed) return `the "${e.claim}" claim is not valid: ${e.reason === 'check_failed' ? 'check failed' : 'missing'}`;
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify with the key named by kid';
  if (e instanceof errors.JOSEAlgNotAllowed) return 'the alg is not that of the key';
  return 'the assertion is not a valid JWT';
}

let lastPrune = 0;

/** Forgets jti values whose assertions have expired: an expired assertion is refused anyway. */
export async function pruneUsedAssertions(prisma: Prisma, now = new Date()): Promise<number> {
  lastPrune = now.getTime();
  const { count } = await prisma.usedAssertion.deleteMany({ where: { expiresAt: { lt: now } } });
  return count;
}

export async function verifyKeyAssertion(prisma: Prisma, assertion: string, audience: string, now = new Date()): Promise<AssertionResult> {
  if (typeof assertion !== 'string' || !assertion || assertion.length > MAX_ASSERTION_LENGTH) return refuse('the assertion is not a JWT');
  let kid: unknown;
  let alg: unknown;
  let claims: JWTPayload;
  try {
    ({ kid, alg } = decodeProtectedHeader(assertion));
    claims = decodeJwt(assertion);
  } catch {
    return refuse('the assertion is not a signed JWT');
  }
  if (typeof kid !== 'string' || !isUuid(kid)) return refuse('the kid header must name a key of the service account');
  if (typeof claims.sub !== 'string' || !isUuid(claims.sub) || claims.iss !== claims.sub) {
    return refuse('iss and sub must both be the id of the service account');
  }
  const accountId = claims.sub.toLowerCase();

  const key = await prisma.serviceAccountKey.findUnique({
    where: { id: kid.toLowerCase() },
    include: {
      serviceAccount: {
        select: { username: true, accessTokenType: true, expirationDate: true, roles: { select: { roleName: true } }, tenant: { select: { state: true } } },
      },
    },
  });
  // A key of another account (in this tenant or another) is as unknown as no key at all.
  if (!key || key.serviceAccountId !== accountId) return refuse('no such key for this service account');
  if (key.expiresAt <= now) return refuse('the key has expired');
  if (alg !== key.algorithm) return refuse(`the alg must be ${key.algorithm} for this key`);

  try {
    await jwtVerify(assertion, createPublicKey(key.publicKeyPem), {
      algorithms: [key.algorithm],
      audience,
      issuer: claims.iss,
      subject: claims.sub,
      currentDate: now,
      clockTolerance: CLOCK_SKEW_S,
      requiredClaims: ['exp', 'jti'],
    });
  } catch (e) {
    return refuse(joseReason(e));
  }

  const nowS = Math.floor(now.getTime() / 1000);
  const exp = claims.exp!;
  if (claims.iat !== undefined) {
    if (typeof claims.iat !== 'number') return refuse('iat must be a number');
    if (claims.iat > nowS + CLOCK_SKEW_S) return refuse('iat is in the future');
    if (exp - claims.iat > MAX_ASSERTION_LIFETIME_S) return refuse(`the assertion lives longer than ${MAX_ASSERTION_LIFETIME_S} s`);
  }
  if (exp - nowS > MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) return refuse(`the assertion lives longer than ${MAX_ASSERTION_LIFETIME_S} s`);
  const jti = claims.jti;
  if (typeof jti !== 'string' || !jti || jti.length > 255) return refuse('jti must be a string of 1 to 255 characters');

  const sa = key.serviceAccount;
  if (sa.tenant.state !== 'active') return refuse('the tenant of the service account is disabled');
  if (sa.expirationDate && sa.expirationDate <= now) return refuse('the service account has expired');

  if (now.getTime() - lastPrune > PRUNE_EVERY_MS) await pruneUsedAssertions(prisma, now);
  // Recorded last, so that only assertions that pass every other check consume their jti.
  const { count } = await prisma.usedAssertion.createMany({
    data: [{ tenantId: key.tenantId, serviceAccountId: accountId, jti, expiresAt: new Date((exp + CLOCK_SKEW_S) * 1000) }],
    skipDuplicates: true,
  });
  if (count === 0) return refuse('the jti has already been used');

  // Same principal as loadSubject() builds for a service account, from the row already read.
  const principal: Principal = {
    kind: 'serviceaccount',
    credential: 'jwt',
    credentialId: key.id,
    tenantId: key.tenantId,
    subjectId: accountId,
    username: sa.username,
    roles: sa.roles.map((r) => r.roleName),
    groups: [],
    expiresAt: sa.expirationDate ?? undefined,
  };
  return { ok: true, principal, accessTokenType: sa.accessTokenType === 'Jwt' ? 'Jwt' : 'Bearer' };
}
