import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Ceremony } from '../users/passkeys.js';
import { csrfToken } from './csrf.js';
import { describedBy, errorBox, hidden, html, raw, sendPage } from './layout.js';
import { passkeyForm } from './passkey-pages.js';

// The hosted login's pages. `r` is the sealed authorization request, carried from page to page.

export interface LoginPageContext {
  tenantName: string;
  /** The tenant whose branding the page shows. */
  tenantId?: string;
  r?: string;
  /** Origins the forms' POSTs may redirect to (the client's redirect URI). */
  formTargets?: string[];
  /** A hosted page to return to after a plain sign-in (the account page). */
  next?: string;
  /** Whether the "Forgot password?" link shows (the tenant's login policy may hide it). */
  passwordReset?: boolean;
}

/** The "Forgot password?" link, carrying the authorization request and the name typed so far. */
function forgotLink(c: LoginPageContext, login?: string) {
  if (!c.passwordReset) return raw('');
  const q = new URLSearchParams();
  if (c.r) q.set('r', c.r);
  if (login) q.set('login', login);
  const qs = q.toString();
  return html`<p class="links"><a href="/ui/login/forgot${qs ? '?' + qs : ''}">Forgot password?</a></p>`;
}

/** The login name the tenant's policy accepts: the username alone when it disables login with email. */
export type LoginNameKind = 'email' | 'username';

export function emailPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: LoginPageContext & { email?: string; error?: string; status?: number; loginName?: LoginNameKind; passkey?: Ceremony<unknown> },
) {
  const byUsername = c.loginName === 'username';
  const csrf = csrfToken(request, reply);
  // Passwordless: the authenticator offers its discoverable passkeys, so no name is typed.
  const passkey = c.passkey
    ? html`<p class="or">or</p>
${passkeyForm(csrf, { action: '/ui/login/passkey', kind: 'authenticate', ceremony: c.passkey, fields: { r: c.r, next: c.next }, label: 'Sign in with a passkey', id: 'passkey-login', secondary: true })}`
    : raw('');
  return sendPage(
    reply,
    {
      title: `Sign in to ${c.tenantName}`,
      formTargets: c.formTargets,
      status: c.status,
      passkeys: Boolean(c.passkey),
    },
    html`
<h1>Sign in to ${c.tenantName}</h1>
${errorBox(c.error)}
<form method="post" action="/ui/login">
${hidden('csrf', csrf)}
${hidden('r', c.r)}
${hidden('next', c.next)}
<label for="email">${byUsername ? 'Username' : 'Email or username'}</label>
<input id="email" name="email" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="${c.email ?? ''}"${describedBy(c.error)}>
<button type="submit">Continue</button>
</form>
${passkey}
${forgotLink(c)}`,
  );
}

export function passwordPage(request: FastifyRequest, reply: FastifyReply, c: LoginPageContext & { email: string; error?: string; status?: number }) {
  return sendPage(
    reply,
    { title: `Sign in to ${c.tenantName}`, formTargets: c.formTargets, status: c.status },
    html`
<h1>Sign in to ${c.tenantName}</h1>
${errorBox(c.error)}
<p class="muted">${c.email}</p>
<form method="post" action="/ui/login/password">
${hidden('csrf', csrfToken(request, reply))}
${hidden('r', c.r)}
${hidden('next', c.next)}
${hidden('email', c.email)}
<input type="text" name="username" autocomplete="username" value="${c.email}" hidden>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus${describedBy(c.error)}>
<button type="submit">Sign in</button>
</form>
${forgotLink(c, c.email)}
<form method="get" action="/ui/login">
${hidden('r', c.r)}
${hidden('next', c.next)}
<button type="submit" class="secondary">Use another account</button>
</form>`,
  );
}

export function termsPage(request: FastifyRequest, reply: FastifyReply, c: LoginPageContext & { pending: string; termsText: string; error?: string }) {
  return sendPage(
    reply,
    { title: 'Terms of use', formTargets: c.formTargets },
    html`
<h1>Terms of use</h1>
${errorBox(c.error)}
<div class="terms">${c.termsText}</div>
<form method="post" action="/ui/login/terms">
${hidden('csrf', csrfToken(request, reply))}
${hidden('pending', c.pending)}
<label><input type="checkbox" name="accept" value="yes" required> I accept the terms of use of ${c.tenantName}</label>
<button type="submit">Continue</button>
</form>`,
  );
}

/**
 * Sends the browser on to another site after a form POST. A redirect would be checked
 * against the page's CSP form-action (which names only this site and the client), so the
 * page navigates by meta refresh, with a link as fallback; no script is needed.
 */
export function continuePage(reply: FastifyReply, target: string) {
  const page = sendPage(
    reply,
    { title: 'Redirecting', refreshTo: target },
    html`<h1>Redirecting</h1>
<p>Continuing to your organisation&#39;s sign-in page&hellip;</p>
<p><a href="${target}">Continue</a></p>`,
  );
  return page;
}

/** The answer to a form whose CSRF token does not check out. */
/** The last-factor rule's refusal (src/users/last-factor.ts), as the account pages say it. */
export const LAST_FACTOR_MESSAGE =
  'Your organisation requires a second factor, and this is your last one. Add another passkey or an authenticator app first, then remove this one.';

export const refuseForm = (reply: FastifyReply) =>
  messagePage(reply, 'Form expired', 'The form expired or was not sent by this site. Go back, reload the page and try again.', 403);

export function messagePage(reply: FastifyReply, title: string, message: string, status = 200) {
  return sendPage(reply, { title, status }, html`<h1>${title}</h1><p>${message}</p>`);
}
