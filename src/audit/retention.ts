import type { Prisma } from '../platform/db.js';

/** Rows deleted per statement: a large backlog (first purge, retention shortened) is deleted in bounded steps. */
const BATCH = 10_000;

/**
 * Deletes audit events older than the retention, oldest first, in batches (the createdAt
 * index finds them). Safe to run on several instances at once. Returns how many went.
 */
export async function purgeAuditEvents(prisma: Prisma, retentionDays: number, now = new Date()): Promise<number> {
  if (retentionDays <= 0) return 0;
  const before = new Date(now.getTime() - retentionDays * 86400_000);
  let total = 0;
  for (;;) {
    const deleted = await prisma.$executeRaw`
      DELETE FROM "AuditEvent" WHERE "id" IN (
        SELECT "id" FROM "AuditEvent" WHERE "createdAt" < ${before} ORDER BY "createdAt" LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)`;
    total += deleted;
    if (deleted < BATCH) return total;
  }
}
