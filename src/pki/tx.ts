/**
 * Interactive transactions wait for a pooled connection up to 10 s instead of Prisma's
 * 2 s: a burst of issuance queues rather than failing (and CA creation may wait on the lock).
 */
export const TX_OPTIONS = { maxWait: 10_000, timeout: 20_000 } as const;
