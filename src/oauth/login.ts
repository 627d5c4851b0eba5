import type { FastifyReply, FastifyRequest } from 'fastify';
import { argon2Params } from '../bootstrap/bootstrap.js';
import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import { hashPassword, verifyPassword } from '../platform/passwords.js';
import { seal, unseal } from '../platform/sealed.js';
import { createSession } from '../sessions/browser-session.js';
import { messagePage, termsPage } from '../ui/pages.js';
import { claimLoginAttempt, clientAddressKey, failedLogin, recordSuccessfulLogin } from '../users/lockout.js';
import { issueCode, openAuthRequest } from './authorize.js';

/**
 * A login method that replaces the password step for some users (SAML federation: the
 * user's or the tenant's default IdP). Returns the URL to send the browser to, or
 * undefined to let the next hook (and finally the password page) decide.
 */
export type LoginRedirectHook = (args: {
  request: FastifyRequest;
  tenantId: string;
  email: string;
  /** The sealed authorization request to resume afterwards (pass it back to completeLogin). */
  authRequest?: string;
}) => Promise<string | undefined>;

export interface CompleteLoginInput {
  tenantId: string;
  userId: string;
  /** Authentication methods (RFC 8176): "pwd", "ext" for a federated login... */
  amr: string[];
  /** The sealed authorization request (`r` of the login pages, or the SAML RelayState). */
  authRequest?: string;
}

const PENDING_AAD = 'pending-login';
const PENDING_SECONDS = 15 * 60;

export const DEFAULT_TERMS = 'By continuing you accept the terms of use and the privacy policy of this service.';

/**
 * The end of every successful login: asks for terms acceptance when the tenant requires
 * it, then creates the browser session and resumes the authorization request (code to the
 * client's redirect URI), or shows a signed-in page when there is none.
 */
export async function completeLogin(request: FastifyRequest, reply: FastifyReply, input: CompleteLoginInput) {
  const app = request.server;
  const { prisma } = app.db;
  const user = await prisma.user.findUnique({
    where: { tenantId_id: { tenantId: input.tenantId, id: input.userId } },
    include: { tenant: true },
  });
  if (!user || user.state !== 'active' || user.tenant.state !== 'active') return messagePage(reply, 'Sign-in failed', 'This account cannot sign in.', 403);
  const authReq = openAuthRequest(app.masterKey, input.authRequest);
  const formTargets = authReq ? [new URL(authReq.redirectUri).origin] : [];

  if (user.tenant.termsRequired && !user.termsAcceptedAt) {
    const pending = seal(app.masterKey, JSON.stringify({ ...input, exp: Math.floor(Date.now() / 1000) + PENDING_SECONDS }), PENDING_AAD);
    const branding = user.tenant.branding as Record<string, string>;
    return termsPage(request, reply, { tenantName: user.tenant.name, pending, formTargets, termsText: branding.termsText ?? DEFAULT_TERMS });
  }

  const session = await createSession(prisma, reply, app.config, { tenantId: user.tenantId, userId: user.id, amr: input.amr });
  if (!authReq || authReq.tenantId !== user.tenantId) {
    return messagePage(reply, 'Signed in', `You are signed in to ${user.tenant.name}. You can close this page.`);
  }
  const url = await issueCode(prisma, app.oauth.issuer, authReq, { userId: user.id, sessionId: session.id, authTime: session.authTime, amr: session.amr });
  return reply.code(303).header('cache-control', 'no-store').redirect(url, 303);
}

/** The CompleteLoginInput sealed into the terms page, if it is genuine and recent. */
export function openPendingLogin(key: Buffer, sealed: unknown): CompleteLoginInput | undefined {
  if (typeof sealed !== 'string' || sealed.length > 16384) return undefined;
  const plain = unseal(key, sealed, PENDING_AAD);
  if (!plain) return undefined;
  const p = JSON.parse(plain.toString('utf8')) as CompleteLoginInput & { exp: number };
  return p.exp * 1000 > Date.now() ? { tenantId: p.tenantId, userId: p.userId, amr: p.amr, authRequest: p.authRequest } : undefined;
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
): Promise<PasswordCheck> {
  const key = login.trim().toLowerCase();
  const user = await prisma.user.findFirst({
    where: { tenantId, OR: [{ emailLower: key }, { usernameLower: key }] },
    include: { tenant: { select: { state: true } } },
  });
  if (!user?.passwordHash) {
    dummyHash ??= hashPassword('not-a-real-password', argon2Params(config));
    await verifyPassword(await dummyHash, password);
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
  if (!claim?.admitted) return { ok: false, lockedNow: claim?.lockedNow };
  if (!valid) return { ok: false, lockedNow: (await failedLogin(prisma, tenantId, user.id, { ...throttle, claimed: true })).lockedNow };
  await recordSuccessfulLogin(prisma, tenantId, user.id, { address: throttle.address });
  return { ok: true, userId: user.id };
}
