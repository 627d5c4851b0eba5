import type { FastifyReply, FastifyRequest } from 'fastify';
import { csrfToken } from './csrf.js';
import { describedBy, errorBox, hidden, html, sendPage } from './layout.js';

// The pages of the device authorization (RFC 8628): enter the code a device shows, then see
// which application asks for what, and approve or deny it.

// What each scope lets the application see or do, in words the user can judge.
const SCOPE_WORDS: Record<string, string> = {
  openid: 'Know who you are (your user id)',
  profile: 'Your name and username',
  email: 'Your email address',
  offline_access: 'Stay connected while you are away (refresh tokens)',
  groups: 'The groups you belong to',
  'urn:zitadel:iam:org:projects:roles': 'Your roles',
  'urn:zitadel:iam:user:metadata': 'Your user metadata',
};

export function deviceCodePage(request: FastifyRequest, reply: FastifyReply, c: { code?: string; error?: string; status?: number }) {
  return sendPage(
    reply,
    { title: 'Connect a device', status: c.status },
    html`
<h1>Connect a device</h1>
${errorBox(c.error)}
<form method="post" action="/ui/device">
${hidden('csrf', csrfToken(request, reply))}
<label for="user_code">Code shown on your device</label>
<input id="user_code" name="user_code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus maxlength="32" placeholder="XXXX-XXXX" value="${c.code ?? ''}"${describedBy(c.error, 'code-help')}>
<p class="muted" id="code-help">Eight letters, as your device shows them; the dash is optional.</p>
<button type="submit">Continue</button>
</form>`,
  );
}

export function deviceConfirmPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: { tenantName: string; applicationName: string; username: string; scope: string; userCode: string },
) {
  const scopes = c.scope.split(' ').filter(Boolean);
  return sendPage(
    reply,
    { title: `Connect ${c.applicationName}` },
    html`
<h1>Connect ${c.applicationName}?</h1>
<p><strong>${c.applicationName}</strong> asks to use your account <strong>${c.username}</strong> at ${c.tenantName}.</p>
<p>Make sure your device shows the code <strong id="device-code">${c.userCode}</strong>. If you did not start this on a device of your own, deny it.</p>
${
  scopes.length
    ? html`<h2 id="scopes-heading">It will have access to</h2>
<ul aria-labelledby="scopes-heading">${scopes.map((s) => html`<li>${SCOPE_WORDS[s] ?? s}</li>`)}</ul>`
    : html`<p>It asks for no information about you beyond access to your account.</p>`
}
<form method="post" action="/ui/device/decision">
${hidden('csrf', csrfToken(request, reply))}
${hidden('user_code', c.userCode)}
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
  );
}
