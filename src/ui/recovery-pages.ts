import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PasswordPolicy } from '../users/password-policy.js';
import { csrfToken } from './csrf.js';
import { describedBy, errorBox, hidden, html, sendPage } from './layout.js';
import { type LoginPageContext } from './pages.js';

// The pages of password recovery: asking for a reset link, and choosing a password from a link.

/** The answer to every reset request, whether or not the account exists. */
export const RESET_REQUESTED =
  'If an account with this email or username exists and can reset its password, we sent a link to its email address. The link works once and expires soon.';

export function forgotPage(request: FastifyRequest, reply: FastifyReply, c: LoginPageContext & { login?: string; error?: string; status?: number }) {
  return sendPage(
    reply,
    { title: 'Reset your password', status: c.status },
    html`
<h1>Reset your password</h1>
${errorBox(c.error)}
<p class="muted" id="forgot-help">Enter the email address or username of your ${c.tenantName} account. We will mail you a link to choose a new password.</p>
<form method="post" action="/ui/login/forgot">
${hidden('csrf', csrfToken(request, reply))}
${hidden('r', c.r)}
<label for="login">Email or username</label>
<input id="login" name="login" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="${c.login ?? ''}"${describedBy(c.error, 'forgot-help')}>
<button type="submit">Send reset link</button>
</form>
<form method="get" action="/ui/login">
${hidden('r', c.r)}
<button type="submit" class="secondary">Back to sign-in</button>
</form>`,
  );
}

export function resetRequestedPage(reply: FastifyReply, c: LoginPageContext) {
  return sendPage(
    reply,
    { title: 'Check your mail' },
    html`
<h1>Check your mail</h1>
<p class="notice" role="status">${RESET_REQUESTED}</p>
<form method="get" action="/ui/login">
${hidden('r', c.r)}
<button type="submit" class="secondary">Back to sign-in</button>
</form>`,
  );
}

/** The tenant's password rules as the user reads them before choosing one. */
export function passwordRules(policy: PasswordPolicy) {
  const rules = [`at least ${policy.minLength} characters`];
  if (policy.requireUpper) rules.push('an upper-case letter');
  if (policy.requireLower) rules.push('a lower-case letter');
  if (policy.requireDigit) rules.push('a digit');
  if (policy.requireSymbol) rules.push('a symbol');
  return html`<p class="muted" id="password-rules-intro">The password needs:</p>
<ul class="rules" id="password-rules">${rules.map((r) => html`<li>${r}</li>`)}</ul>`;
}

/** The form of a set-password link (invitation or reset). */
export function setPasswordPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: { token: string; reset: boolean; username: string; policy: PasswordPolicy; error?: string; status?: number },
) {
  const title = c.reset ? 'Choose a new password' : 'Choose your password';
  return sendPage(
    reply,
    { title, status: c.status },
    html`
<h1>${title}</h1>
${errorBox(c.error)}
<p class="muted">Account: ${c.username}</p>
${passwordRules(c.policy)}
<form method="post" action="/ui/set-password">
${hidden('csrf', csrfToken(request, reply))}
${hidden('token', c.token)}
<input type="text" name="username" autocomplete="username" value="${c.username}" hidden>
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required autofocus${describedBy(c.error, 'password-rules')}>
<label for="confirm">Repeat the password</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" required${describedBy(c.error)}>
<button type="submit">Set password</button>
</form>`,
  );
}
