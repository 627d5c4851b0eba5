import { audit } from '../audit/audit.js';
import type { AuditOrigin } from '../audit/origin.js';
import type { Prisma } from '../platform/db.js';
import { hashPassword, verifyPassword, type Argon2Params } from '../platform/passwords.js';
import { endUserSessions } from '../sessions/manage.js';
import { clientAddressKey, failedLogin } from './lockout.js';
import { passwordViolations, policyOf } from './password-policy.js';
import { userUpdate } from './schemas.js';
import { passwordWasSet } from './service.js';

// What a signed-in user does to its own account from the account page.

export type PasswordChange =
  { ok: true } | { ok: false; reason: 'wrong_password' | 'no_password' | 'same_password' } | { ok: false; reason: 'policy'; violations: string[] };

/**
 * Changes the caller's own password. The current one is required (a session left open on
 * a shared computer must not be enough), and a wrong one counts as a failed login, so
 * that this form is no way around the login throttle. Every other session of the user
 * ends: whoever knew the old password is signed out.
 */
export async function changeOwnPassword(
  prisma: Prisma,
  argon2: Argon2Params,
  who: { tenantId: string; userId: string; sessionId: string },
  current: string,
  next: string,
  origin?: AuditOrigin,
): Promise<PasswordChange> {
  const user = await prisma.user.findUnique({ where: { tenantId_id: { tenantId: who.tenantId, id: who.userId } }, include: { tenant: true } });
  if (!user?.passwordHash) return { ok: false, reason: 'no_password' };
  if (!(await verifyPassword(user.passwordHash, current))) {
    await failedLogin(prisma, who.tenantId, who.userId, { address: clientAddressKey(origin?.clientAddress) });
    await audit(
      prisma,
      { kind: 'user', id: user.id, name: user.username },
      {
        tenantId: who.tenantId,
        action: 'user.password_changed',
        targetType: 'user',
        targetId: user.id,
        outcome: 'failure',
        details: { reason: 'wrong_password' },
      },
      origin,
    );
    return { ok: false, reason: 'wrong_password' };
  }
  const violations = passwordViolations(policyOf(user.tenant), next);
  if (violations.length) return { ok: false, reason: 'policy', violations };
  if (next === current) return { ok: false, reason: 'same_password' };
  const passwordHash = await hashPassword(next, argon2);
  const actor = { kind: 'user', id: user.id, name: user.username };
  await prisma.$transaction(async (tx) => {
    await tx.user.update({ where: { tenantId_id: { tenantId: who.tenantId, id: who.userId } }, data: { passwordHash, failedLogins: 0 } });
    await passwordWasSet(tx, who.tenantId, who.userId);
    await endUserSessions(tx, actor, { tenantId: who.tenantId, userId: who.userId, exceptId: who.sessionId, reason: 'password_changed' }, origin);
    await audit(tx, actor, { tenantId: who.tenantId, action: 'user.password_changed', targetType: 'user', targetId: user.id }, origin);
  });
  return { ok: true };
}

/** The names a user may change about itself, validated as the API's user update validates them. */
const ownNames = userUpdate.pick({ firstName: true, lastName: true }).required();

export type NameChange = { ok: true } | { ok: false; reason: 'invalid' | 'gone' };

/**
 * Sets the caller's own first and last name. Username and email stay with the
 * administrators: they sign in and receive mail, and other systems key on them.
 */
export async function changeOwnName(
  prisma: Prisma,
  who: { tenantId: string; userId: string },
  input: { firstName: unknown; lastName: unknown },
  origin?: AuditOrigin,
): Promise<NameChange> {
  const parsed = ownNames.safeParse(input);
  if (!parsed.success) return { ok: false, reason: 'invalid' };
  const where = { tenantId_id: { tenantId: who.tenantId, id: who.userId } };
  return prisma.$transaction(async (tx) => {
    const user = await tx.user.findUnique({ where, select: { id: true, username: true, firstName: true, lastName: true } });
    if (!user) return { ok: false, reason: 'gone' } as const;
    const fields = (['firstName', 'lastName'] as const).filter((f) => parsed.data[f] !== user[f]);
    if (!fields.length) return { ok: true } as const;
    await tx.user.update({ where, data: parsed.data });
    const actor = { kind: 'user', id: user.id, name: user.username };
    await audit(tx, actor, { tenantId: who.tenantId, action: 'user.updated', targetType: 'user', targetId: user.id, details: { fields } }, origin);
    return { ok: true } as const;
  });
}
