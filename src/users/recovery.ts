import { audit } from '../audit/audit.js';
import type { AuditOrigin } from '../audit/origin.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn } from '../principals/policy.js';
import { foldCase } from '../platform/case-fold.js';
import type { Prisma } from '../platform/db.js';
import { conflict } from '../platform/errors.js';
import { loginPolicyOf } from '../tenants/login-policy.js';
import { replaceSetPasswordToken, type TokenPurpose } from './invitations.js';
import { sendInvitation, sendPasswordReset } from './mailer.js';
import { findUser } from './service.js';

// Links that let a user choose a password without knowing the old one: a resent
// invitation, an administrator's reset link, and the "forgot password" of the login page.
// Each issues a fresh one-time token and spends the user's older ones.

export interface LinkSettings {
  /** The set-password page's URL for a token (the login pages own its path). */
  link: (token: string) => string;
  invitationTtlMs: number;
  resetTtlMs: number;
  smtpUrl?: string;
  smtpFrom: string;
}

/** How a link reached the user: mailed, or (no SMTP configured) returned once to the administrator. */
export type LinkDelivery = { delivery: 'mailed' } | { delivery: 'link'; url: string } | { delivery: 'mail_failed'; error: string };

/** At most this many self-service reset links per account and hour: a known address cannot be mail-bombed. */
export const RESETS_PER_HOUR = 3;

/** A user whose password a reset may replace: signs in with one and is not disabled by an administrator. */
const resettable = (u: { passwordHash: string | null; state: string; lockedUntil: Date | null }) =>
  u.passwordHash !== null && (u.state === 'active' || (u.state === 'locked' && u.lockedUntil !== null));

async function deliver(s: LinkSettings, purpose: TokenPurpose, m: { to: string; username: string; tenantName: string; token: string; expiresAt: Date }) {
  const url = s.link(m.token);
  if (!s.smtpUrl) return { delivery: 'link', url } as const;
  const mail = { to: m.to, username: m.username, tenantName: m.tenantName, url, expiresAt: m.expiresAt };
  try {
    await (purpose === 'reset' ? sendPasswordReset : sendInvitation)(s.smtpUrl, s.smtpFrom, mail);
    return { delivery: 'mailed' } as const;
  } catch (e) {
    return { delivery: 'mail_failed', error: (e as Error).message } as const;
  }
}

async function issue(ctx: ServiceContext, id: string, s: LinkSettings, purpose: TokenPurpose): Promise<LinkDelivery> {
  const user = await findUser(ctx.prisma, ctx.tenantId, id);
  // A new link lets its reader become this user: the same rule as setting its password.
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id: user.id });
  if (purpose === 'invitation' && user.passwordHash) {
    throw conflict('This user has already set a password; send a password reset link instead');
  }
  if (purpose === 'reset' && !resettable(user)) {
    throw conflict(
      user.passwordHash
        ? 'This user is inactive or locked by an administrator; activate it first'
        : 'This user has no password yet; resend the invitation instead',
    );
  }
  const tenant = await ctx.prisma.tenant.findUniqueOrThrow({ where: { id: ctx.tenantId }, select: { name: true } });
  const ttl = purpose === 'reset' ? s.resetTtlMs : s.invitationTtlMs;
  const token = await ctx.prisma.$transaction(async (tx) => {
    const t = await replaceSetPasswordToken(tx, ctx.tenantId, user.id, ttl, purpose);
    const action = purpose === 'reset' ? 'user.password_reset_sent' : 'user.invitation_sent';
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action, targetType: 'user', targetId: user.id, details: { expiresAt: t.expiresAt } },
      ctx.requestId,
    );
    return t;
  });
  return deliver(s, purpose, { to: user.email, username: user.username, tenantName: tenant.name, ...token });
}

/** A new invitation for a user who has not set a password yet; the earlier link stops working. */
export const resendInvitation = (ctx: ServiceContext, id: string, s: LinkSettings) => issue(ctx, id, s, 'invitation');

/** An administrator sends a user a password-reset link; earlier links stop working. */
export const sendResetLink = (ctx: ServiceContext, id: string, s: LinkSettings) => issue(ctx, id, s, 'reset');

/**
 * "Forgot password" of the login page, for a login name (username or email). The page
 * answers the same whatever happens here, and before it: the caller runs this after
 * answering, so that neither the answer nor its timing tells whether the account exists.
 * When the name belongs to a user whose password can be reset and under the hourly limit,
 * a reset link is issued and mailed; the result says how (undefined: nothing was sent).
 */
export async function requestPasswordReset(
  prisma: Prisma,
  s: LinkSettings,
  tenantId: string,
  login: string,
  origin?: AuditOrigin,
  now = new Date(),
): Promise<LinkDelivery | undefined> {
  const key = await foldCase(prisma, login.trim());
  const user = await prisma.user.findFirst({
    where: { tenantId, OR: [{ emailLower: key }, { usernameLower: key }] },
    include: { tenant: { select: { name: true, state: true } } },
  });
  if (!user || user.tenant.state !== 'active' || !resettable(user) || !s.smtpUrl) return undefined;
  const actor = { kind: 'user', id: user.id, name: user.username };
  const since = new Date(now.getTime() - 3600_000);
  const token = await prisma.$transaction(async (tx) => {
    // Requests for one user are counted one at a time, so that a burst cannot pass the limit.
    await tx.$queryRaw`SELECT 1 FROM "User" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${user.id}::uuid FOR UPDATE`;
    const recent = await tx.setPasswordToken.count({ where: { tenantId, userId: user.id, purpose: 'reset', createdAt: { gt: since } } });
    if (recent >= RESETS_PER_HOUR) {
      const details = { reason: 'throttled' };
      await audit(tx, actor, { tenantId, action: 'user.password_reset_requested', targetType: 'user', targetId: user.id, outcome: 'failure', details }, origin);
      return undefined;
    }
    const t = await replaceSetPasswordToken(tx, tenantId, user.id, s.resetTtlMs, 'reset', now);
    await audit(tx, actor, { tenantId, action: 'user.password_reset_requested', targetType: 'user', targetId: user.id }, origin);
    return t;
  });
  if (!token) return undefined;
  return deliver(s, 'reset', { to: user.email, username: user.username, tenantName: user.tenant.name, ...token });
}

/** Whether the login pages offer "Forgot password?" for a tenant: its login policy's hidePasswordReset decides. */
export async function showPasswordReset(prisma: Prisma, tenantId: string): Promise<boolean> {
  return !(await loginPolicyOf(prisma, tenantId)).hidePasswordReset;
}
