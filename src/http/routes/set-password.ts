import type { FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import { argon2Params } from '../../platform/passwords.js';
import { consumeSetPasswordToken, inspectSetPasswordToken, type ConsumeRefusal, type TokenPurpose } from '../../users/invitations.js';
import { csrfValid } from '../../ui/csrf.js';
import { messagePage } from '../../ui/pages.js';
import { setPasswordPage } from '../../ui/recovery-pages.js';
import { registerRateLimits } from '../rate-limit.js';
import { brandPages } from '../../ui/page-brand.js';

const hide = { hide: true };

// What the holder of a link sees. "Invalid" and "used" read alike so a link reveals nothing
// more; the way out names what exists: an administrator can resend an invitation
// (POST /api/v3/users/{id}/invitation), and anyone can ask for a new reset link.
const NEW_INVITATION = 'Ask your administrator to send you a new invitation.';
const NEW_RESET = 'Use "Forgot password?" on the sign-in page to get a new link, or ask your administrator to send you one.';
function refusal(reason: Exclude<ConsumeRefusal, 'policy'>, purpose: TokenPurpose | undefined): string {
  const again = purpose === 'reset' ? NEW_RESET : NEW_INVITATION;
  switch (reason) {
    case 'expired':
      return `This link has expired. ${again}`;
    case 'used':
    case 'invalid':
      return `This link is not valid: it was already used, replaced by a newer one, or mistyped. ${again}`;
    case 'user_disabled':
      return 'This account cannot sign in. Contact your administrator.';
    case 'tenant_disabled':
      return 'This organisation cannot sign in.';
  }
}

const field = (body: unknown, name: string) => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};

/** The link of the set-password page for a one-time token (invitations, password resets). */
export const setPasswordUrl = (publicUrl: string, token: string) => `${publicUrl}/ui/set-password?token=${encodeURIComponent(token)}`;

/** The page behind an invitation or password-reset link. */
export default async function setPasswordRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  // Per client address: tokens carry 256 bits, this keeps guessing (and argon2 work) bounded.
  const limit = { rateLimit: { max: app.config.RATE_LIMIT_LOGIN, timeWindow: 60_000 } };

  // The link's state is checked before the form shows: an expired or used link says so at once.
  app.get('/ui/set-password', { schema: hide, config: limit }, async (request, reply) => {
    const token = (request.query as Record<string, unknown>).token;
    const state = await inspectSetPasswordToken(app.db.prisma, token);
    if (state.ok) await brandPages(request, state.tenantId);
    if (!state.ok) return messagePage(reply, 'Cannot set a password', refusal(state.reason, state.purpose), 400);
    return setPasswordPage(request, reply, { token: token as string, reset: state.purpose === 'reset', username: state.username, policy: state.policy });
  });

  app.post('/ui/set-password', { schema: hide, config: limit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) {
      return messagePage(reply, 'Form expired', 'The form expired or was not sent by this site. Go back, reload the page and try again.', 403);
    }
    const token = field(request.body, 'token');
    const password = field(request.body, 'password');
    const state = await inspectSetPasswordToken(app.db.prisma, token);
    if (state.ok) await brandPages(request, state.tenantId);
    if (!state.ok) return messagePage(reply, 'Cannot set a password', refusal(state.reason, state.purpose), 400);
    const again = (error: string) =>
      setPasswordPage(request, reply, { token, reset: state.purpose === 'reset', username: state.username, policy: state.policy, error, status: 400 });
    if (password !== field(request.body, 'confirm')) return again('The two passwords differ.');
    const origin = { requestId: request.id, clientAddress: request.ip };
    const result = await consumeSetPasswordToken(app.db.prisma, token, password, argon2Params(app.config), new Date(), origin);
    if (result.ok) {
      // A reset ended the user's sessions: their cached verifications must be gone before this answer.
      request.settleInvalidations = true;
      const done = result.purpose === 'reset' ? 'Your password is changed and your other sessions are signed out.' : 'Your password is set.';
      return messagePage(reply, 'Password set', `${done} Return to your application and sign in.`);
    }
    if (result.reason === 'policy') return again(`The password ${result.violations?.join('; ')}.`);
    return messagePage(reply, 'Cannot set a password', refusal(result.reason, result.purpose), 400);
  });
}
