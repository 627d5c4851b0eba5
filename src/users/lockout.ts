import { isIP } from 'node:net';
import type { Prisma as P } from '../generated/prisma/client.js';
import type { Prisma } from '../platform/db.js';

/*
 * Login throttling. Knowing an email must not be enough to lock its user out, and a
 * password must not be guessable without limit. So failed passwords are counted twice:
 *
 * - per account and client address: an address that reaches `maxFailuresPerAddress`
 *   failures is refused for `lockoutSeconds` (even with the right password). Other
 *   addresses are not affected, and attempts refused meanwhile count nowhere, so one
 *   address can never push the account to its lock.
 * - per account, from every address together: the tenant's `lockoutPolicy.maxAttempts`
 *   (0: none) locks the user (state `locked`, sessions and tokens refused) for
 *   `lockoutSeconds`, then it unlocks by itself. This bounds guessing spread over many
 *   addresses. Meanwhile only an address the user has signed in from with the right
 *   password (in the last 30 days, and with no failure since) is still let in, and its
 *   success lifts the lock: an attacker cannot be there without failing first.
 *
 * A success resets the account's count and its address's. An admin setting the state to
 * `active` clears everything (clearLoginThrottle). A lock set by an admin (state `locked`
 * with no `lockedUntil`) never expires and lets no login through.
 *
 * An attempt is claimed (counted) before its password is verified, all in one
 * transaction holding the user's row: concurrent attempts cannot get past a limit.
 * Locks are taken in one order everywhere: the user's row, then its addresses'.
 */

export interface ThrottlePolicy {
  /** Failed logins from one client address before that address is refused (LOGIN_MAX_FAILURES). */
  maxFailuresPerAddress: number;
  /** How long a lock lasts, an address's or the account's (LOGIN_LOCKOUT_SECONDS). */
  lockoutSeconds: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = { maxFailuresPerAddress: 5, lockoutSeconds: 900 };

/** How long a successful sign-in makes its address one the user signs in from. */
export const KNOWN_ADDRESS_MS = 30 * 86400_000;

/**
 * The key failures are counted under: the IP address (an IPv4-mapped IPv6 address as
 * IPv4), an IPv6 address by its /64, which one subscriber usually holds whole.
 */
export function clientAddressKey(ip: string | undefined): string {
  let a = (ip ?? '').trim().toLowerCase();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) return a.slice(7);
  const family = isIP(a);
  if (family === 4) return a;
  if (family !== 6) return 'unknown';
  // Eight groups: an IPv4 tail is two, "::" the missing ones.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = a.slice(0, v4.index) + ((b0 << 8) | b1).toString(16) + ':' + ((b2 << 8) | b3).toString(16);
  }
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export interface AccountState {
  state: string;
  failedLogins: number;
  lockedUntil: Date | null;
  /** The tenant's lockoutPolicy.maxAttempts; 0: no account-wide lock. */
  maxAttempts: number;
}

export interface AddressState {
  failures: number;
  lastFailureAt: Date | null;
  lockedUntil: Date | null;
  lastSuccessAt: Date | null;
}

/** A temporary lock after failed logins that has not expired yet. */
export function temporarilyLocked(a: { state: string; lockedUntil: Date | null }, now = new Date()): boolean {
  return a.state === 'locked' && a.lockedUntil !== null && a.lockedUntil > now;
}

function lockExpired(a: { state: string; lockedUntil: Date | null }, now: Date): boolean {
  return a.state === 'locked' && a.lockedUntil !== null && a.lockedUntil <= now;
}

const addressLocked = (r: AddressState | null, now: Date) => r?.lockedUntil != null && r.lockedUntil > now;

/** An address's failures that still count: none after its lock, or lockoutSeconds after its last failure. */
export function addressFailures(r: AddressState | null, policy: ThrottlePolicy, now: Date): number {
  if (!r) return 0;
  if (r.lockedUntil) return r.lockedUntil > now ? r.failures : 0;
  if (!r.lastFailureAt || r.lastFailureAt.getTime() <= now.getTime() - policy.lockoutSeconds * 1000) return 0;
  return r.failures;
}

/** An address the user recently signed in from, with no failure since. */
export function knownAddress(r: AddressState | null, policy: ThrottlePolicy, now: Date): boolean {
  return (
    r?.lastSuccessAt != null && r.lastSuccessAt.getTime() > now.getTime() - KNOWN_ADDRESS_MS && !addressLocked(r, now) && addressFailures(r, policy, now) === 0
  );
}

export type Decision =
  /** Refused without counting; at a limit not yet locked (attempts in flight), the lock starts now. */
  | { admit: false; lockAddress: boolean; lockAccount: boolean }
  /** Counted: `release` ends an expired account lock first; `countAccount` is false under a lock. */
  | { admit: true; release: boolean; countAccount: boolean };

