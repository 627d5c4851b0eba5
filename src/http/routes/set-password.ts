import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { argon2Params } from '../../platform/passwords.js';
import { consumeSetPasswordToken } from '../../users/invitations.js';
import { csrfToken, csrfValid } from '../../ui/csrf.js';
import { errorBox, hidden, html, sendPage } from '../../ui/layout.js';
import { messagePage } from '../../ui/pages.js';
import { registerRateLimits } from '../rate-limit.js';

const hide = { hide: true };

// What an invited user sees; "invalid" and "used" read alike so a link reveals nothing more.
const REFUSALS: Record<string, string> = {
  invalid: 'This link is not valid. Ask your administrator for a new invitation.',
  used: 'This link is not valid. Ask your administrator for a new invitation.',
  expired: 'This link has expired. Ask your administrator for a new invitation.',
  user_disabled: 'This account cannot sign in. Contact your administrator.',
  tenant_disabled: 'This organisation cannot sign in.',
};

function form(request: FastifyRequest, reply: FastifyReply, token: string, error?: string, status = 200) {
  return sendPage(
    reply,
    { title: 'Choose your password', status },
    html`
<h1>Choose your password</h1>
${errorBox(error)}
<form method="post" action="/ui/set-password">
${hidden('csrf', csrfToken(request, reply))}
${hidden('token', token)}
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required autofocus>
<label for="confirm">Repeat the password</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
<button type="submit">Set password</button>
</form>`,
  );
}

const field = (body: unknown, name: string) => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};

/** The page behind the invitation link of a user created without a password. */
/** The link of the set-password page for a one-time token (invitations, password resets). */
export const setPasswordUrl = (publicUrl: string, token: string) => `${publicUrl}/ui/set-password?token=${encodeURIComponent(token)}`;

export default async function setPasswordRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  const limit = { rateLimit: { max: app.config.RATE_LIMIT_LOGIN, timeWindow: 60_000 } };

  app.get('/ui/set-password', { schema: hide, config: limit }, async (request, reply) => {
    const token = (request.query as Record<string, unknown>).token;
    if (typeof token !== 'string' || !token) return messagePage(reply, 'Cannot set a password', REFUSALS.invalid!, 400);
    return form(request, reply, token);
  });

  app.post('/ui/set-password', { schema: hide, config: limit }, async (request, reply) => {
    if (!csrfValid(request, field(request.body, 'csrf'))) {
      return messagePage(reply, 'Form expired', 'The form expired or was not sent by this site. Go back, reload the page and try again.', 403);
    }
    const token = field(request.body, 'token');
    const password = field(request.body, 'password');
    if (password !== field(request.body, 'confirm')) return form(request, reply, token, 'The two passwords differ.', 400);
    const result = await consumeSetPasswordToken(app.db.prisma, token, password, argon2Params(app.config));
    if (result.ok) return messagePage(reply, 'Password set', 'Your password is set. Return to your application and sign in.');
    if (result.reason === 'policy') return form(request, reply, token, `The password ${result.violations?.join('; ')}.`, 400);
    return messagePage(reply, 'Cannot set a password', REFUSALS[result.reason] ?? REFUSALS.invalid!, 400);
  });
}
