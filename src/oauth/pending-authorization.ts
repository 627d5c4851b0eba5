import type { Prisma } from '../platform/db.js';

/**
 * An authorization request parked while the browser signs in elsewhere (at a SAML IdP):
 * its id travels as the RelayState, the sealed request stays here.
 */
export async function parkAuthorization(prisma: Prisma, input: { tenantId: string; id: string; authRequest: string; expiresAt: Date }) {
  await prisma.pendingAuthorization.create({ data: input });
}

/** The parked sealed request, once: the row goes with its first use. Undefined when unknown or expired. */
export async function takeParkedAuthorization(prisma: Prisma, tenantId: string, id: string): Promise<string | undefined> {
  const rows = await prisma.$queryRaw<{ authRequest: string }[]>`
    DELETE FROM "PendingAuthorization"
     WHERE "tenantId" = ${tenantId}::uuid AND id = ${id} AND "expiresAt" > now()
    RETURNING "authRequest"`;
  return rows[0]?.authRequest;
}
