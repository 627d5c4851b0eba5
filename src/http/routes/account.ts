import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { argon2Params } from '../../platform/passwords.js';
import { isUuid } from '../../platform/ids.js';
import type { Principal } from '../../principals/principal.js';
import { endUserSessions, liveSessions } from '../../sessions/manage.js';
import { accountPage } from '../../ui/account-pages.js';
import { brandPages } from '../../ui/page-brand.js';
import { csrfValid } from '../../ui/csrf.js';
import { messagePage } from '../../ui/pages.js';
import { policyOf } from '../../users/password-policy.js';
import { changeOwnName, changeOwnPassword } from '../../users/self-service.js';
import { registerRateLimits } from '../rate-limit.js';

const hide = { hide: true };
const field = (body: unknown, name: string) => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};

/** The hosted account page: the signed-in user's profile, password and sessions. */
export default async function accountRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  const limit = { rateLimit: { max: app.config.RATE_LIMIT_LOGIN, timeWindow: 60_000 } };
  const argon2 = argon2Params(app.config);

  /** The user signed in by this browser's session cookie; undefined when there is none that works. */
  async function signedIn(request: FastifyRequest): Promise<Principal | undefined> {
    const v = await app.authenticateSession(request);
    if (!v?.ok || v.principal.kind !== 'user') return undefined;
    await brandPages(request, v.principal.tenantId);
    return v.principal;
  }

  async function render(
    request: FastifyRequest,
    reply: FastifyReply,
    p: Principal,
    extra: { notice?: string; error?: string; profileError?: boolean; status?: number } = {},
  ) {
    const user = await app.db.prisma.user.findUniqueOrThrow({
      where: { tenantId_id: { tenantId: p.tenantId, id: p.subjectId } },
      include: { tenant: true },
    });
    return accountPage(request, reply, {
      tenantId: p.tenantId,
      tenantName: user.tenant.name,
      username: user.username,
      email: user.email,
      firstName: user.firstName,
      lastName: user.lastName,
      currentSessionId: p.credentialId,
      sessions: await liveSessions(app.db.prisma, p.tenantId, p.subjectId, app.config.SESSION_IDLE_SECONDS),
      policy: policyOf(user.tenant),
      ...extra,
    });
  }

  const expired = (reply: FastifyReply) =>
    messagePage(reply, 'Form expired', 'The form expired or was not sent by this site. Go back, reload the page and try again.', 403);
  const signedOut = (reply: FastifyReply) => messagePage(reply, 'Signed out', 'You are not signed in any more. Sign in again to manage your account.', 401);

  // Without a session the browser signs in first and comes back here.
  app.get('/ui/account', { schema: hide }, async (request, reply) => {
    const p = await signedIn(request);
    if (!p) return reply.header('cache-control', 'no-store').redirect('/ui/login?next=%2Fui%2Faccount', 303);
    return render(request, reply, p);
  });

  app.post('/ui/account/password', { schema: hide, config: limit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return expired(reply);
    const p = await signedIn(request);
    if (!p) return signedOut(reply);
    const current = field(request.body, 'current');
    const next = field(request.body, 'password');
    if (!current || current.length > 1024 || !next) return render(request, reply, p, { error: 'Enter your current and your new password.', status: 400 });
    if (next !== field(request.body, 'confirm')) return render(request, reply, p, { error: 'The two new passwords differ.', status: 400 });
    const origin = { requestId: request.id, clientAddress: request.ip };
    const result = await changeOwnPassword(
      app.db.prisma,
      argon2,
      { tenantId: p.tenantId, userId: p.subjectId, sessionId: p.credentialId },
      current,
      next,
      origin,
    );
    // Other sessions ended (or a wrong password locked the account): caches forget them before this answer.
    request.settleInvalidations = true;
    if (result.ok) return render(request, reply, p, { notice: 'Your password is changed. Your other sessions are signed out.' });
    const errors = {
      wrong_password: 'The current password is not correct.',
      no_password: 'This account signs in without a password here; it has none to change.',
      same_password: 'The new password must differ from the current one.',
      policy: `The new password ${'violations' in result ? result.violations.join('; ') : ''}.`,
    };
    // A wrong current password may have locked the account, which ends this session too.
    if (!(await signedIn(request))) return signedOut(reply);
    return render(request, reply, p, { error: errors[result.reason], status: 400 });
  });

  app.post('/ui/account/profile', { schema: hide, config: limit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return expired(reply);
    const p = await signedIn(request);
    if (!p) return signedOut(reply);
    const body = request.body as Record<string, unknown> | undefined;
    const origin = { requestId: request.id, clientAddress: request.ip };
    const result = await changeOwnName(
      app.db.prisma,
      { tenantId: p.tenantId, userId: p.subjectId },
      { firstName: body?.firstName, lastName: body?.lastName },
      origin,
    );
    if (result.ok) return render(request, reply, p, { notice: 'Your name is saved.' });
    if (result.reason === 'gone') return signedOut(reply);
    return render(request, reply, p, { error: 'Enter a first and a last name of at most 200 characters each.', profileError: true, status: 400 });
  });

  app.post('/ui/account/sessions/revoke', { schema: hide, config: limit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return expired(reply);
    const p = await signedIn(request);
    if (!p) return signedOut(reply);
    const which = field(request.body, 'session');
    if (which !== 'others' && (!isUuid(which) || which === p.credentialId)) {
      return render(request, reply, p, { error: 'Choose one of your other sessions to sign out.', status: 400 });
    }
    const origin = { requestId: request.id, clientAddress: request.ip };
    const ended = await app.db.prisma.$transaction((tx) =>
      endUserSessions(
        tx,
        p,
        {
          tenantId: p.tenantId,
          userId: p.subjectId,
          ...(which === 'others' ? { exceptId: p.credentialId } : { sessionId: which }),
          reason: 'signed_out_by_user',
        },
        origin,
      ),
    );
    request.settleInvalidations = true;
    if (!ended.length) return render(request, reply, p, { error: 'That session has already ended.', status: 404 });
    return render(request, reply, p, { notice: ended.length === 1 ? 'The session is signed out.' : `${ended.length} sessions are signed out.` });
  });
}