/** Whether a password attempt on this account from this address may be verified at all. */
export function decide(account: AccountState, address: AddressState | null, policy: ThrottlePolicy, now: Date): Decision {
  const refuse = { admit: false, lockAddress: false, lockAccount: false } as const;
  if (addressLocked(address, now)) return refuse;
  if (addressFailures(address, policy, now) >= policy.maxFailuresPerAddress) return { ...refuse, lockAddress: true };
  if (temporarilyLocked(account, now)) {
    return knownAddress(address, policy, now) ? { admit: true, release: false, countAccount: false } : refuse;
  }
  const release = lockExpired(account, now);
  if (account.state !== 'active' && !release) return refuse; // an admin's lock, inactive, initial
  const failures = release ? 0 : account.failedLogins;
  if (account.maxAttempts > 0 && failures >= account.maxAttempts) return { ...refuse, lockAccount: true };
  return { admit: true, release, countAccount: true };
}

export interface ThrottleResult {
  /** The attempt was counted and its password may be checked. */
  admitted: boolean;
  /** The account is under its temporary lock now. */
  accountLocked: boolean;
  /** This call locked the account: its sessions and tokens stop working. */
  lockedNow: boolean;
}

type Phase = 'claim' | 'failure' | 'claim+failure';

const sameTime = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null);

async function step(
  prisma: Prisma,
  tenantId: string,
  userId: string,
  address: string,
  policy: ThrottlePolicy,
  now: Date,
  phase: Phase,
): Promise<ThrottleResult> {
  return prisma.$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<AccountState[]>`
      SELECT u."state", u."failedLogins", u."lockedUntil", t."lockoutMaxAttempts" AS "maxAttempts"
      FROM "User" u JOIN "Tenant" t ON t."id" = u."tenantId"
      WHERE u."tenantId" = ${tenantId}::uuid AND u."id" = ${userId}::uuid
      FOR UPDATE OF u`;
    if (!row) return { admitted: false, accountLocked: false, lockedNow: false };
    const key = { tenantId_userId_address: { tenantId, userId, address } };
    const stored = await tx.loginThrottle.findUnique({ where: key, select: { failures: true, lastFailureAt: true, lockedUntil: true, lastSuccessAt: true } });
    const account = { ...row };
    let addr: AddressState = stored ? { ...stored } : { failures: 0, lastFailureAt: null, lockedUntil: null, lastSuccessAt: null };
    const until = new Date(now.getTime() + policy.lockoutSeconds * 1000);
    let lockedNow = false;
    const lockAccount = () => {
      Object.assign(account, { state: 'locked', lockedUntil: until });
      lockedNow = true;
    };

    // A failure reported after its claim was admitted by that claim.
    let admitted = phase === 'failure';
    if (phase !== 'failure') {
      const d = decide(account, stored, policy, now);
      if (d.admit) {
        admitted = true;
        if (d.release) Object.assign(account, { state: 'active', lockedUntil: null, failedLogins: 0 });
        if (d.countAccount) account.failedLogins += 1;
        addr = { ...addr, failures: addressFailures(stored, policy, now) + 1, lastFailureAt: now, lockedUntil: null };
      } else {
        if (d.lockAddress) addr = { ...addr, lockedUntil: until };
        if (d.lockAccount) lockAccount();
      }
    }
    if (admitted && phase !== 'claim') {
      // The password was wrong: the counts the claim made may reach a limit.
      if (!addressLocked(addr, now) && addressFailures(addr, policy, now) >= policy.maxFailuresPerAddress) addr = { ...addr, lockedUntil: until };
      if (account.state === 'active' && account.maxAttempts > 0 && account.failedLogins >= account.maxAttempts) lockAccount();
    }

    // Only what changed is written: a state in the statement fires the invalidation triggers.
    const data: P.UserUpdateInput = {};
    if (account.failedLogins !== row.failedLogins) data.failedLogins = account.failedLogins;
    if (account.state !== row.state) data.state = account.state;
    if (!sameTime(account.lockedUntil, row.lockedUntil)) data.lockedUntil = account.lockedUntil;
    if (Object.keys(data).length) await tx.user.update({ where: { tenantId_id: { tenantId, id: userId } }, data });
    const changed =
      !stored || addr.failures !== stored.failures || !sameTime(addr.lastFailureAt, stored.lastFailureAt) || !sameTime(addr.lockedUntil, stored.lockedUntil);
    if (changed && (admitted || addr.lockedUntil)) {
      const values = { failures: addr.failures, lastFailureAt: addr.lastFailureAt, lockedUntil: addr.lockedUntil };
      await tx.loginThrottle.upsert({ where: key, create: { tenantId, userId, address, ...values }, update: values });
    }
    if (phase !== 'failure') await forgetStaleAddresses(tx, tenantId, userId, address, policy, now);
    return { admitted, accountLocked: temporarilyLocked(account, now), lockedNow };
  });
}

