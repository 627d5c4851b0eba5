import { createHash, randomBytes } from 'node:crypto';
import type { Prisma as P } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { AuditOrigin } from '../audit/origin.js';
import type { Prisma } from '../platform/db.js';
import { hashPassword, type Argon2Params } from '../platform/passwords.js';
import { endUserSessions } from '../sessions/manage.js';
import { clearLoginThrottle } from './lockout.js';
import { passwordViolations, policyOf, type PasswordPolicy } from './password-policy.js';

type Tx = Pick<Prisma, 'setPasswordToken'>;

/** An invitation sets a new user's first password; a reset replaces a forgotten one. */
export type TokenPurpose = 'invitation' | 'reset';

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
  purpose: TokenPurpose = 'invitation',
): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + ttlMs);
  await db.setPasswordToken.create({ data: { tenantId, userId, tokenHash: hashSetPasswordToken(token), expiresAt, purpose } });
  return { token, expiresAt };
}

/**
 * A new link replaces every open one of the user: only the latest invitation or reset
 * link works, so a resent invitation disables the mail before it.
 */
export async function replaceSetPasswordToken(
  db: Tx,
  tenantId: string,
  userId: string,
  ttlMs: number,
  purpose: TokenPurpose,
  now = new Date(),
): Promise<{ token: string; expiresAt: Date }> {
  await db.setPasswordToken.updateMany({ where: { tenantId, userId, usedAt: null }, data: { usedAt: now } });
  return createSetPasswordToken(db, tenantId, userId, ttlMs, now, purpose);
}

export type ConsumeRefusal = 'invalid' | 'expired' | 'used' | 'user_disabled' | 'tenant_disabled' | 'policy';
export type ConsumeResult =
  { ok: true; userId: string; tenantId: string; purpose: TokenPurpose } | { ok: false; reason: ConsumeRefusal; violations?: string[]; purpose?: TokenPurpose };

/** What a link is good for, before its page asks for anything: the form, or the reason it cannot serve. */
export type TokenInspection =
  | { ok: true; purpose: TokenPurpose; policy: PasswordPolicy; username: string; tenantId: string }
  | { ok: false; reason: Exclude<ConsumeRefusal, 'policy'>; purpose?: TokenPurpose };

const wellFormed = (token: unknown): token is string => typeof token === 'string' && token.length >= 16 && token.length <= 128;

/** A temporary lock from failed logins: a reset lifts it; an administrator's lock it does not. */
const temporarilyLocked = (u: { state: string; lockedUntil: Date | null }) => u.state === 'locked' && u.lockedUntil !== null;

async function tokenRow(prisma: Prisma, token: unknown, now: Date) {
  if (!wellFormed(token)) return { refusal: 'invalid' as const };
  const row = await prisma.setPasswordToken.findUnique({
    where: { tokenHash: hashSetPasswordToken(token) },
    include: { user: { include: { tenant: true } } },
  });
  if (!row) return { refusal: 'invalid' as const };
  const purpose = row.purpose as TokenPurpose;
  if (row.usedAt) return { refusal: 'used' as const, purpose };
  if (row.expiresAt <= now) return { refusal: 'expired' as const, purpose };
  if (row.user.tenant.state !== 'active') return { refusal: 'tenant_disabled' as const, purpose };
  const mayReset = purpose === 'reset' && temporarilyLocked(row.user);
  if (row.user.state === 'inactive' || (row.user.state === 'locked' && !mayReset)) return { refusal: 'user_disabled' as const, purpose };
  return { row, purpose };
}

/** Checks a link without spending it, so that its page can say at once that it is expired or used. */
export async function inspectSetPasswordToken(prisma: Prisma, token: unknown, now = new Date()): Promise<TokenInspection> {
  const r = await tokenRow(prisma, token, now);
  if (!r.row) return { ok: false, reason: r.refusal, purpose: r.purpose };
  return { ok: true, purpose: r.purpose, policy: policyOf(r.row.user.tenant), username: r.row.user.username, tenantId: r.row.user.tenantId };
}

/**
 * Sets a user's password from a set-password token: checks the token (known,
 * unexpired, unused), the user and tenant state, and the tenant's password policy;
 * then stores the argon2id hash, activates the user and spends every open token of it.
 * A reset also lifts a temporary lockout and ends the user's sessions (and the grants
 * issued under them): whoever knew the old password is signed out.
 */
export async function consumeSetPasswordToken(
  prisma: Prisma,
  token: string,
  password: string,
  argon2Params: Argon2Params,
  now = new Date(),
  origin?: AuditOrigin,
): Promise<ConsumeResult> {
  const r = await tokenRow(prisma, token, now);
  if (!r.row) return { ok: false, reason: r.refusal, purpose: r.purpose };
  const { row, purpose } = r;
  const violations = passwordViolations(policyOf(row.user.tenant), password);
  if (violations.length) return { ok: false, reason: 'policy', violations, purpose };

  const passwordHash = await hashPassword(password, argon2Params);
  const { tenantId, userId } = row;
  const spent = await prisma.$transaction(async (tx) => {
    // Single use even under concurrent submissions: only one update finds usedAt null.
    const claimed = await tx.setPasswordToken.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: now } });
    if (claimed.count === 0) return false;
    await tx.setPasswordToken.updateMany({ where: { tenantId, userId, usedAt: null }, data: { usedAt: now } });
    const data: P.UserUpdateInput = { passwordHash, failedLogins: 0 };
    if (row.user.state === 'initial') data.state = 'active';
    if (purpose === 'reset' && temporarilyLocked(row.user)) Object.assign(data, { state: 'active', lockedUntil: null });
    await tx.user.update({ where: { tenantId_id: { tenantId, id: userId } }, data });
    const actor = { kind: 'user', id: userId, name: row.user.username };
    if (purpose === 'reset') {
      await clearLoginThrottle(tx, tenantId, userId);
      await endUserSessions(tx, actor, { tenantId, userId, reason: 'password_reset' }, origin, now);
    }
    const action = purpose === 'reset' ? 'user.password_reset' : 'user.password_set';
    await audit(tx, actor, { tenantId, action, targetType: 'user', targetId: userId, details: { via: 'set-password-token' } }, origin);
    return true;
  });
  return spent ? { ok: true, userId, tenantId, purpose } : { ok: false, reason: 'used', purpose };
}
