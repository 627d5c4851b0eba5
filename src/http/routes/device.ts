import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { sealAuthRequest } from '../../oauth/authorize.js';
import { decideDevice, deviceLoginRequest, findPendingDevice, type PendingDevice } from '../../oauth/device.js';
import { formatUserCode, normalizeUserCode } from '../../oauth/user-code.js';
import { judgeSession, type SessionVerdict } from '../../oauth/second-factor.js';
import { loadSubject } from '../../principals/load.js';
import { sessionOf } from '../../sessions/browser-session.js';
import { loginPolicyOf } from '../../tenants/login-policy.js';
import { csrfValid } from '../../ui/csrf.js';
import { deviceCodePage, deviceConfirmPage } from '../../ui/device-pages.js';
import { messagePage, refuseForm } from '../../ui/pages.js';
import { errorHandler } from '../errors.js';
import { registerRateLimits } from '../rate-limit.js';
import { sessionSecretOf } from '../session-cookie.js';
import { brandPages } from '../../ui/page-brand.js';

// The user's side of the device authorization (RFC 8628 §3.3): the code a device shows is
// entered (or arrives in verification_uri_complete), the user signs in through the hosted
// login as for /oauth/v2/authorize, then approves or denies.

const hide = { hide: true };
const field = (body: unknown, name: string): string | undefined => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
};

const LOOKUP_ERRORS = {
  invalid: 'That is not a valid code. Check the code your device shows and try again.',
  unknown: 'That code is not valid. Check the code your device shows and try again.',
  expired: 'That code has expired. Start again on your device to get a new code.',
  decided: 'That code has already been used. Start again on your device if it is not connected.',
};

export default async function deviceRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  const { prisma } = app.db;
  // Every code checked counts, a wrong one as well: guessing the codes of others is bounded
  // per client address (RFC 8628 §5.1), on top of the codes' entropy and short lifetime.
  const codeLimit = { rateLimit: { max: app.config.RATE_LIMIT_DEVICE_CODE, timeWindow: 60_000 } };

  app.setErrorHandler((err, request, reply) => {
    if ((err as { statusCode?: number }).statusCode === 429) {
      return messagePage(reply, 'Too many attempts', 'Too many codes were tried from your network. Wait a minute, then try again.', 429);
    }
    return errorHandler(err as never, request, reply);
  });

  /** The request a typed code names, or the entry page saying why there is none. */
  async function lookup(request: FastifyRequest, reply: FastifyReply, typed: string | undefined): Promise<PendingDevice | FastifyReply> {
    const code = normalizeUserCode(typed);
    const shown = typed?.slice(0, 32);
    if (!code) return deviceCodePage(request, reply, { code: shown, error: LOOKUP_ERRORS.invalid, status: 400 });
    const found = await findPendingDevice(prisma, code);
    if (!found.ok) return deviceCodePage(request, reply, { code: shown, error: LOOKUP_ERRORS[found.reason], status: 400 });
    await brandPages(request, found.device.tenantId);
    return found.device;
  }

  /**
   * The user this browser's session signs in for the device's tenant, when the session is good
   * enough by the tenant's login policy (as for the authorization endpoint); otherwise where
   * the browser goes first: the hosted login, or the step-up of a second factor.
   */
  async function signedIn(request: FastifyRequest, d: PendingDevice) {
    const s = await sessionOf(prisma, sessionSecretOf(request), app.config);
    let verdict: SessionVerdict = 'login';
    if (s?.ok && s.session.tenantId === d.tenantId) {
      const subject = await loadSubject(prisma, s.session.tenantId, s.session.userId, 'session', s.session.id);
      if (subject.ok) {
        verdict = await judgeSession(prisma, await loginPolicyOf(prisma, d.tenantId), s.session, {});
        if (verdict === 'ok') return { ok: true as const, session: s.session, username: subject.principal.username };
      }
    }
    const r = encodeURIComponent(sealAuthRequest(app.masterKey, deviceLoginRequest(app.oauth.issuer, d)));
    return { ok: false as const, next: verdict === 'step-up' ? `/ui/login/step-up?r=${r}` : `/ui/login?r=${r}` };
  }

  async function confirm(request: FastifyRequest, reply: FastifyReply, typed: string | undefined) {
    const d = await lookup(request, reply, typed);
    if (!('id' in d)) return d;
    const who = await signedIn(request, d);
    if (!who.ok) return reply.header('cache-control', 'no-store').redirect(who.next, 303);
    const tenant = await prisma.tenant.findUniqueOrThrow({ where: { id: d.tenantId }, select: { name: true } });
    return deviceConfirmPage(request, reply, {
      tenantName: tenant.name,
      applicationName: d.applicationName,
      username: who.username,
      scope: d.scope,
      userCode: formatUserCode(d.userCode),
    });
  }

  app.get('/ui/device', { schema: hide, config: codeLimit }, async (request, reply) => {
    const typed = (request.query as Record<string, unknown>).user_code;
    if (typeof typed !== 'string' || typed === '') return deviceCodePage(request, reply, {});
    return confirm(request, reply, typed);
  });

  app.post('/ui/device', { schema: hide, config: codeLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    return confirm(request, reply, field(request.body, 'user_code'));
  });

  app.post('/ui/device/decision', { schema: hide, config: codeLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const decision = field(request.body, 'decision');
    if (decision !== 'approve' && decision !== 'deny') return messagePage(reply, 'Cannot connect the device', 'Choose Approve or Deny.', 400);
    const d = await lookup(request, reply, field(request.body, 'user_code'));
    if (!('id' in d)) return d;
    // The session may have ended or aged since the confirmation page: the login comes first again.
    const who = await signedIn(request, d);
    if (!who.ok) return reply.header('cache-control', 'no-store').redirect(who.next, 303);
    const approve = decision === 'approve';
    const decided = await decideDevice(
      prisma,
      { device: d, approve, user: { id: who.session.userId, username: who.username, authTime: who.session.authTime, amr: who.session.amr } },
      { requestId: request.id, clientAddress: request.ip },
    );
    if (!decided) return deviceCodePage(request, reply, { error: LOOKUP_ERRORS.decided, status: 400 });
    if (!approve) return messagePage(reply, 'Request denied', `${d.applicationName} was not connected. You can close this page.`);
    return messagePage(reply, 'Device connected', `${d.applicationName} is connected to your account. You can close this page and return to your device.`);
  });
}
