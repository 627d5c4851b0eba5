import { randomUUID } from 'node:crypto';
import { audit } from '../audit/audit.js';
import type { AuditOrigin } from '../audit/origin.js';
import type { Prisma } from '../platform/db.js';
import { seal, unseal } from '../platform/sealed.js';
import type { SessionRow } from '../sessions/browser-session.js';
import { passkeysAsSecondFactor, passwordlessAllowed, SECOND_FACTOR_OTP, seconds, type LoginPolicy } from '../tenants/login-policy.js';
import { hasPasskey } from '../users/passkeys.js';
import { totpState } from '../users/totp.js';
import { acrRequiresMfa } from './acr.js';

/*
 * When a login or a live session needs a second factor, by the tenant's login policy, the
 * user's enrolment and the client's acr_values. A second factor is asked when the user has
 * TOTP or a passkey (and the policy allows it), when the policy forces MFA (for password
 * logins only, with forceMfaLocalOnly), or when the client asks for ACR_MFA.
 */

export type SecondFactorNeed =
  /** Nothing more to ask. */
  | 'none'
  /** A TOTP or recovery code, or a passkey (secondFactorsOf tells which). */
  | 'verify'
  /** The user has no second factor and must enrol one now: TOTP when the policy allows it, else a passkey. */
  | 'enrol'
  /** A second factor is required but the policy allows none this server offers. */
  | 'unavailable';

export async function secondFactorNeed(
  prisma: Prisma,
  policy: LoginPolicy,
  who: { tenantId: string; userId: string; amr: readonly string[] },
  acrValues?: string,
): Promise<SecondFactorNeed> {
  const { otp, passkey } = await secondFactorsOf(prisma, policy, who.tenantId, who.userId);
  const enrolled = otp || passkey;
  const forced = policy.forceMfa && !(policy.forceMfaLocalOnly && who.amr.includes('ext'));
  if (!enrolled && !forced && !acrRequiresMfa(acrValues)) return 'none';
  if (enrolled) return 'verify';
  return policy.secondFactors.includes(SECOND_FACTOR_OTP) || passkeysAsSecondFactor(policy) ? 'enrol' : 'unavailable';
}

/**
 * Whether a login that needs no second factor offers to add one (ZITADEL's
 * mfaInitSkipLifetime): the policy's lifetime is not "0s", it allows a factor this server
 * offers, and the user has not skipped the offer within the lifetime. Called only where
 * secondFactorNeed said 'none', so the user has no factor and none is forced.
 */
export async function mfaInitDue(prisma: Prisma, policy: LoginPolicy, tenantId: string, userId: string, now = Date.now()): Promise<boolean> {
  const lifetime = seconds(policy.mfaInitSkipLifetime);
  if (!lifetime || !(policy.secondFactors.includes(SECOND_FACTOR_OTP) || passkeysAsSecondFactor(policy))) return false;
  const user = await prisma.user.findUnique({ where: { tenantId_id: { tenantId, id: userId } }, select: { mfaInitSkippedAt: true } });
  return !user?.mfaInitSkippedAt || user.mfaInitSkippedAt.getTime() + lifetime * 1000 <= now;
}

/** The user declined the offer of a second factor: not offered again within mfaInitSkipLifetime. */
export async function recordMfaInitSkipped(prisma: Prisma, tenantId: string, userId: string, origin?: AuditOrigin) {
  await prisma.$transaction(async (tx) => {
    await tx.user.update({ where: { tenantId_id: { tenantId, id: userId } }, data: { mfaInitSkippedAt: new Date() } });
    await audit(tx, { kind: 'user', id: userId }, { tenantId, action: 'mfa.init_skipped', targetType: 'user', targetId: userId }, origin);
  });
}

/** The second factors a user has that the policy allows. */
export async function secondFactorsOf(prisma: Prisma, policy: LoginPolicy, tenantId: string, userId: string): Promise<{ otp: boolean; passkey: boolean }> {
  const otp = policy.secondFactors.includes(SECOND_FACTOR_OTP) && (await totpState(prisma, tenantId, userId)) === 'confirmed';
  const passkey = passkeysAsSecondFactor(policy) && (await hasPasskey(prisma, tenantId, userId));
  return { otp, passkey };
}

/** A passwordless (passkey) authentication: a key method without a password or an identity provider. */
export const isPasswordless = (amr: readonly string[]) => !amr.includes('pwd') && !amr.includes('ext') && (amr.includes('hwk') || amr.includes('swk'));

/** Whether a successful password check is only the first of two factors (its success is then recorded after the second). */
export async function secondFactorFollows(prisma: Prisma, policy: LoginPolicy, tenantId: string, userId: string): Promise<boolean> {
  return (await secondFactorNeed(prisma, policy, { tenantId, userId, amr: ['pwd'] })) !== 'none';
}

export type SessionVerdict = 'ok' | 'login' | 'step-up';

/**
 * Whether a live session may answer an authorization request as it is: `login` when its
 * first factor is older than the policy's check lifetime (or max_age) or no longer allowed,
 * `step-up` when it lacks a second factor that is now needed or whose check is too old.
 */
