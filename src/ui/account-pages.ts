import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SessionSummary } from '../sessions/manage.js';
import type { PasswordPolicy } from '../users/password-policy.js';
import { csrfToken } from './csrf.js';
import { describedBy, errorBox, hidden, html, raw, sendPage } from './layout.js';
import { passwordRules } from './recovery-pages.js';

// The hosted account page: what a signed-in user sees and does about its own account.

export interface AccountView {
  tenantId: string;
  tenantName: string;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  currentSessionId: string;
  sessions: SessionSummary[];
  policy: PasswordPolicy;
  /** What the last form did, or why it failed. */
  notice?: string;
  error?: string;
  /** The error is about the profile form, whose inputs it describes (the password inputs then stay unmarked). */
  profileError?: boolean;
  status?: number;
}

const when = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

function sessionRow(csrf: string, s: SessionSummary, current: boolean) {
  return html`<tr>
<td>${s.userAgent ?? 'Unknown browser'}${current ? html` <strong>(this browser)</strong>` : ''}<br><span class="muted">${s.clientAddress ?? ''}</span></td>
<td>${when(s.createdAt)}</td>
<td>${when(s.lastSeenAt)}</td>
<td>${s.amr.join(', ')}</td>
<td>${
    current
      ? ''
      : html`<form method="post" action="/ui/account/sessions/revoke">
${hidden('csrf', csrf)}
${hidden('session', s.id)}
<button type="submit" class="secondary inline" aria-label="Sign out the session started ${when(s.createdAt)}">Sign out</button>
</form>`
  }</td>
</tr>`;
}

export function accountPage(request: FastifyRequest, reply: FastifyReply, v: AccountView) {
  const csrf = csrfToken(request, reply);
  const others = v.sessions.filter((s) => s.id !== v.currentSessionId).length;
  return sendPage(
    reply,
    { title: `Your account at ${v.tenantName}`, status: v.status, wide: true },
    html`
<h1>Your account at ${v.tenantName}</h1>
${errorBox(v.error)}
${v.notice ? html`<p class="notice" role="status">${v.notice}</p>` : raw('')}
<h2 id="profile-heading">Profile</h2>
<form method="post" action="/ui/account/profile" aria-labelledby="profile-heading">
${hidden('csrf', csrf)}
<label for="first-name">First name</label>
<input id="first-name" name="firstName" type="text" autocomplete="given-name" maxlength="200" value="${v.firstName}"${describedBy(v.profileError ? v.error : undefined)}>
<label for="last-name">Last name</label>
<input id="last-name" name="lastName" type="text" autocomplete="family-name" maxlength="200" value="${v.lastName}"${describedBy(v.profileError ? v.error : undefined)}>
<button type="submit">Save name</button>
</form>
<dl>
<dt>Username</dt><dd>${v.username}</dd>
<dt>Email</dt><dd>${v.email}</dd>
</dl>
<p class="muted" id="admin-managed">Your administrator manages your username and email address.</p>

<h2>Sign-in methods</h2>
<p><a href="/ui/account/totp">Authenticator app (one-time codes)</a></p>
<p><a href="/ui/account/passkeys">Passkeys</a></p>

<h2 id="password-heading">Change password</h2>
${passwordRules(v.policy)}
<form method="post" action="/ui/account/password" aria-labelledby="password-heading">
${hidden('csrf', csrf)}
<input type="text" name="username" autocomplete="username" value="${v.username}" hidden>
<label for="current">Current password</label>
<input id="current" name="current" type="password" autocomplete="current-password" required${describedBy(v.profileError ? undefined : v.error)}>
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required${describedBy(v.profileError ? undefined : v.error, 'password-rules')}>
<label for="confirm">Repeat the new password</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
<button type="submit">Change password</button>
</form>
<p class="muted">Changing your password signs out your other sessions.</p>

<h2>Sessions</h2>
<table>
<thead><tr><th scope="col">Browser</th><th scope="col">Signed in</th><th scope="col">Last seen</th><th scope="col">Methods</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>
${v.sessions.map((s) => sessionRow(csrf, s, s.id === v.currentSessionId))}
</tbody>
</table>
${
  others
    ? html`<form method="post" action="/ui/account/sessions/revoke">
${hidden('csrf', csrf)}
${hidden('session', 'others')}
<button type="submit" class="secondary">Sign out all other sessions (${others})</button>
</form>`
    : raw('')
}`,
  );
}
