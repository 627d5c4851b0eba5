import * as OTPAuth from 'otpauth';
import { audit, type AuditActor } from '../audit/audit.js';
import type { AuditOrigin } from '../audit/origin.js';
import type { Prisma } from '../platform/db.js';
import { seal, unseal } from '../platform/sealed.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn } from '../principals/policy.js';
import { isLastSecondFactor } from './last-factor.js';
import { claimLoginAttempt, clientAddressKey, failedLogin, recordSuccessfulLogin, type ThrottlePolicy } from './lockout.js';
import { consumeRecoveryCode, replaceRecoveryCodes } from './recovery-codes.js';
import { findUser } from './service.js';

/*
 * TOTP (RFC 6238) as a second factor: SHA-1, 6 digits, 30-second steps, which every
 * authenticator app reads from the otpauth:// URI. A code is accepted one step either side
 * of now (clock skew), and only for a step later than the last accepted one, so a code
 * seen over a shoulder cannot be replayed. Wrong codes go through the login throttle
 * (./lockout.ts) exactly like wrong passwords: the same per-address and account limits.
 */

const PERIOD = 30;
const DIGITS = 6;
const WINDOW = 1;
const SECRET_AAD = 'totp-secret';

export interface MfaDeps {
  prisma: Prisma;
  masterKey: Buffer;
  throttle: ThrottlePolicy;
  origin?: AuditOrigin;
}

export type TotpState = 'none' | 'pending' | 'confirmed';

const totpOf = (secret: OTPAuth.Secret, issuer = '', label = '') =>
  new OTPAuth.TOTP({ issuer, label, algorithm: 'SHA1', digits: DIGITS, period: PERIOD, secret });

export async function totpState(prisma: Prisma, tenantId: string, userId: string): Promise<TotpState> {
  const row = await prisma.userTotp.findUnique({ where: { tenantId_userId: { tenantId, userId } }, select: { confirmedAt: true } });
  return !row ? 'none' : row.confirmedAt ? 'confirmed' : 'pending';
}

export async function unusedRecoveryCodes(prisma: Prisma, tenantId: string, userId: string): Promise<number> {
  return prisma.recoveryCode.count({ where: { tenantId, userId, usedAt: null } });
}

export interface Enrolment {
  /** The secret in base32, for typing into an app that cannot scan. */
  secret: string;
  uri: string;
  /** The URI as a QR code, a PNG data URL. */
  qrCode: string;
}

/**
 * Starts (or shows again) an enrolment: a secret generated here, kept sealed until a first
 * valid code confirms it. Undefined when the user already has a confirmed TOTP.
 */
export async function beginTotpEnrolment(deps: MfaDeps, tenantId: string, userId: string): Promise<Enrolment | undefined> {
  const key = { tenantId_userId: { tenantId, userId } };
  const user = await deps.prisma.user.findUniqueOrThrow({ where: { tenantId_id: { tenantId, id: userId } }, include: { tenant: { select: { name: true } } } });
  const row = await deps.prisma.userTotp.findUnique({ where: key });
  if (row?.confirmedAt) return undefined;
  let secret = row ? totpSecretOf(deps.masterKey, row.secret) : undefined;
  if (!secret) {
    secret = new OTPAuth.Secret({ size: 20 });
    const sealed = seal(deps.masterKey, secret.base32, SECRET_AAD);
    await deps.prisma.userTotp.upsert({ where: key, create: { tenantId, userId, secret: sealed }, update: { secret: sealed, lastUsedStep: null } });
  }
  const uri = totpOf(secret, user.tenant.name, user.email || user.username).toString();
  return { secret: secret.base32, uri, qrCode: await (await import('qrcode')).default.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 220 }) };
}

/** The secret of a stored enrolment; undefined when this master key does not open it (an import checks this too). */
export function totpSecretOf(masterKey: Buffer, sealed: string): OTPAuth.Secret | undefined {
  const plain = unseal(masterKey, sealed, SECRET_AAD);
  return plain ? OTPAuth.Secret.fromBase32(plain.toString('utf8')) : undefined;
}