export async function judgeSession(
  prisma: Prisma,
  policy: LoginPolicy,
  session: Pick<SessionRow, 'tenantId' | 'userId' | 'amr' | 'authTime' | 'secondFactorAt'>,
  req: { maxAge?: number; acrValues?: string },
  now = Date.now(),
): Promise<SessionVerdict> {
  const external = session.amr.includes('ext');
  const age = (now - session.authTime.getTime()) / 1000;
  if (req.maxAge !== undefined && age > req.maxAge) return 'login';
  // A passwordless login was both factors at once: its one check lifetime covers both.
  if (isPasswordless(session.amr)) return passwordlessAllowed(policy) && age <= seconds(policy.multiFactorCheckLifetime) ? 'ok' : 'login';
  if (external ? !policy.allowExternalIdp : !policy.allowUsernamePassword) return 'login';
  const firstFactorLifetime = seconds(external ? policy.externalLoginCheckLifetime : policy.passwordCheckLifetime);
  if (age > firstFactorLifetime) return 'login';
  const need = await secondFactorNeed(prisma, policy, { tenantId: session.tenantId, userId: session.userId, amr: session.amr }, req.acrValues);
  if (need === 'none') return 'ok';
  const checked = session.secondFactorAt;
  if (checked && (now - checked.getTime()) / 1000 <= seconds(policy.secondFactorCheckLifetime) && session.amr.includes('mfa')) return 'ok';
  return 'step-up';
}

/** A login (or a session's step-up) waiting for its second factor: what to resume once it passes. */
export interface PendingFactor {
  tenantId: string;
  userId: string;
  amr: string[];
  authRequest?: string;
  /** Step-up of this live session rather than a new login. */
  sessionId?: string;
  /** The hosted page a plain sign-in goes back to (CompleteLoginInput.next). */
  next?: string;
}

const PENDING_SECONDS = 10 * 60;
// Sealed apart: a login waiting for its code must not pass for one whose code was checked.
const WAITING_AAD = 'second-factor-waiting';
const PASSED_AAD = 'second-factor-passed';

function sealWith(key: Buffer, p: PendingFactor & { jti?: string }, aad: string) {
  return seal(key, JSON.stringify({ ...p, exp: Math.floor(Date.now() / 1000) + PENDING_SECONDS }), aad);
}

type Sealed = PendingFactor & { exp: number; jti?: string };

function openWith(key: Buffer, sealed: unknown, aad: string): Sealed | undefined {
  if (typeof sealed !== 'string' || sealed.length > 16384) return undefined;
  const plain = unseal(key, sealed, aad);
  if (!plain) return undefined;
  const p = JSON.parse(plain.toString('utf8')) as Sealed;
  if (p.exp * 1000 <= Date.now()) return undefined;
  return p;
}

const strip = (p: Sealed): PendingFactor => ({
  tenantId: p.tenantId,
  userId: p.userId,
  amr: p.amr,
  authRequest: p.authRequest,
  sessionId: p.sessionId,
  next: p.next,
});

export const sealWaitingFactor = (key: Buffer, p: PendingFactor) => sealWith(key, p, WAITING_AAD);
export const openWaitingFactor = (key: Buffer, sealed: unknown) => {
  const p = openWith(key, sealed, WAITING_AAD);
  return p && strip(p);
};
/** After a login-time enrolment the recovery codes are shown first; the page's Continue carries this. */
export const sealPassedFactor = (key: Buffer, p: PendingFactor) => sealWith(key, { ...p, jti: randomUUID() }, PASSED_AAD);

/** The login a Continue resumes, once: a second post of the same form (a replay) finds it spent. */
export async function spendPassedFactor(prisma: Prisma, key: Buffer, sealed: unknown): Promise<PendingFactor | undefined> {
  const p = openWith(key, sealed, PASSED_AAD);
  if (!p?.jti) return undefined;
  const fresh = await prisma.usedLoginStep.createMany({ data: [{ jti: p.jti, expiresAt: new Date(p.exp * 1000) }], skipDuplicates: true });
  return fresh.count === 1 ? strip(p) : undefined;
}

/** How a second factor passed (RFC 8176): a code (`otp`), or a passkey held in hardware (`hwk`) or synced (`swk`). */
export type SecondFactorMethod = 'otp' | 'hwk' | 'swk';

/** The methods of an authentication once its second factor passed. */
export const withSecondFactor = (amr: string[], method: SecondFactorMethod = 'otp') => [...new Set([...amr, method, 'mfa'])];

/** A live session passed a second factor (step-up): its methods and check time. Undefined when it ended meanwhile. */
export async function recordStepUp(
  prisma: Prisma,
  tenantId: string,
  sessionId: string,
  method: SecondFactorMethod = 'otp',
  now = new Date(),
): Promise<SessionRow | undefined> {
  const row = await prisma.browserSession.findUnique({ where: { tenantId_id: { tenantId, id: sessionId } } });
  if (!row || row.endedAt || row.expiresAt <= now) return undefined;
  return prisma.browserSession.update({ where: { id: row.id }, data: { amr: withSecondFactor(row.amr, method), secondFactorAt: now } });
}
