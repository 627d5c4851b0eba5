import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { checkPassword } from '../../oauth/login.js';
import {
  beginTotpEnrolment,
  confirmTotpEnrolment,
  regenerateRecoveryCodes,
  removeOwnTotp,
  totpState,
  unusedRecoveryCodes,
  verifySecondFactor,
} from '../../users/totp.js';
import { accountTotpPage } from '../../ui/account-totp-page.js';
import { csrfValid } from '../../ui/csrf.js';
import { LAST_FACTOR_MESSAGE, refuseForm } from '../../ui/pages.js';
import { enrolPage, recoveryCodesPage } from '../../ui/second-factor-pages.js';
import { mfaDeps } from '../login-flow.js';
import { accountUserOf } from '../session-cookie.js';
import { registerRateLimits } from '../rate-limit.js';

// The signed-in user's own TOTP, with the browser session: set up, remove, new recovery
// codes. Removing or renewing needs the current password or a current code, so that a
// browser left signed in is not enough to take the second factor away.

const hide = { hide: true };
const field = (body: unknown, name: string): string => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};

export default async function accountTotpRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  const limit = { rateLimit: { max: app.config.RATE_LIMIT_LOGIN, timeWindow: 60_000 } };
  const { prisma } = app.db;

  async function show(
    request: FastifyRequest,
    reply: FastifyReply,
    u: { tenantId: string; userId: string },
    extra: { notice?: string; error?: string; status?: number } = {},
  ) {
    const enabled = (await totpState(prisma, u.tenantId, u.userId)) === 'confirmed';
    return accountTotpPage(request, reply, { enabled, unusedCodes: enabled ? await unusedRecoveryCodes(prisma, u.tenantId, u.userId) : 0, ...extra });
  }

  /** The password or a code proves the user is at the keyboard; both go through the login throttle. */
  async function proven(request: FastifyRequest, u: { tenantId: string; userId: string; username: string }): Promise<boolean> {
    const password = field(request.body, 'password');
    const code = field(request.body, 'code').trim();
    if (password && password.length <= 1024) {
      const r = await checkPassword(prisma, app.config, u.tenantId, u.username, password, request.ip, request.id);
      if (!r.ok && r.lockedNow) request.settleInvalidations = true;
      return r.ok && r.userId === u.userId;
    }
    if (code) {
      const r = await verifySecondFactor(mfaDeps(request), { tenantId: u.tenantId, userId: u.userId, code, clientIp: request.ip }, 'account');
      if (!r.ok && r.lockedNow) request.settleInvalidations = true;
      return r.ok;
    }
    return false;
  }

  app.get('/ui/account/totp', { schema: hide }, async (request, reply) => {
    const u = await accountUserOf(request, reply);
    return u ? show(request, reply, u) : reply;
  });

  app.post('/ui/account/totp/enrol', { schema: hide, config: limit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const u = await accountUserOf(request, reply);
    if (!u) return reply;
    const enrolment = await beginTotpEnrolment(mfaDeps(request), u.tenantId, u.userId);
    if (!enrolment) return show(request, reply, u, { error: 'Two-factor authentication is already on.', status: 409 });
    return enrolPage(request, reply, { intro: 'Add a second factor to your account.', action: '/ui/account/totp/confirm', fields: {}, enrolment });
  });

  app.post('/ui/account/totp/confirm', { schema: hide, config: limit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) return refuseForm(reply);
    const u = await accountUserOf(request, reply);
    if (!u) return reply;
    const check = await confirmTotpEnrolment(mfaDeps(request), {
      tenantId: u.tenantId,
      userId: u.userId,
      code: field(request.body, 'code').trim(),
      clientIp: request.ip,
    });
    if (!check.ok) {
      if (check.lockedNow) request.settleInvalidations = true;
      const enrolment = await beginTotpEnrolment(mfaDeps(request), u.tenantId, u.userId);
      if (!enrolment) return show(request, reply, u, { error: 'Two-factor authentication is already on.', status: 409 });
      return enrolPage(request, reply, {
        intro: 'Add a second factor to your account.',
        action: '/ui/account/totp/confirm',
        fields: {},
        enrolment,
        error: 'That code is not valid. Enter the current code from your authenticator app.',
        status: 401,
      });
    }
    return recoveryCodesPage(request, reply, {
      codes: check.recoveryCodes ?? [],
      next: { action: '/ui/account/totp', method: 'get', fields: {}, label: 'Done' },
    });
  });

  /**
   * Renewing the codes and removing TOTP both need: a form of this site, a session, TOTP on,
   * and the password or a code proven again. The user, or undefined once the refusal is sent.
   */
  async function reproven(request: FastifyRequest, reply: FastifyReply) {
    if (!csrfValid(request, field(request.body, 'csrf'))) return void (await refuseForm(reply));
    const u = await accountUserOf(request, reply);
    if (!u) return undefined;
    if ((await totpState(prisma, u.tenantId, u.userId)) !== 'confirmed')
      return void (await show(request, reply, u, { error: 'Two-factor authentication is off.', status: 409 }));
    if (!(await proven(request, u))) return void (await show(request, reply, u, { error: 'The password or code is not valid.', status: 401 }));
    return u;
  }

  app.post('/ui/account/totp/recovery-codes', { schema: hide, config: limit }, async (request, reply) => {
    const u = await reproven(request, reply);
    if (!u) return reply;
    const codes = await regenerateRecoveryCodes(mfaDeps(request), u.tenantId, u.userId);
    return recoveryCodesPage(request, reply, { codes, next: { action: '/ui/account/totp', method: 'get', fields: {}, label: 'Done' } });
  });

  app.post('/ui/account/totp/remove', { schema: hide, config: limit }, async (request, reply) => {
    const u = await reproven(request, reply);
    if (!u) return reply;
    if ((await removeOwnTotp(mfaDeps(request), u.tenantId, u.userId)) === 'last-factor')
      return show(request, reply, u, { error: LAST_FACTOR_MESSAGE, status: 409 });
    return show(request, reply, u, { notice: 'The authenticator app was removed. Two-factor authentication is off.' });
  });
}
