import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { openAuthRequest } from '../../oauth/authorize.js';
import {
  openWaitingFactor,
  recordMfaInitSkipped,
  sealWaitingFactor,
  secondFactorNeed,
  spendPassedFactor,
  type PendingFactor,
} from '../../oauth/second-factor.js';
import { sessionOf } from '../../sessions/browser-session.js';
import { loginPolicyOf } from '../../tenants/login-policy.js';
import { enrolPasskeyAtLogin, finishPasskeyAuthentication } from '../../users/passkeys.js';
import { confirmTotpEnrolment, verifySecondFactor } from '../../users/totp.js';
import { csrfValid } from '../../ui/csrf.js';
import { messagePage, refuseForm } from '../../ui/pages.js';
import { REGISTRATION_ERRORS } from '../../ui/passkey-pages.js';
import { askSecondFactor, continueAfterSecondFactor, finishLogin, mfaDeps, showCodesThenContinue } from '../login-flow.js';
import { relyingPartyFor } from '../passkey-rp.js';
import { sessionSecretOf } from '../session-cookie.js';
import { registerRateLimits } from '../rate-limit.js';
import { brandPages } from '../../ui/page-brand.js';

// The second-factor step of the hosted login, and the step-up of a live session that an
// authorization request finds too weak (acr_values, secondFactorCheckLifetime).

const hide = { hide: true };
const WRONG_CODE = 'That code is not valid. Enter the current code from your authenticator app, or an unused recovery code.';
const EXPIRED = 'This sign-in has expired. Go back to the application and sign in again.';
const PASSKEY_FAILED = 'That passkey could not confirm your sign-in. Try again, or use another way.';
const ENROL_FAILED = { ...REGISTRATION_ERRORS, throttled: 'Too many attempts. Wait a few minutes, then sign in again.' };

const field = (body: unknown, name: string): string | undefined => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
};

