import type { Prisma as P } from '../generated/prisma/client.js';
import { audit, type AuditActor } from '../audit/audit.js';
import type { AuditOrigin } from '../audit/origin.js';
import type { Prisma } from '../platform/db.js';

// A user's browser sessions as the user and its administrators see them, and their end.
// Ending a session also revokes the OAuth grants issued under it (as RP-initiated logout
// does): a refresh token must not outlive the sign-in it came from.

export interface SessionSummary {
  id: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  amr: string[];
  userAgent: string | null;
  clientAddress: string | null;
}

type Db = Pick<Prisma, 'browserSession'>;

/** The user's live sessions (not ended, past neither timeout), most recently used first. */
export async function liveSessions(db: Db, tenantId: string, userId: string, idleSeconds: number, now = new Date()): Promise<SessionSummary[]> {
  const idleSince = new Date(now.getTime() - idleSeconds * 1000);
  return db.browserSession.findMany({
    where: { tenantId, userId, endedAt: null, expiresAt: { gt: now }, lastSeenAt: { gt: idleSince } },
    orderBy: [{ lastSeenAt: 'desc' }, { id: 'desc' }],
    select: { id: true, createdAt: true, lastSeenAt: true, expiresAt: true, amr: true, userAgent: true, clientAddress: true },
  });
}

export interface EndSessions {
  tenantId: string;
  userId: string;
  /** One session; without it, every live session of the user. */
  sessionId?: string;
  /** A session to keep (the caller's own, when it signs the others out). */
  exceptId?: string;
  /** Why, for the audit log and the grants' revokeReason. */
  reason: string;
}

type Tx = Pick<P.TransactionClient, 'browserSession' | 'oAuthGrant' | 'auditEvent'>;

/**
 * Ends sessions of one user and revokes the grants issued under them, with one audit event
 * naming them. Returns the ids ended (empty when none matched: the caller decides whether
 * that is a 404).
 */
export async function endUserSessions(tx: Tx, actor: AuditActor, e: EndSessions, origin?: string | AuditOrigin, now = new Date()): Promise<string[]> {
  const where: P.BrowserSessionWhereInput = {
    tenantId: e.tenantId,
    userId: e.userId,
    endedAt: null,
    ...(e.sessionId ? { id: e.sessionId } : {}),
    ...(e.exceptId ? { NOT: { id: e.exceptId } } : {}),
  };
  const rows = await tx.browserSession.findMany({ where, select: { id: true } });
  const ids = rows.map((r) => r.id);
  if (!ids.length) return ids;
  // The triggers on endedAt and revokedAt evict these credentials from every instance's cache.
  await tx.browserSession.updateMany({ where: { tenantId: e.tenantId, id: { in: ids }, endedAt: null }, data: { endedAt: now } });
  const grants = await tx.oAuthGrant.updateMany({
    where: { tenantId: e.tenantId, sessionId: { in: ids }, revokedAt: null },
    data: { revokedAt: now, revokeReason: e.reason },
  });
  await audit(
    tx,
    actor,
    {
      tenantId: e.tenantId,
      action: 'session.revoked',
      targetType: 'user',
      targetId: e.userId,
      details: { sessionIds: ids, reason: e.reason, grantsRevoked: grants.count },
    },
    origin,
  );
  return ids;
}