/** The time step a code is valid for (now ±1), or undefined. */
function stepOf(secret: OTPAuth.Secret, code: string, now: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totpOf(secret).validate({ token: code, timestamp: now, window: WINDOW });
  return delta === null ? undefined : OTPAuth.TOTP.counter({ period: PERIOD, timestamp: now }) + delta;
}

/** Accepts a code once: only for a step after the last accepted one (the row update is the arbiter under concurrency). */
async function acceptTotp(
  prisma: Prisma,
  masterKey: Buffer,
  tenantId: string,
  userId: string,
  code: string,
  confirmed: boolean,
  now: number,
): Promise<boolean> {
  const row = await prisma.userTotp.findUnique({ where: { tenantId_userId: { tenantId, userId } } });
  if (!row || Boolean(row.confirmedAt) !== confirmed) return false;
  const secret = totpSecretOf(masterKey, row.secret);
  const step = secret && stepOf(secret, code.replace(/\s/g, ''), now);
  if (step === undefined) return false;
  const { count } = await prisma.userTotp.updateMany({
    where: { tenantId, userId, OR: [{ lastUsedStep: null }, { lastUsedStep: { lt: step } }] },
    data: { lastUsedStep: step, ...(confirmed ? {} : { confirmedAt: new Date(now) }) },
  });
  return count === 1;
}

export type FactorCheck = { ok: true; method: 'otp' | 'recovery_code'; recoveryCodes?: string[] } | { ok: false; lockedNow?: boolean };

interface CheckInput {
  tenantId: string;
  userId: string;
  code: string;
  /** The client's address (request.ip), for the throttle. */
  clientIp?: string;
  now?: number;
}

/** Runs a code check through the login throttle and records its outcome. */
async function throttled(deps: MfaDeps, input: CheckInput, purpose: string, check: () => Promise<FactorCheck>): Promise<FactorCheck> {
  const { prisma } = deps;
  const user = await prisma.user.findUniqueOrThrow({ where: { tenantId_id: { tenantId: input.tenantId, id: input.userId } } });
  const actor: AuditActor = { kind: 'user', id: user.id, name: user.username };
  const target = { tenantId: input.tenantId, targetType: 'user', targetId: user.id };
  const address = clientAddressKey(input.clientIp);
  const claim = await claimLoginAttempt(prisma, input.tenantId, input.userId, { address, policy: deps.throttle });
  if (!claim.admitted) {
    await audit(prisma, actor, { ...target, action: 'mfa.check.failed', outcome: 'failure', details: { purpose, reason: 'throttled' } }, deps.origin);
    return { ok: false, lockedNow: claim.lockedNow };
  }
  const result = input.code.length <= 64 ? await check() : ({ ok: false } as const);
  if (!result.ok) {
    const { lockedNow } = await failedLogin(prisma, input.tenantId, input.userId, { address, policy: deps.throttle, claimed: true });
    await audit(prisma, actor, { ...target, action: 'mfa.check.failed', outcome: 'failure', details: { purpose, reason: 'bad_code' } }, deps.origin);
    if (lockedNow) await audit(prisma, actor, { ...target, action: 'user.locked', details: { reason: 'failed_second_factor' } }, deps.origin);
    return { ok: false, lockedNow };
  }
  await recordSuccessfulLogin(prisma, input.tenantId, input.userId, { address });
  await audit(prisma, actor, { ...target, action: 'mfa.check.succeeded', details: { purpose, method: result.method } }, deps.origin);
  return result;
}

