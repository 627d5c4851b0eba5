import type { FastifyReply, FastifyRequest } from 'fastify';
import { completeLogin, type CompleteLoginInput, type LoginOutcome } from '../oauth/login.js';
import { messagePage, termsPage } from '../ui/pages.js';
import { enrolPage, recoveryCodesPage, secondFactorPage } from '../ui/second-factor-pages.js';
import { issueCode, openAuthRequest } from '../oauth/authorize.js';
import {
  openWaitingFactor,
  recordStepUp,
  sealPassedFactor,
  secondFactorsOf,
  withSecondFactor,
  type PendingFactor,
  type SecondFactorMethod,
} from '../oauth/second-factor.js';
import { loginPolicyOf, SECOND_FACTOR_OTP } from '../tenants/login-policy.js';
import { beginPasskeyAuthentication, beginPasskeyRegistration } from '../users/passkeys.js';
import { enrolPasskeyPage } from '../ui/passkey-pages.js';
import { beginTotpEnrolment, type MfaDeps } from '../users/totp.js';
import { relyingPartyFor } from './passkey-rp.js';
import { sessionOf } from '../sessions/browser-session.js';
import { sessionSecretOf } from './session-cookie.js';
import { noStore } from './no-store.js';
import { setSessionCookie } from './session-cookie.js';
import { brandPages } from '../ui/page-brand.js';

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
  /** The hosted-login page to go back to after a sign-in without an authorization request. */
  next?: string;
  /** The login policy's allowDomainDiscovery: users may be sent to the IdP claiming their email's domain. */
  domainDiscovery: boolean;
  /** The login policy's disableLoginWithEmail: the login name is a username only. */
  usernameOnly: boolean;
}) => Promise<string | undefined>;

/**
 * Where a plain sign-in (no authorization request) may go back to: a page of the hosted
 * UI that sent the browser to the login, never an arbitrary URL (an open redirect).
 */
export function returnPath(value: unknown): string | undefined {
  return typeof value === 'string' && /^\/ui\/account(\/[a-z-]*)?$/.test(value) ? value : undefined;
}

/** Answers what the end of a login decided: the second factor, the terms page, the session cookie and the way back to the client (or to `next`). */
export async function sendLoginOutcome(request: FastifyRequest, reply: FastifyReply, outcome: LoginOutcome, next?: string) {
  const { config } = request.server;
  switch (outcome.kind) {
    case 'refused':
      return messagePage(reply, 'Sign-in failed', outcome.message ?? 'This account cannot sign in.', 403);
    case 'second-factor':
      return askSecondFactor(request, reply, outcome);
    case 'terms':
      return termsPage(request, reply, {
        tenantName: outcome.tenantName,
        pending: outcome.pending,
        formTargets: outcome.formTargets,
        termsText: outcome.termsText,
      });
    case 'signed-in':
      setSessionCookie(reply, config, outcome.session.secret);
      if (next) return noStore(reply.code(303)).redirect(next, 303);
      return messagePage(reply, 'Signed in', `You are signed in to ${outcome.tenantName}. You can close this page.`);
    case 'redirect':
      setSessionCookie(reply, config, outcome.session.secret);
      return noStore(reply.code(303)).redirect(outcome.url, 303);
  }
}

/** The end of every successful login (password, terms, SAML), answered. */
export async function finishLogin(request: FastifyRequest, reply: FastifyReply, input: CompleteLoginInput, next?: string) {
  const app = request.server;
  const origin = { requestId: request.id, clientAddress: request.ip };
  const userAgent = request.headers['user-agent'];
  const outcome = await completeLogin(
    { prisma: app.db.prisma, masterKey: app.masterKey, issuer: app.oauth.issuer, config: app.config, origin, userAgent },
    { ...input, next: next ?? input.next },
  );
  return sendLoginOutcome(request, reply, outcome, next ?? input.next);
}

/** What the second-factor checks of a request need: the login throttle's settings, and the request for the audit log. */
export function mfaDeps(request: FastifyRequest): MfaDeps {
  const app = request.server;
  return {
    prisma: app.db.prisma,
    masterKey: app.masterKey,
    throttle: { maxFailuresPerAddress: app.config.LOGIN_MAX_FAILURES, lockoutSeconds: app.config.LOGIN_LOCKOUT_SECONDS },
    origin: { requestId: request.id, clientAddress: request.ip },
  };
}

