import { createHash, randomBytes } from 'node:crypto';
import { audit } from '../audit/audit.js';
import type { Prisma } from '../platform/db.js';
import { hashPassword, type Argon2Params } from '../platform/passwords.js';
import { passwordViolations, policyOf } from './password-policy.js';

type Tx = Pick<Prisma, 'setPasswordToken'>;

export const hashSetPasswordToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Issues a one-time set-password token for a user. Only its SHA-256 is stored;
 * the returned token is shown (or mailed) once.
 */
export async function createSetPasswordToken(
  db: Tx,
  tenantId: string,
  userId: string,
  ttlMs: number,
  now = new Date(),
): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + ttlMs);
  await db.setPasswordToken.create({ data: { tenantId, userId, tokenHash: hashSetPasswordToken(token), expiresAt } });
  return { token, expiresAt };
}

export type ConsumeRefusal = 'invalid' | 'expired' | 'used' | 'user_disabled' | 'tenant_disabled' | 'policy';
export type ConsumeResult = { ok: true; userId: string; tenantId: string } | { ok: false; reason: ConsumeRefusal; violations?: string[] };

/**
 * Sets a user's password from a set-password token: checks the token (known,
 * unexpired, unused), the user and tenant state, and the tenant's password policy;
 * then stores the argon2id hash, activates the user and spends every open token of it.
 */
export async function consumeSetPasswordToken(
  prisma: Prisma,
  token: string,
  password: string,
  argon2Params: Argon2Params,
  now = new Date(),
): Promise<ConsumeResult> {
  if (typeof token !== 'string' || token.length < 16 || token.length > 128) return { ok: false, reason: 'invalid' };
  const row = await prisma.setPasswordToken.findUnique({
    where: { tokenHash: hashSetPasswordToken(token) },
    include: { user: { include: { tenant: true } } },
  });
  if (!row) return { ok: false, reason: 'invalid' };
  if (row.usedAt) return { ok: false, reason: 'used' };
  if (row.expiresAt <= now) return { ok: false, reason: 'expired' };
  if (row.user.tenant.state !== 'active') return { ok: false, reason: 'tenant_disabled' };
  if (row.user.state === 'inactive' || row.user.state === 'locked') return { ok: false, reason: 'user_disabled' };
  const violations = passwordViolations(policyOf(row.user.tenant), password);
  if (violations.length) return { ok: false, reason: 'policy', violations };

  const passwordHash = await hashPassword(password, argon2Params);
  const { tenantId, userId } = row;
  const spent = await prisma.$transaction(async (tx) => {
    // Single use even under concurrent submissions: only one update finds usedAt null.
    const claimed = await tx.setPasswordToken.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: now } });
    if (claimed.count === 0) return false;
    await tx.setPasswordToken.updateMany({ where: { tenantId, userId, usedAt: null }, data: { usedAt: now } });
    await tx.user.update({
      where: { tenantId_id: { tenantId, id: userId } },
      data: { passwordHash, failedLogins: 0, state: row.user.state === 'initial' ? 'active' : undefined },
    });
    await audit(tx, 'system', { tenantId, action: 'user.password_set', targetType: 'user', targetId: userId, details: { via: 'set-password-token' } });
    return true;
  });
  return spent ? { ok: true, userId, tenantId } : { ok: false, reason: 'used' };
}