/** A second-factor check at login or step-up: a TOTP code, or one of the user's recovery codes (used up). */
export function verifySecondFactor(deps: MfaDeps, input: CheckInput, purpose = 'login'): Promise<FactorCheck> {
  return throttled(deps, input, purpose, async () => {
    if (await acceptTotp(deps.prisma, deps.masterKey, input.tenantId, input.userId, input.code, true, input.now ?? Date.now()))
      return { ok: true, method: 'otp' };
    if (await consumeRecoveryCode(deps.prisma, deps.masterKey, input.tenantId, input.userId, input.code)) {
      const left = await deps.prisma.recoveryCode.count({ where: { tenantId: input.tenantId, userId: input.userId, usedAt: null } });
      await audit(
        deps.prisma,
        { kind: 'user', id: input.userId },
        { tenantId: input.tenantId, action: 'mfa.recovery_code.used', targetType: 'user', targetId: input.userId, details: { remaining: left } },
        deps.origin,
      );
      return { ok: true, method: 'recovery_code' };
    }
    return { ok: false };
  });
}

/** Confirms a pending enrolment with its first valid code; the answer carries the new recovery codes, to be shown once. */
export function confirmTotpEnrolment(deps: MfaDeps, input: CheckInput): Promise<FactorCheck> {
  return throttled(deps, input, 'enrolment', async () => {
    if (!(await acceptTotp(deps.prisma, deps.masterKey, input.tenantId, input.userId, input.code, false, input.now ?? Date.now()))) return { ok: false };
    const recoveryCodes = await deps.prisma.$transaction(async (tx) => {
      const codes = await replaceRecoveryCodes(tx, deps.masterKey, input.tenantId, input.userId);
      await audit(
        tx,
        { kind: 'user', id: input.userId },
        { tenantId: input.tenantId, action: 'mfa.totp.enrolled', targetType: 'user', targetId: input.userId },
        deps.origin,
      );
      return codes;
    });
    return { ok: true, method: 'otp', recoveryCodes };
  });
}

/** A new set of recovery codes for a user with TOTP (the old ones stop working). */
export async function regenerateRecoveryCodes(deps: MfaDeps, tenantId: string, userId: string): Promise<string[]> {
  return deps.prisma.$transaction(async (tx) => {
    const codes = await replaceRecoveryCodes(tx, deps.masterKey, tenantId, userId);
    await audit(tx, { kind: 'user', id: userId }, { tenantId, action: 'mfa.recovery_codes.regenerated', targetType: 'user', targetId: userId }, deps.origin);
    return codes;
  });
}

async function removeFactors(tx: Pick<Prisma, 'userTotp' | 'recoveryCode'>, tenantId: string, userId: string): Promise<boolean> {
  const { count } = await tx.userTotp.deleteMany({ where: { tenantId, userId } });
  await tx.recoveryCode.deleteMany({ where: { tenantId, userId } });
  return count > 0;
}

/** The signed-in user removes their own TOTP (after proving the password or a code), unless the last-factor rule (./last-factor.ts) keeps it. */
export async function removeOwnTotp(deps: MfaDeps, tenantId: string, userId: string): Promise<'removed' | 'last-factor'> {
  return deps.prisma.$transaction(async (tx) => {
    if (await isLastSecondFactor(tx, tenantId, userId, { totp: true })) return 'last-factor';
    if (await removeFactors(tx, tenantId, userId)) {
      await audit(tx, { kind: 'user', id: userId }, { tenantId, action: 'mfa.totp.removed', targetType: 'user', targetId: userId }, deps.origin);
    }
    return 'removed';
  });
}

/** ResetUserSecondFactors: an admin removes a user's TOTP, recovery codes and passkeys (the user enrols again). */
export async function resetSecondFactors(ctx: ServiceContext, userId: string) {
  const user = await findUser(ctx.prisma, ctx.tenantId, userId);
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id: user.id });
  await ctx.prisma.$transaction(async (tx) => {
    const removed = await removeFactors(tx, ctx.tenantId, user.id);
    const passkeys = await tx.passkey.deleteMany({ where: { tenantId: ctx.tenantId, userId: user.id } });
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'mfa.reset',
        targetType: 'user',
        targetId: user.id,
        details: { totpRemoved: removed, passkeysRemoved: passkeys.count },
      },
      ctx.requestId,
    );
  });
}
