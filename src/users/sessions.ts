import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn } from '../principals/policy.js';
import type { Prisma } from '../platform/db.js';
import { isUuid } from '../platform/ids.js';
import { notFound } from '../platform/errors.js';
import { endUserSessions, liveSessions } from '../sessions/manage.js';
import { findUser } from './service.js';

// An administrator's view of a user's browser sessions, and their end.

export async function listUserSessions(prisma: Prisma, tenantId: string, id: string, idleSeconds: number) {
  const user = await findUser(prisma, tenantId, id);
  return liveSessions(prisma, tenantId, user.id, idleSeconds);
}

/**
 * Ends one session of a user (404 when it is not a live session of that user) or, without
 * `sessionId`, all of them. Ending a session takes away its holder's access: the same rule
 * as any other action on the user. Returns how many ended.
 */
export async function revokeUserSessions(ctx: ServiceContext, id: string, sessionId?: string): Promise<number> {
  const user = await findUser(ctx.prisma, ctx.tenantId, id);
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id: user.id });
  if (sessionId !== undefined && !isUuid(sessionId)) throw notFound('Session');
  const ended = await ctx.prisma.$transaction((tx) =>
    endUserSessions(tx, ctx.principal, { tenantId: ctx.tenantId, userId: user.id, sessionId, reason: 'revoked_by_admin' }, ctx.requestId),
  );
  if (sessionId !== undefined && !ended.length) throw notFound('Session');
  return ended.length;
}
