import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import { argon2Params, hashPassword, needsRehash, verifyPassword } from '../platform/passwords.js';
import { seal, unseal } from '../platform/sealed.js';
import { startSession, type NewSession, type SessionSettings } from '../sessions/browser-session.js';
import { claimLoginAttempt, clientAddressKey, failedLogin, recordSuccessfulLogin } from '../users/lockout.js';
import { issueCode, openAuthRequest } from './authorize.js';
import { recordLogin, recordLoginFailure } from '../audit/events.js';
import type { AuditOrigin } from '../audit/origin.js';
import { foldCase } from '../platform/case-fold.js';
import { loginPolicyOf, passwordlessAllowed, type LoginPolicy } from '../tenants/login-policy.js';
import { isPasswordless, mfaInitDue, sealWaitingFactor, secondFactorFollows, secondFactorNeed } from './second-factor.js';

export interface CompleteLoginInput {
  tenantId: string;
  userId: string;
  /** Authentication methods (RFC 8176): "pwd", "ext" for a federated login, "hwk"/"swk" + "user" + "mfa" for a passkey alone... */
  amr: string[];
  /** The sealed authorization request (`r` of the login pages, or the SAML RelayState). */
  authRequest?: string;
  /** Without an authorization request: the hosted page to go back to (checked when the login page took it), kept through the terms and second-factor steps. */
  next?: string;
}

const PENDING_AAD = 'pending-login';
const PENDING_SECONDS = 15 * 60;

export const DEFAULT_TERMS = 'By continuing you accept the terms of use and the privacy policy of this service.';

export interface LoginDeps {
  prisma: Prisma;
  masterKey: Buffer;
  issuer: string;
  config: SessionSettings;
  /** The request being answered, for the audit log. */
  origin?: AuditOrigin;
  /** The browser's User-Agent, kept with its session for the session lists. */
  userAgent?: string;
}

/** What the end of a login decided; the login pages turn it into an answer. */
export type LoginOutcome =
  /** The account or its tenant cannot sign in (`message`: why, when the user may be told). */
  | { kind: 'refused'; message?: string }
  /** A second factor first: `pending` resumes the login once it passed (openWaitingFactor). */
  | { kind: 'second-factor'; need: 'verify' | 'enrol' | 'offer'; tenantName: string; pending: string; formTargets: string[] }
  /** The tenant requires terms acceptance first: `pending` resumes the login (openPendingLogin). */
  | { kind: 'terms'; tenantName: string; pending: string; formTargets: string[]; termsText: string }
  /** Signed in, with no authorization request to resume. */
  | { kind: 'signed-in'; tenantName: string; session: NewSession }
  /** Signed in; the browser goes back to the client with its code. */
  | { kind: 'redirect'; url: string; session: NewSession };

/**
 * The end of every successful login: asks for terms acceptance when the tenant requires
 * it, then creates the browser session and resumes the authorization request (code to the
 * client's redirect URI), or reports a plain sign-in when there is none.
 */