export default async function loginSecondFactorRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  const loginLimit = { rateLimit: { max: app.config.RATE_LIMIT_LOGIN, timeWindow: 60_000 } };
  const { prisma } = app.db;

  /** The page context of a pending second factor: the tenant's name and the client the forms may return to. */
  async function contextOf(p: PendingFactor) {
    const tenant = await prisma.tenant.findUnique({ where: { id: p.tenantId }, select: { name: true } });
    const req = openAuthRequest(app.masterKey, p.authRequest);
    return { tenantName: tenant?.name ?? '', formTargets: req ? [new URL(req.redirectUri).origin] : [], stepUp: Boolean(p.sessionId) };
  }

  /**
   * The posted form's pending second factor, once its CSRF token is checked, with the pages branded for
   * its tenant; undefined when a refusal has been sent instead (a foreign form, or a sign-in that expired).
   */
  async function pendingOf(request: FastifyRequest, reply: FastifyReply): Promise<{ p: PendingFactor; sealed: string } | undefined> {
    if (!csrfValid(request, field(request.body, 'csrf'))) {
      refuseForm(reply);
      return undefined;
    }
    const sealed = field(request.body, 'pending');
    const p = openWaitingFactor(app.masterKey, sealed);
    if (!p || !sealed) {
      messagePage(reply, 'Cannot sign in', EXPIRED, 400);
      return undefined;
    }
    await brandPages(request, p.tenantId);
    return { p, sealed };
  }

  const codeOf = (request: FastifyRequest) => (field(request.body, 'code') ?? '').trim();

  /** A login-time enrolment shown again (a wrong code or passkey): still an offer with Skip when no factor is required. */
  async function enrolmentOf(p: PendingFactor): Promise<'enrol' | 'offer'> {
    const policy = await loginPolicyOf(prisma, p.tenantId);
    const required = await secondFactorNeed(prisma, policy, p, openAuthRequest(app.masterKey, p.authRequest)?.acrValues);
    return required === 'none' ? 'offer' : 'enrol';
  }

  app.get('/ui/login/step-up', { schema: hide }, async (request, reply) => {
    const r = (request.query as Record<string, unknown>).r;
    const req = typeof r === 'string' ? openAuthRequest(app.masterKey, r) : undefined;
    if (!req || typeof r !== 'string') return messagePage(reply, 'Cannot sign in', EXPIRED, 400);
    await brandPages(request, req.tenantId);
    const s = await sessionOf(prisma, sessionSecretOf(request), app.config);
    const relogin = `/ui/login?r=${encodeURIComponent(r)}`;
    if (!s?.ok || s.session.tenantId !== req.tenantId) return reply.redirect(relogin, 302);
    const policy = await loginPolicyOf(prisma, req.tenantId);
    const need = await secondFactorNeed(prisma, policy, s.session, req.acrValues);
    if (need === 'none') return reply.redirect(relogin, 302);
    if (need === 'unavailable')
      return messagePage(reply, 'Cannot sign in', 'A second factor is required, but this organisation allows none that can be used here.', 403);
    const p: PendingFactor = { tenantId: s.session.tenantId, userId: s.session.userId, amr: s.session.amr, authRequest: r, sessionId: s.session.id };
    return askSecondFactor(request, reply, { need, pending: sealWaitingFactor(app.masterKey, p), ...(await contextOf(p)) });
  });

  app.post('/ui/login/second-factor', { schema: hide, config: loginLimit }, async (request, reply) => {
    const form = await pendingOf(request, reply);
    if (!form) return reply;
    const { p, sealed } = form;
    const check = await verifySecondFactor(
      mfaDeps(request),
      { tenantId: p.tenantId, userId: p.userId, code: codeOf(request), clientIp: request.ip },
      p.sessionId ? 'step-up' : 'login',
    );
    if (!check.ok) {
      if (check.lockedNow) request.settleInvalidations = true;
      return askSecondFactor(request, reply, { need: 'verify', pending: sealed, ...(await contextOf(p)), error: WRONG_CODE, status: 401 });
    }
    return continueAfterSecondFactor(request, reply, p);
  });

  app.post('/ui/login/second-factor/passkey', { schema: hide, config: loginLimit }, async (request, reply) => {
    const form = await pendingOf(request, reply);
    if (!form) return reply;
    const { p, sealed } = form;
    const check = await finishPasskeyAuthentication(mfaDeps(request), await relyingPartyFor(request, p.tenantId), {
      tenantId: p.tenantId,
      userId: p.userId,
      handle: field(request.body, 'handle') ?? '',
      response: field(request.body, 'response') ?? '',
      clientIp: request.ip,
      purpose: p.sessionId ? 'step-up' : 'login',
    });
    if (!check.ok) {
      if (check.lockedNow) request.settleInvalidations = true;
      return askSecondFactor(request, reply, { need: 'verify', pending: sealed, ...(await contextOf(p)), error: PASSKEY_FAILED, status: 401 });
    }
    return continueAfterSecondFactor(request, reply, p, check.method);
  });

  // Enrolment required at login (forceMfa, or acr_values asking for two factors).
  app.post('/ui/login/totp', { schema: hide, config: loginLimit }, async (request, reply) => {
    const form = await pendingOf(request, reply);
    if (!form) return reply;
    const { p, sealed } = form;
    const ctx = await contextOf(p);
    const check = await confirmTotpEnrolment(mfaDeps(request), { tenantId: p.tenantId, userId: p.userId, code: codeOf(request), clientIp: request.ip });
    if (!check.ok) {
      if (check.lockedNow) request.settleInvalidations = true;
      return askSecondFactor(request, reply, { need: await enrolmentOf(p), pending: sealed, ...ctx, error: WRONG_CODE, status: 401 });
    }
    return showCodesThenContinue(request, reply, check.recoveryCodes ?? [], p, ctx.formTargets);
  });

  app.post('/ui/login/second-factor/passkey-enrol', { schema: hide, config: loginLimit }, async (request, reply) => {
    const form = await pendingOf(request, reply);
    if (!form) return reply;
    const { p, sealed } = form;
    const result = await enrolPasskeyAtLogin(mfaDeps(request), await relyingPartyFor(request, p.tenantId), {
      tenantId: p.tenantId,
      userId: p.userId,
      handle: field(request.body, 'handle') ?? '',
      response: field(request.body, 'response') ?? '',
      name: field(request.body, 'name'),
      clientIp: request.ip,
    });
    if (!result.ok) {
      if ('lockedNow' in result && result.lockedNow) request.settleInvalidations = true;
      const status = result.reason === 'throttled' ? 429 : result.reason === 'duplicate' ? 409 : 400;
      const need = await enrolmentOf(p);
      return askSecondFactor(request, reply, { need, pending: sealed, ...(await contextOf(p)), error: ENROL_FAILED[result.reason], status });
    }
    return continueAfterSecondFactor(request, reply, p, result.passkey.backedUp ? 'swk' : 'hwk');
  });

  // The offer of a second factor (mfaInitSkipLifetime) declined: recorded, and the login goes on without one.
  app.post('/ui/login/second-factor/skip', { schema: hide, config: loginLimit }, async (request, reply) => {
    const form = await pendingOf(request, reply);
    if (!form) return reply;
    const { p } = form;
    // A step-up has a session already: there is no login to finish without the factor.
    if (p.sessionId) return messagePage(reply, 'Cannot sign in', EXPIRED, 400);
    // Only an offer may be skipped: a factor the user has, or one required (forceMfa, acr_values), may not.
    if ((await enrolmentOf(p)) !== 'offer') return messagePage(reply, 'Cannot sign in', 'This sign-in needs a second factor: it cannot be skipped.', 403);
    await recordMfaInitSkipped(prisma, p.tenantId, p.userId, { requestId: request.id, clientAddress: request.ip });
    return finishLogin(request, reply, { tenantId: p.tenantId, userId: p.userId, amr: p.amr, authRequest: p.authRequest, next: p.next });
  });

  app.post('/ui/login/continue', { schema: hide, config: loginLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const p = await spendPassedFactor(app.db.prisma, app.masterKey, field(request.body, 'passed'));
    if (p) await brandPages(request, p.tenantId);
    if (!p) return messagePage(reply, 'Cannot sign in', EXPIRED, 400);
    return continueAfterSecondFactor(request, reply, p);
  });
}
