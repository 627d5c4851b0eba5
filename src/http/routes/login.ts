import type { FastifyInstance, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { openAuthRequest } from '../../oauth/authorize.js';
import { checkPassword, findLoginName, loginTargetOf, openPendingLogin, recordTermsAccepted } from '../../oauth/login.js';
import { loginPolicyOf, passwordlessAllowed, type LoginPolicy } from '../../tenants/login-policy.js';
import { beginPasskeyAuthentication, finishPasskeyAuthentication } from '../../users/passkeys.js';
import { PASSKEY_SCRIPT } from '../../ui/passkey-script.js';
import { csrfValid } from '../../ui/csrf.js';
import { releaseExpiredLocks } from '../../users/lockout.js';
import { STYLESHEET } from '../../ui/layout.js';
import { continuePage, emailPage, messagePage, passwordPage, refuseForm, type LoginPageContext } from '../../ui/pages.js';
import { forgotPage, resetRequestedPage } from '../../ui/recovery-pages.js';
import { brandStylesheet } from '../../ui/branding.js';
import { isUuid } from '../../platform/ids.js';
import { AppError } from '../../platform/errors.js';
import { servedLogo } from '../../tenants/logo.js';
import { brandPages } from '../../ui/page-brand.js';
import { requestPasswordReset, showPasswordReset } from '../../users/recovery.js';
import { finishLogin, mfaDeps, returnPath } from '../login-flow.js';
import { relyingPartyFor } from '../passkey-rp.js';
import { recoveryLinks } from '../recovery-links.js';
import { tenantFromHost } from '../tenant-host.js';
import { registerRateLimits } from '../rate-limit.js';

const hide = { hide: true };
// One message for every failure: it must not tell whether the account exists, is locked or has no password.
const GENERIC_FAILURE = 'The email, username or password is incorrect, or this account cannot sign in.';

type Form = Record<string, unknown>;
const field = (body: unknown, name: string): string | undefined => {
  const v = (body as Form | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
};

interface Resolved extends LoginPageContext {
  tenantId: string;
}

/** The tenant and authorization request a login page acts for: the sealed request, else the Host subdomain. */
async function resolve(request: FastifyRequest, r: string | undefined, next?: unknown): Promise<Resolved | string> {
  const target = r ? await loginTargetOf(request.server.db.prisma, request.server.masterKey, r) : await hostTarget(request);
  if (typeof target === 'string') return target;
  const back = r ? undefined : returnPath(next);
  const { prisma } = request.server.db;
  await brandPages(request, target.tenantId);
  return {
    ...target,
    passwordReset: await showPasswordReset(prisma, target.tenantId),
    ...(back ? { next: back } : {}),
  };
}

async function hostTarget(request: FastifyRequest) {
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

  // The passkey pages' script: from this origin, so that their CSP needs only script-src 'self'.
  app.get('/ui/assets/passkey.js', { schema: hide }, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(PASSKEY_SCRIPT),
  );

  /** The passwordless ceremony the email page offers, when the tenant's policy allows it. */
  const passwordless = async (request: FastifyRequest, tenantId: string, policy: LoginPolicy) =>
    passwordlessAllowed(policy) ? beginPasskeyAuthentication({ prisma: app.db.prisma }, await relyingPartyFor(request, tenantId), tenantId, null) : undefined;

  app.get('/ui/assets/style.css', { schema: hide }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET),
  );

  // The tenant's branding, as a stylesheet (the pages' CSP allows no inline style).
  app.get('/ui/assets/brand/:file', { schema: hide }, async (request, reply) => {
    const id = /^(.+)\.css$/.exec((request.params as { file: string }).file)?.[1];
    const tenant = id && isUuid(id) ? await app.db.prisma.tenant.findUnique({ where: { id }, select: { branding: true, state: true } }) : null;
    const css = tenant?.state === 'active' ? brandStylesheet(tenant.branding as Record<string, unknown>) : '';
    return reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(css);
  });

  // The tenant's logo, from this origin (the pages' CSP: img-src 'self'). Its URL carries its
  // version, so that URL may be cached for a year; an older version's URL is answered with
  // the current logo and a short cache.
  app.get('/ui/assets/logo/:tenantId', { schema: hide }, async (request, reply) => {
    const { tenantId } = request.params as { tenantId: string };
    const logo = isUuid(tenantId) ? await servedLogo(app.db.prisma, tenantId) : undefined;
    if (!logo) return reply.code(404).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('No logo');
    const etag = `"${logo.etag}"`;
    const current = (request.query as Record<string, unknown>).v === logo.etag;
    reply.header('etag', etag).header('cache-control', current ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
    if (request.headers['if-none-match']?.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) return reply.code(304).send();
    return reply.type(logo.contentType).send(logo.data);
  });

  app.get('/ui/login', { schema: hide }, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const ctx = await resolve(request, typeof q.r === 'string' ? q.r : undefined, q.next);
    if (typeof ctx === 'string') return messagePage(reply, 'Cannot sign in', ctx, 400);
    const hint = ctx.r ? openAuthRequest(app.masterKey, ctx.r)?.loginHint : undefined;
    const policy = await loginPolicyOf(app.db.prisma, ctx.tenantId);
    return emailPage(request, reply, {
      ...ctx,
      email: hint,
      loginName: policy.disableLoginWithEmail ? 'username' : 'email',
      passkey: await passwordless(request, ctx.tenantId, policy),
    });
  });

  // Passwordless: a discoverable passkey with user verification names the user and is both factors.
  app.post('/ui/login/passkey', { schema: hide, config: loginLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const ctx = await resolve(request, field(request.body, 'r'), field(request.body, 'next'));
    if (typeof ctx === 'string') return messagePage(reply, 'Cannot sign in', ctx, 400);
    const policy = await loginPolicyOf(app.db.prisma, ctx.tenantId);
    if (!passwordlessAllowed(policy)) return messagePage(reply, 'Cannot sign in', 'Passkey sign-in is turned off for this organisation.', 403);
    const check = await finishPasskeyAuthentication(mfaDeps(request), await relyingPartyFor(request, ctx.tenantId), {
      tenantId: ctx.tenantId,
      userId: null,
      handle: field(request.body, 'handle') ?? '',
      response: field(request.body, 'response') ?? '',
      clientIp: request.ip,
      purpose: 'passwordless',
    });
    if (!check.ok) {
      if (check.lockedNow) request.settleInvalidations = true;
      return emailPage(request, reply, {
        ...ctx,
        loginName: policy.disableLoginWithEmail ? 'username' : 'email',
        passkey: await passwordless(request, ctx.tenantId, policy),
        error: 'That passkey could not sign you in. Try again, or sign in with your name and password.',
        status: 401,
      });
    }
    return finishLogin(request, reply, { tenantId: ctx.tenantId, userId: check.userId, amr: [check.method, 'user', 'mfa'], authRequest: ctx.r }, ctx.next);
  });

  // Email first: a hook may send the user to their identity provider instead of the password step.
  app.post('/ui/login', { schema: hide, config: loginLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const ctx = await resolve(request, field(request.body, 'r'), field(request.body, 'next'));
    if (typeof ctx === 'string') return messagePage(reply, 'Cannot sign in', ctx, 400);
    const email = (field(request.body, 'email') ?? '').trim();
    const policy = await loginPolicyOf(app.db.prisma, ctx.tenantId);
    const page = { ...ctx, loginName: policy.disableLoginWithEmail ? ('username' as const) : ('email' as const) };
    if (!email || email.length > 320) {
      return emailPage(request, reply, {
        ...page,
        error: `Enter your ${policy.disableLoginWithEmail ? 'username' : 'email address or username'}.`,
        status: 400,
      });
    }
    if (policy.allowExternalIdp) {
      for (const hook of app.loginRedirectHooks) {
        let target: string | undefined;
        try {
          target = await hook({
            request,
            tenantId: ctx.tenantId,
            email,
            authRequest: ctx.r,
            next: ctx.next,
            domainDiscovery: policy.allowDomainDiscovery,
            usernameOnly: policy.disableLoginWithEmail,
          });
        } catch (err) {
          // The user's IdP cannot take the login now (unreachable, not set up): said on the page they are on.
          if (!(err instanceof AppError) || err.status >= 500) throw err;
          return emailPage(request, reply, { ...page, email, error: err.message, status: err.status });
        }
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
    const ctx = await resolve(request, field(request.body, 'r'), field(request.body, 'next'));
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
    return finishLogin(request, reply, { tenantId: ctx.tenantId, userId: result.userId, amr: ['pwd'], authRequest: ctx.r }, ctx.next);
  });

  // "Forgot password?": one answer whatever the name, and the mail leaves after it, so that
  // neither the page nor its timing tells whether the account exists.
  const links = recoveryLinks(app.config);
  const forgotLimit = { rateLimit: { max: Math.max(1, Math.ceil(app.config.RATE_LIMIT_LOGIN / 3)), timeWindow: 60_000 } };
  app.get('/ui/login/forgot', { schema: hide }, async (request, reply) => {
    const q = request.query as Record<string, unknown>;
    const ctx = await resolve(request, typeof q.r === 'string' ? q.r : undefined);
    if (typeof ctx === 'string') return messagePage(reply, 'Cannot reset a password', ctx, 400);
    if (!ctx.passwordReset) return messagePage(reply, 'Cannot reset a password', 'Ask your administrator to reset your password.', 404);
    const login = typeof q.login === 'string' && q.login.length <= 320 ? q.login : undefined;
    return forgotPage(request, reply, { ...ctx, login });
  });

  app.post('/ui/login/forgot', { schema: hide, config: forgotLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const ctx = await resolve(request, field(request.body, 'r'));
    if (typeof ctx === 'string') return messagePage(reply, 'Cannot reset a password', ctx, 400);
    if (!ctx.passwordReset) return messagePage(reply, 'Cannot reset a password', 'Ask your administrator to reset your password.', 404);
    const login = (field(request.body, 'login') ?? '').trim();
    if (!login || login.length > 320) return forgotPage(request, reply, { ...ctx, error: 'Enter your email address or username.', status: 400 });
    if (!links.smtpUrl) request.log.warn('password reset requested but SMTP_URL is not set: no link can be mailed');
    const origin = { requestId: request.id, clientAddress: request.ip };
    const { tenantId } = ctx;
    setImmediate(() => {
      requestPasswordReset(app.db.prisma, links, tenantId, login, origin)
        .then((d) => {
          if (d?.delivery === 'mail_failed') request.log.warn({ err: { message: d.error } }, 'password reset mail failed');
        })
        .catch((err: Error) => request.log.warn({ err: { message: err.message } }, 'password reset request failed'));
    });
    return resetRequestedPage(reply, ctx);
  });

  app.post('/ui/login/terms', { schema: hide, config: loginLimit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const pending = openPendingLogin(app.masterKey, field(request.body, 'pending'));
    if (!pending) return messagePage(reply, 'Cannot sign in', 'This sign-in has expired. Go back to the application and sign in again.', 400);
    await brandPages(request, pending.tenantId);
    if (field(request.body, 'accept') !== 'yes') return messagePage(reply, 'Terms not accepted', 'You must accept the terms of use to continue.', 400);
    await recordTermsAccepted(app.db.prisma, pending);
    return finishLogin(request, reply, pending);
  });
}