/** Rows of the user's other addresses that no longer hold a lock, a counting failure or a recent success. */
async function forgetStaleAddresses(tx: P.TransactionClient, tenantId: string, userId: string, except: string, policy: ThrottlePolicy, now: Date) {
  const failuresBefore = new Date(now.getTime() - policy.lockoutSeconds * 1000);
  const successBefore = new Date(now.getTime() - KNOWN_ADDRESS_MS);
  await tx.loginThrottle.deleteMany({
    where: {
      tenantId,
      userId,
      address: { not: except },
      AND: [
        { OR: [{ lockedUntil: null }, { lockedUntil: { lte: now } }] },
        { OR: [{ lastFailureAt: null }, { lastFailureAt: { lte: failuresBefore } }, { lockedUntil: { lte: now } }] },
        { OR: [{ lastSuccessAt: null }, { lastSuccessAt: { lte: successBefore } }] },
      ],
    },
  });
}

export interface AttemptOptions {
  /** clientAddressKey of the caller; failures without one share the key "unknown". */
  address?: string;
  policy?: ThrottlePolicy;
  now?: Date;
}

/**
 * Before a password is verified: counts the attempt, or refuses it (address or account
 * locked, or a limit reached by attempts in flight). A refused attempt counts nowhere;
 * its answer must not differ from a wrong password's.
 */
export function claimLoginAttempt(prisma: Prisma, tenantId: string, userId: string, opts: AttemptOptions = {}): Promise<ThrottleResult> {
  return step(prisma, tenantId, userId, opts.address ?? 'unknown', opts.policy ?? DEFAULT_THROTTLE, opts.now ?? new Date(), 'claim');
}

/**
 * A failed password login: counted here unless `claimed` (claimLoginAttempt already did),
 * then the address and the account lock when at their limits. Returns whether the
 * account is now under its temporary lock.
 */
export async function recordFailedLogin(prisma: Prisma, tenantId: string, userId: string, opts: AttemptOptions & { claimed?: boolean } = {}): Promise<boolean> {
  return (await failedLogin(prisma, tenantId, userId, opts)).accountLocked;
}

/** recordFailedLogin, with whether this failure locked the account. */
export function failedLogin(prisma: Prisma, tenantId: string, userId: string, opts: AttemptOptions & { claimed?: boolean } = {}): Promise<ThrottleResult> {
  const phase = opts.claimed ? 'failure' : 'claim+failure';
  return step(prisma, tenantId, userId, opts.address ?? 'unknown', opts.policy ?? DEFAULT_THROTTLE, opts.now ?? new Date(), phase);
}

/**
 * A successful login: lifts a temporary account lock, clears the account's and the
 * address's counts, remembers the address as one the user signs in from, records the time.
 */
export async function recordSuccessfulLogin(prisma: Prisma, tenantId: string, userId: string, opts: { address?: string; at?: Date } = {}) {
  const at = opts.at ?? new Date();
  // Separate statements in lock order (user, then address); the first matches only a locked user.
  await prisma.user.updateMany({ where: { tenantId, id: userId, state: 'locked', lockedUntil: { not: null } }, data: { state: 'active', lockedUntil: null } });
  await prisma.user.updateMany({ where: { tenantId, id: userId }, data: { failedLogins: 0, lastLoginAt: at } });
  if (opts.address) {
    const cleared = { failures: 0, lastFailureAt: null, lockedUntil: null, lastSuccessAt: at };
    await prisma.loginThrottle.upsert({
      where: { tenantId_userId_address: { tenantId, userId, address: opts.address } },
      create: { tenantId, userId, address: opts.address, ...cleared },
      update: cleared,
    });
  }
}

/** An admin unlocked the user or reset its password: every address's failures and locks go (known addresses stay). */
export async function clearLoginThrottle(tx: P.TransactionClient | Prisma, tenantId: string, userId: string) {
  await tx.loginThrottle.updateMany({ where: { tenantId, userId }, data: { failures: 0, lastFailureAt: null, lockedUntil: null } });
}

/** Unlocks every user whose temporary lock has expired (their sessions work again). Returns how many. */
export async function releaseExpiredLocks(prisma: Prisma, now = new Date()): Promise<number> {
  const { count } = await prisma.user.updateMany({
    where: { state: 'locked', lockedUntil: { lte: now } },
    data: { state: 'active', lockedUntil: null, failedLogins: 0 },
  });
  return count;
}
