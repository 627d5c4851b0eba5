import type { Prisma as P } from '../generated/prisma/client.js';
import { loginPolicyOf, passkeysAsSecondFactor, SECOND_FACTOR_OTP } from '../tenants/login-policy.js';

/*
 * The last-factor rule of self-service: where the tenant's policy forces MFA, a user may not
 * remove the last second factor that policy accepts, since whoever next knows the password
 * would then enrol their own at login. An admin's reset (ResetUserSecondFactors) does not
 * ask: it is how a user who lost every factor gets back in.
 */

export type FactorRemoval = { totp: true } | { passkeyId: string };

/**
 * Whether removing this factor would leave the user with no second factor the policy
 * accepts, under forceMfa. Takes the user's row lock, so that two removals at once (the TOTP
 * and the last passkey) cannot each see the other still there; call it inside the
 * transaction that removes.
 */
export async function isLastSecondFactor(tx: P.TransactionClient, tenantId: string, userId: string, removing: FactorRemoval): Promise<boolean> {
  await tx.$queryRaw`SELECT 1 FROM "User" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${userId}::uuid FOR UPDATE`;
  const policy = await loginPolicyOf(tx, tenantId);
  if (!policy.forceMfa) return false;
  const otpCounts = policy.secondFactors.includes(SECOND_FACTOR_OTP);
  const passkeysCount = passkeysAsSecondFactor(policy);
  const totp =
    otpCounts && Boolean((await tx.userTotp.findUnique({ where: { tenantId_userId: { tenantId, userId } }, select: { confirmedAt: true } }))?.confirmedAt);
  const passkeys = passkeysCount ? await tx.passkey.findMany({ where: { tenantId, userId }, select: { id: true } }) : [];
  const removesCounted = 'totp' in removing ? totp : passkeys.some((p) => p.id === removing.passkeyId);
  // A factor the policy does not accept was never what kept the user's sign-in two-step.
  if (!removesCounted) return false;
  const left = ('totp' in removing ? 0 : Number(totp)) + passkeys.filter((p) => !('passkeyId' in removing) || p.id !== removing.passkeyId).length;
  return left === 0;
}
