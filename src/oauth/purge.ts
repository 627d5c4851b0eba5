import type { Prisma } from '../platform/db.js';

// Rows kept a day past expiry, so that a replay shortly after expiry still meets its record
// (and is refused as "expired" or "used", with revocation, rather than as unknown).
const GRACE_MS = 86400_000;

/** Deletes expired codes, tokens, sessions, revocation records, client-assertion and DPoP-proof jtis, pushed requests, device authorization requests and WebAuthn challenges. Safe to run on several instances at once. */
export async function purgeExpired(prisma: Prisma, now = new Date()) {
  const old = new Date(now.getTime() - GRACE_MS);
  const [codes, tokens, revoked, sessions, assertions, pushed, proofs, devices, challenges, loginSteps] = await Promise.all([
    prisma.authorizationCode.deleteMany({ where: { expiresAt: { lt: old } } }),
    prisma.oAuthToken.deleteMany({ where: { expiresAt: { lt: old } } }),
    prisma.revokedJwt.deleteMany({ where: { expiresAt: { lt: now } } }),
    prisma.browserSession.deleteMany({ where: { OR: [{ expiresAt: { lt: old } }, { endedAt: { lt: old } }] } }),
    // An expired client assertion is refused anyway: its jti need not be remembered.
    prisma.usedClientAssertion.deleteMany({ where: { expiresAt: { lt: now } } }),
    prisma.pushedAuthorizationRequest.deleteMany({ where: { expiresAt: { lt: now } } }),
    // A proof past its window is refused for its iat or nonce: its jti need not be remembered.
    prisma.usedDpopProof.deleteMany({ where: { expiresAt: { lt: now } } }),
    // Kept a day too, so that a device polling late still hears expired_token rather than invalid_grant.
    prisma.deviceAuthorization.deleteMany({ where: { expiresAt: { lt: old } } }),
    // A WebAuthn challenge past its few minutes is refused anyway.
    prisma.webAuthnChallenge.deleteMany({ where: { expiresAt: { lt: now } } }),
    // A spent Continue past its lifetime is refused for its age.
    prisma.usedLoginStep.deleteMany({ where: { expiresAt: { lt: now } } }),
  ]);
  // A family with no token left and no way to mint one (no refresh token) is done. A standing
  // grant is not a family: its JWTs are stored nowhere, and it lasts as long as its client or key.
  const grants = await prisma.oAuthGrant.deleteMany({ where: { standing: false, createdAt: { lt: old }, tokens: { none: {} } } });
  return {
    codes: codes.count,
    tokens: tokens.count,
    revoked: revoked.count,
    sessions: sessions.count,
    assertions: assertions.count,
    pushed: pushed.count,
    proofs: proofs.count,
    devices: devices.count,
    challenges: challenges.count,
    loginSteps: loginSteps.count,
    grants: grants.count,
  };
}