export async function completeLogin(deps: LoginDeps, input: CompleteLoginInput): Promise<LoginOutcome> {
  const { prisma } = deps;
  const user = await prisma.user.findUnique({
    where: { tenantId_id: { tenantId: input.tenantId, id: input.userId } },
    include: { tenant: true },
  });
  if (!user || user.state !== 'active' || user.tenant.state !== 'active') {
    await recordLoginFailure(
      prisma,
      { tenantId: input.tenantId, account: user ?? undefined, method: input.amr[0] ?? 'unknown', reason: 'refused' },
      deps.origin,
    );
    return { kind: 'refused' };
  }
  const authReq = openAuthRequest(deps.masterKey, input.authRequest);
  const formTargets = authReq ? [new URL(authReq.redirectUri).origin] : [];

  const policy = await loginPolicyOf(prisma, user.tenantId);
  const external = input.amr.includes('ext');
  const allowed = isPasswordless(input.amr) ? passwordlessAllowed(policy) : external ? policy.allowExternalIdp : policy.allowUsernamePassword;
  if (!allowed) {
    await recordLoginFailure(prisma, { tenantId: input.tenantId, account: user, method: input.amr[0] ?? 'unknown', reason: 'refused' }, deps.origin);
    return { kind: 'refused', message: 'This way of signing in is turned off for this organisation.' };
  }
  if (!input.amr.includes('mfa')) {
    const need = await secondFactorNeed(prisma, policy, { tenantId: user.tenantId, userId: user.id, amr: input.amr }, authReq?.acrValues);
    if (need === 'unavailable') {
      await recordLoginFailure(prisma, { tenantId: input.tenantId, account: user, method: input.amr[0] ?? 'unknown', reason: 'refused' }, deps.origin);
      return { kind: 'refused', message: 'A second factor is required, but this organisation allows none that can be used here.' };
    }
    const offer = need === 'none' && (await mfaInitDue(prisma, policy, user.tenantId, user.id));
    if (need !== 'none' || offer) {
      const pending = sealWaitingFactor(deps.masterKey, {
        tenantId: user.tenantId,
        userId: user.id,
        amr: input.amr,
        authRequest: input.authRequest,
        next: input.next,
      });
      return { kind: 'second-factor', need: need === 'none' ? 'offer' : need, tenantName: user.tenant.name, pending, formTargets };
    }
  }

  if (user.tenant.termsRequired && !user.termsAcceptedAt) {
    const pending = seal(deps.masterKey, JSON.stringify({ ...input, exp: Math.floor(Date.now() / 1000) + PENDING_SECONDS }), PENDING_AAD);
    const branding = user.tenant.branding as Record<string, string>;
    return { kind: 'terms', tenantName: user.tenant.name, pending, formTargets, termsText: branding.termsText ?? DEFAULT_TERMS };
  }

  const created = await startSession(prisma, deps.config, {
    tenantId: user.tenantId,
    userId: user.id,
    amr: input.amr,
    userAgent: deps.userAgent,
    clientAddress: deps.origin?.clientAddress,
  });
  const { session } = created;
  await recordLogin(prisma, { tenantId: user.tenantId, account: user, amr: input.amr, sessionId: session.id }, deps.origin);
  if (!authReq || authReq.tenantId !== user.tenantId) return { kind: 'signed-in', tenantName: user.tenant.name, session: created };
  const url = await issueCode(prisma, deps.issuer, authReq, { userId: user.id, sessionId: session.id, authTime: session.authTime, amr: session.amr });
  return { kind: 'redirect', url, session: created };
}

/** Records the terms acceptance of a pending login; an earlier acceptance is kept. */
export async function recordTermsAccepted(prisma: Prisma, pending: CompleteLoginInput, now = new Date()) {
  // The same timestamp AcceptTerms records.
  await prisma.user.updateMany({
    where: { tenantId: pending.tenantId, id: pending.userId, termsAcceptedAt: null },
    data: { termsAcceptedAt: now },
  });
}

/** The tenant and authorization request a login page acts for, from the sealed request `r`. */
export interface LoginTarget {
  tenantId: string;
  tenantName: string;
  r?: string;
  formTargets?: string[];
}

/** Opens the sealed authorization request of a login page; a string is the reason it cannot sign in. */
export async function loginTargetOf(prisma: Prisma, masterKey: Buffer, r: string): Promise<LoginTarget | string> {
  const req = openAuthRequest(masterKey, r);
  if (!req) return 'This sign-in link has expired. Go back to the application and sign in again.';
  const tenant = await prisma.tenant.findUnique({ where: { id: req.tenantId }, select: { name: true, state: true } });
  if (!tenant || tenant.state !== 'active') return 'This organisation cannot sign in.';
  return { tenantId: req.tenantId, tenantName: tenant.name, r, formTargets: [new URL(req.redirectUri).origin] };
}

/** The CompleteLoginInput sealed into the terms page, if it is genuine and recent. */
export function openPendingLogin(key: Buffer, sealed: unknown): CompleteLoginInput | undefined {
  if (typeof sealed !== 'string' || sealed.length > 16384) return undefined;
  const plain = unseal(key, sealed, PENDING_AAD);
  if (!plain) return undefined;
  const p = JSON.parse(plain.toString('utf8')) as CompleteLoginInput & { exp: number };
  return p.exp * 1000 > Date.now() ? { tenantId: p.tenantId, userId: p.userId, amr: p.amr, authRequest: p.authRequest, next: p.next } : undefined;
}

