import type { FastifyReply, FastifyRequest } from 'fastify';
import { csrfToken } from './csrf.js';
import { errorBox, hidden, html, sendPage } from './layout.js';

// The hosted login's pages. `r` is the sealed authorization request, carried from page to page.

export interface LoginPageContext {
  tenantName: string;
  r?: string;
  /** Origins the forms' POSTs may redirect to (the client's redirect URI). */
  formTargets?: string[];
}

/** The login name the tenant's policy accepts: the username alone when it disables login with email. */
export type LoginNameKind = 'email' | 'username';

export function emailPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: LoginPageContext & { email?: string; error?: string; status?: number; loginName?: LoginNameKind },
) {
  const byUsername = c.loginName === 'username';
  return sendPage(
    reply,
    { title: `Sign in to ${c.tenantName}`, formTargets: c.formTargets, status: c.status },
    html`
<h1>Sign in to ${c.tenantName}</h1>
${errorBox(c.error)}
<form method="post" action="/ui/login">
${hidden('csrf', csrfToken(request, reply))}
${hidden('r', c.r)}
<label for="email">${byUsername ? 'Username' : 'Email'}</label>
<input id="email" name="email" type="${byUsername ? 'text' : 'email'}" autocomplete="username" required autofocus value="${c.email ?? ''}">
<button type="submit">Continue</button>
</form>`,
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
${hidden('email', c.email)}
<input type="email" name="username" autocomplete="username" value="${c.email}" hidden>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
<form method="get" action="/ui/login">
${hidden('r', c.r)}
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

export function messagePage(reply: FastifyReply, title: string, message: string, status = 200) {
  return sendPage(reply, { title, status }, html`<h1>${title}</h1><p>${message}</p>`);
}