/**
 * The second-factor step: the page that asks for a passkey and/or a code (whichever the
 * user has and the policy allows), or enrolment (TOTP, else a passkey) when the user has none and one is required.
 */
export async function askSecondFactor(
  request: FastifyRequest,
  reply: FastifyReply,
  c: { need: 'verify' | 'enrol' | 'offer'; tenantName: string; pending: string; formTargets: string[]; stepUp?: boolean; error?: string; status?: number },
) {
  const pending = openWaitingFactor(request.server.masterKey, c.pending);
  if (pending) await brandPages(request, pending.tenantId);
  if (c.need === 'verify') {
    const { prisma } = request.server.db;
    const has = pending && (await secondFactorsOf(prisma, await loginPolicyOf(prisma, pending.tenantId), pending.tenantId, pending.userId));
    const passkey =
      pending && has?.passkey
        ? await beginPasskeyAuthentication({ prisma }, await relyingPartyFor(request, pending.tenantId), pending.tenantId, pending.userId)
        : undefined;
    return secondFactorPage(request, reply, { ...c, otp: !has || has.otp || !has.passkey, passkey });
  }
  if (!pending) return secondFactorPage(request, reply, c);
  const { prisma } = request.server.db;
  // An offer (mfaInitSkipLifetime) is the enrolment, with a way to skip it.
  const offer = c.need === 'offer';
  // TOTP when the policy allows it (it brings recovery codes); a passkey when that is the only second factor allowed.
  if (!(await loginPolicyOf(prisma, pending.tenantId)).secondFactors.includes(SECOND_FACTOR_OTP)) {
    const ceremony = await beginPasskeyRegistration({ prisma }, await relyingPartyFor(request, pending.tenantId), pending.tenantId, pending.userId);
    return enrolPasskeyPage(request, reply, { ...c, ceremony, offer });
  }
  const enrolment = await beginTotpEnrolment(mfaDeps(request), pending.tenantId, pending.userId);
  if (!enrolment) return secondFactorPage(request, reply, c);
  return enrolPage(request, reply, {
    ...c,
    intro: offer
      ? `${c.tenantName} recommends a second factor when you sign in. Set one up now, or skip it for now.`
      : `${c.tenantName} requires a second factor when you sign in.`,
    action: '/ui/login/totp',
    fields: { pending: c.pending },
    enrolment,
    skip: offer ? c.pending : undefined,
  });
}

/** After a login-time enrolment: the recovery codes, then Continue resumes the login. */
export function showCodesThenContinue(request: FastifyRequest, reply: FastifyReply, codes: string[], passed: PendingFactor, formTargets: string[]) {
  const next = {
    action: '/ui/login/continue',
    method: 'post' as const,
    fields: { passed: sealPassedFactor(request.server.masterKey, passed) },
    label: 'Continue',
  };
  return recoveryCodesPage(request, reply, { codes, next, formTargets });
}

/**
 * A second factor passed: a new login goes on to its end (terms, session, code); a step-up
 * marks the browser's session and issues the code it was missing.
 */
export async function continueAfterSecondFactor(request: FastifyRequest, reply: FastifyReply, p: PendingFactor, method: SecondFactorMethod = 'otp') {
  const app = request.server;
  const amr = withSecondFactor(p.amr, method);
  if (!p.sessionId) return finishLogin(request, reply, { tenantId: p.tenantId, userId: p.userId, amr, authRequest: p.authRequest, next: p.next });
  // A step-up applies to the session of the browser that started it, and to no other.
  const current = await sessionOf(app.db.prisma, sessionSecretOf(request), app.config);
  const session = current?.ok && current.session.id === p.sessionId ? await recordStepUp(app.db.prisma, p.tenantId, p.sessionId, method) : undefined;
  const authReq = openAuthRequest(app.masterKey, p.authRequest);
  if (!session || !authReq || authReq.tenantId !== p.tenantId) {
    return messagePage(reply, 'Cannot sign in', 'This sign-in has expired. Go back to the application and sign in again.', 400);
  }
  const url = await issueCode(app.db.prisma, app.oauth.issuer, authReq, {
    userId: session.userId,
    sessionId: session.id,
    authTime: session.authTime,
    amr: session.amr,
  });
  return noStore(reply.code(303)).redirect(url, 303);
}
