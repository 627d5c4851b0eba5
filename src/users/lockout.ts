import type { Prisma } from '../platform/db.js';

/**
 * Counts a failed password login; the user becomes `locked` when the tenant's
 * maximum is reached (0 disables lockout) and stays locked until an admin sets
 * its state back to `active`. Returns whether the user is now locked.
 */
export async function recordFailedLogin(prisma: Prisma, tenantId: string, userId: string): Promise<boolean> {
  const rows = await prisma.$queryRaw<{ state: string }[]>`
    UPDATE "User" u SET "failedLogins" = u."failedLogins" + 1,
      "state" = CASE WHEN t."lockoutMaxAttempts" > 0 AND u."failedLogins" + 1 >= t."lockoutMaxAttempts" AND u."state" = 'active'
                     THEN 'locked' ELSE u."state" END,
      "updatedAt" = now()
    FROM "Tenant" t
    WHERE t."id" = u."tenantId" AND u."tenantId" = ${tenantId}::uuid AND u."id" = ${userId}::uuid
    RETURNING u."state"`;
  return rows[0]?.state === 'locked';
}

/** A successful login clears the failure count and records the time. */
export async function recordSuccessfulLogin(prisma: Prisma, tenantId: string, userId: string, at = new Date()) {
  await prisma.user.updateMany({ where: { tenantId, id: userId }, data: { failedLogins: 0, lastLoginAt: at } });
}
