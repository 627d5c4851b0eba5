import type { FastifyReply, FastifyRequest } from 'fastify';
import { csrfToken } from './csrf.js';
import { errorBox, hidden, html, sendPage } from './layout.js';

/** The signed-in user's TOTP settings at /ui/account/totp: set up, or remove and renew the recovery codes. */
export function accountTotpPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: { enabled: boolean; unusedCodes: number; notice?: string; error?: string; status?: number },
) {
  const csrf = hidden('csrf', csrfToken(request, reply));
  const proof = (id: string) => html`
<label for="${id}-password">Current password</label>
<input id="${id}-password" name="password" type="password" autocomplete="current-password">
<label for="${id}-code">or a code from your app (or a recovery code)</label>
<input id="${id}-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="64">`;
  const body = c.enabled
    ? html`
<p id="totp-status">Two-factor authentication is on. You have ${c.unusedCodes} unused recovery code${c.unusedCodes === 1 ? '' : 's'}.</p>
<h2>New recovery codes</h2>
<form method="post" action="/ui/account/totp/recovery-codes">
${csrf}
${proof('renew')}
<button type="submit">Generate new recovery codes</button>
</form>
<h2>Turn off</h2>
<form method="post" action="/ui/account/totp/remove">
${csrf}
${proof('remove')}
<button type="submit" class="secondary">Remove the authenticator app</button>
</form>`
    : html`
<p id="totp-status">Two-factor authentication is off. With it on, signing in also asks for a code from an authenticator app.</p>
<form method="post" action="/ui/account/totp/enrol">
${csrf}
<button type="submit">Set up an authenticator app</button>
</form>`;
  return sendPage(
    reply,
    { title: 'Two-factor authentication', status: c.status },
    html`
<h1>Two-factor authentication</h1>
${errorBox(c.error)}
${c.notice ? html`<p role="status">${c.notice}</p>` : ''}
${body}`,
  );
}
