import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { openAuthRequest } from '../../oauth/authorize.js';
import { checkPassword, findLoginName, loginTargetOf, openPendingLogin, recordTermsAccepted } from '../../oauth/login.js';
import { loginPolicyOf } from '../../tenants/login-policy.js';
import { csrfValid } from '../../ui/csrf.js';
import { releaseExpiredLocks } from '../../users/lockout.js';
import { STYLESHEET } from '../../ui/layout.js';
import { continuePage, emailPage, messagePage, passwordPage, type LoginPageContext } from '../../ui/pages.js';
import { finishLogin } from '../login-flow.js';
import { tenantFromHost } from '../tenant-host.js';
import { registerRateLimits } from '../rate-limit.js';

const hide = { hide: true };
// One message for every failure: it must not tell whether the account exists, is locked or has no password.
const GENERIC_FAILURE = 'The email or password is incorrect, or this account cannot sign in.';

type Form = Record<string, unknown>;
const field = (body: unknown, name: string): string | undefined => {
  const v = (body as Form | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
};

interface Resolved extends LoginPageContext {
  tenantId: string;
}

/** The tenant and authorization request a login page acts for: the sealed request, else the Host subdomain. */
async function resolve(request: FastifyRequest, r: string | undefined): Promise<Resolved | string> {
  if (r) return loginTargetOf(request.server.db.prisma, request.server.masterKey, r);
  const host = await tenantFromHost(request);
  if (!host) return 'Open the application you want to use and sign in from there.';
  return { tenantId: host.id, tenantName: host.name };
}

export default async function loginRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  const loginLimit = { rateLimit: { max: app.config.RATE_LIMIT_LOGIN, timeWindow: 60_000 } };

  // Temporary lockouts end by themselves: a login attempt lifts an expired one at once, and
  // this lifts the rest, so that the sessions of a user nobody signs in as work again.
  const sweep = setInterval(
    () => {
      releaseExpiredLocks(app.db.prisma).catch((err) => app.log.warn({ err: { message: (err as Error).message } }, 'releasing expired login lockouts failed'));
    },
    Math.min(60, Math.max(1, Math.ceil(app.config.LOGIN_LOCKOUT_SECONDS / 2))) * 1000,
  );
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  const refuseForm = (reply: FastifyReply) =>
    messagePage(reply, 'Form expired', 'The form expired or was not sent by this site. Go back, reload the page and try again.', 403);

  app.get('/ui/assets/style.css', { schema: hide }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET),
  );

  app.get('/ui/login', { schema: hide }, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const ctx = await resolve(request, typeof q.r === 'string' ? q.r : undefined);
    if (typeof ctx === 'string') return messagePage(reply, 'Cannot sign in', ctx, 400);
    const hint = ctx.r ? openAuthRequest(app.masterKey, ctx.r)?.loginHint : undefined;
    const policy = await loginPolicyOf(app.db.prisma, ctx.tenantId);
    return emailPage(request, reply, { ...ctx, email: hint, loginName: policy.disableLoginWithEmail ? 'username' : 'email' });
  });

  // Email first: a hook may send the user to their identity provider instead of the password step.
  app.post('/ui/login', { schema: hide, config: loginLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const ctx = await resolve(request, field(request.body, 'r'));
    if (typeof ctx === 'string') return messagePage(reply, 'Cannot sign in', ctx, 400);
    const email = (field(request.body, 'email') ?? '').trim();
    const policy = await loginPolicyOf(app.db.prisma, ctx.tenantId);
    const page = { ...ctx, loginName: policy.disableLoginWithEmail ? ('username' as const) : ('email' as const) };
    if (!email || email.length > 320) {
      return emailPage(request, reply, { ...page, error: `Enter your ${policy.disableLoginWithEmail ? 'username' : 'email address'}.`, status: 400 });
    }
    if (policy.allowExternalIdp) {
      for (const hook of app.loginRedirectHooks) {
        const target = await hook({ request, tenantId: ctx.tenantId, email, authRequest: ctx.r });
        if (target) return target.startsWith('/') && !target.startsWith('//') ? reply.redirect(target, 303) : continuePage(reply, target);
      }
    }
    if (!policy.allowUsernamePassword) {
      return emailPage(request, reply, { ...page, email, error: 'Password sign-in is turned off for this organisation.', status: 403 });
    }
    // The tenant chose to say so: an unknown name is reported instead of going on to the password.
    if (!policy.ignoreUnknownUsernames && !(await findLoginName(app.db.prisma, ctx.tenantId, email, policy))) {
      return emailPage(request, reply, { ...page, email, error: 'No account has this login name.', status: 404 });
    }
    return passwordPage(request, reply, { ...ctx, email });
  });

  app.post('/ui/login/password', { schema: hide, config: loginLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const ctx = await resolve(request, field(request.body, 'r'));
    if (typeof ctx === 'string') return messagePage(reply, 'Cannot sign in', ctx, 400);
    const email = (field(request.body, 'email') ?? '').trim();
    const password = field(request.body, 'password') ?? '';
    if (!email || email.length > 320 || !password || password.length > 1024) {
      return passwordPage(request, reply, { ...ctx, email: email.slice(0, 320), error: GENERIC_FAILURE, status: 401 });
    }
    const policy = await loginPolicyOf(app.db.prisma, ctx.tenantId);
    if (!policy.allowUsernamePassword) return messagePage(reply, 'Cannot sign in', 'Password sign-in is turned off for this organisation.', 403);
    // request.ip: the peer, or the client a TRUSTED_PROXIES peer names in X-Forwarded-For.
    const result = await checkPassword(app.db.prisma, app.config, ctx.tenantId, email, password, request.ip, request.id, policy);
    if (!result.ok) {
      // A lockout ends the user's sessions and tokens (while it lasts): refused here before this answer leaves.
      if (result.lockedNow) request.settleInvalidations = true;
      return passwordPage(request, reply, { ...ctx, email, error: GENERIC_FAILURE, status: 401 });
    }
    return finishLogin(request, reply, { tenantId: ctx.tenantId, userId: result.userId, amr: ['pwd'], authRequest: ctx.r });
  });

  app.post('/ui/login/terms', { schema: hide, config: loginLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const pending = openPendingLogin(app.masterKey, field(request.body, 'pending'));
    if (!pending) return messagePage(reply, 'Cannot sign in', 'This sign-in has expired. Go back to the application and sign in again.', 400);
    if (field(request.body, 'accept') !== 'yes') return messagePage(reply, 'Terms not accepted', 'You must accept the terms of use to continue.', 400);
    await recordTermsAccepted(app.db.prisma, pending);
    return finishLogin(request, reply, pending);
  });
}