let dummyHash: Promise<string> | undefined;

/** `lockedNow`: this failure locked the user (its sessions and tokens stop working). */
export type PasswordCheck = { ok: true; userId: string } | { ok: false; lockedNow?: boolean };

type LoginConfig = Parameters<typeof argon2Params>[0] & Pick<Config, 'LOGIN_MAX_FAILURES' | 'LOGIN_LOCKOUT_SECONDS'>;

/**
 * Checks a password from a client address (request.ip: X-Forwarded-For counts only from
 * TRUSTED_PROXIES). The attempt goes through the login throttle first (src/users/lockout.ts):
 * an attempt it refuses fails whatever the password, with the same answer as a wrong one.
 * Failures count toward the address's and the account's temporary locks; a success resets
 * them. An unknown account costs the same argon2 work, so timing does not tell it apart.
 */
export async function checkPassword(
  prisma: Prisma,
  config: LoginConfig,
  tenantId: string,
  login: string,
  password: string,
  clientIp?: string,
  requestId?: string,
  policy?: LoginPolicy,
): Promise<PasswordCheck> {
  const origin = requestId ? { requestId, clientAddress: clientIp } : undefined;
  const user = await findLoginName(prisma, tenantId, login, policy);
  if (!user?.passwordHash) {
    dummyHash ??= hashPassword('not-a-real-password', argon2Params(config));
    await verifyPassword(await dummyHash, password);
    await recordLoginFailure(prisma, { tenantId, account: user ?? undefined, method: 'pwd', reason: user ? 'refused' : 'unknown_account' }, origin);
    return { ok: false };
  }
  const throttle = {
    address: clientAddressKey(clientIp),
    policy: { maxFailuresPerAddress: config.LOGIN_MAX_FAILURES, lockoutSeconds: config.LOGIN_LOCKOUT_SECONDS },
  };
  // Users that may try: active, or under a temporary lock (the throttle decides); not an admin's lock.
  const mayTry = user.tenant.state === 'active' && (user.state === 'active' || (user.state === 'locked' && user.lockedUntil !== null));
  const claim = mayTry ? await claimLoginAttempt(prisma, tenantId, user.id, throttle) : undefined;
  // Verified even when refused, so that the time taken does not tell a refusal apart.
  const valid = await verifyPassword(user.passwordHash, password);
  if (!claim?.admitted) {
    await recordLoginFailure(prisma, { tenantId, account: user, method: 'pwd', reason: mayTry ? 'throttled' : 'refused', lockedNow: claim?.lockedNow }, origin);
    return { ok: false, lockedNow: claim?.lockedNow };
  }
  if (!valid) {
    const { lockedNow } = await failedLogin(prisma, tenantId, user.id, { ...throttle, claimed: true });
    await recordLoginFailure(prisma, { tenantId, account: user, method: 'pwd', reason: 'bad_credentials', lockedNow }, origin);
    return { ok: false, lockedNow };
  }
  // With a second factor to come, the attempt stays counted until that passes too: a known
  // password must not reset the throttle that bounds guessing the second factor.
  if (!policy || !(await secondFactorFollows(prisma, policy, tenantId, user.id))) {
    await recordSuccessfulLogin(prisma, tenantId, user.id, { address: throttle.address });
  }
  // A hash imported from another system (PBKDF2, argon2i) becomes ours at its first use.
  if (needsRehash(user.passwordHash)) {
    const rehashed = await hashPassword(password, argon2Params(config));
    await prisma.user.updateMany({ where: { tenantId, id: user.id, passwordHash: user.passwordHash }, data: { passwordHash: rehashed } });
  }
  return { ok: true, userId: user.id };
}

/** The user a login name names: the username, or the email unless the policy disables login with email. */
export async function findLoginName(prisma: Prisma, tenantId: string, login: string, policy?: Pick<LoginPolicy, 'disableLoginWithEmail'>) {
  const key = await foldCase(prisma, login.trim());
  return prisma.user.findFirst({
    where: { tenantId, OR: [...(policy?.disableLoginWithEmail ? [] : [{ emailLower: key }]), { usernameLower: key }] },
    include: { tenant: { select: { state: true } } },
  });
}
