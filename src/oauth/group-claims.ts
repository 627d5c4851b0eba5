import type { Prisma } from '../platform/db.js';

/** A user's groups as claims, as the identity service of seed 001 names them: ids and names, in one order. */
export interface GroupClaims {
  group_ids: string[];
  group_names: string[];
}

export async function groupClaims(prisma: Prisma, tenantId: string, userId: string): Promise<GroupClaims> {
  const rows = await prisma.groupMembership.findMany({
    where: { tenantId, userId },
    select: { groupId: true, group: { select: { name: true } } },
    orderBy: { group: { name: 'asc' } },
  });
  return { group_ids: rows.map((r) => r.groupId), group_names: rows.map((r) => r.group.name) };
}
