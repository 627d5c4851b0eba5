import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Ceremony } from '../users/passkeys.js';
import { csrfToken } from './csrf.js';
import { describedBy, errorBox, hidden, html, raw, sendPage, type Raw } from './layout.js';
import { passkeyForm, skipForm } from './passkey-pages.js';

// The hosted pages of the second factor: the code step of a login, TOTP enrolment (at login
// or from the account page) and the recovery codes, shown once.

interface Common {
  formTargets?: string[];
  error?: string;
  status?: number;
}

/** The code input, marked invalid and described by the page's error after a wrong code. */
const codeInput = (error: string | undefined) =>
  html`<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="64" required autofocus${describedBy(error)}>`;

/**
 * The second-factor step of a login or a step-up: a passkey (when the user has one the
 * policy allows), a TOTP code, or a recovery code.
 */
export function secondFactorPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: Common & { tenantName: string; pending: string; stepUp?: boolean; otp?: boolean; passkey?: Ceremony<unknown> },
) {
  const csrf = csrfToken(request, reply);
  const otp = c.otp ?? true;
  const passkey = c.passkey
    ? html`<p>Use your passkey for ${c.tenantName}.</p>
${passkeyForm(csrf, { action: '/ui/login/second-factor/passkey', kind: 'authenticate', ceremony: c.passkey, fields: { pending: c.pending }, label: 'Use a passkey', id: 'passkey-form' })}`
    : raw('');
  const code = otp
    ? html`${c.passkey ? html`<p class="or">or</p>` : ''}
<p>Enter the 6-digit code from your authenticator app for ${c.tenantName}, or one of your recovery codes.</p>
<form method="post" action="/ui/login/second-factor">
${hidden('csrf', csrf)}
${hidden('pending', c.pending)}
<label for="code">Code</label>
${codeInput(c.error)}
<button type="submit">Verify</button>
</form>`
    : raw('');
  return sendPage(
    reply,
    { title: 'Two-factor authentication', formTargets: c.formTargets, status: c.status, passkeys: Boolean(c.passkey) },
    html`
<h1>Two-factor authentication</h1>
${errorBox(c.error)}
${c.stepUp ? html`<p>This application asks you to confirm it is you.</p>` : ''}
${passkey}
${code}`,
  );
}

export interface EnrolmentView {
  secret: string;
  uri: string;
  qrCode: string;
}

/** TOTP enrolment: the QR code, the secret for typing, and the confirming code. */
export function enrolPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: Common & { intro: string; action: string; fields: Record<string, string>; enrolment: EnrolmentView; skip?: string },
) {
  const fields: Raw[] = Object.entries(c.fields).map(([k, v]) => hidden(k, v));
  return sendPage(
    reply,
    { title: 'Set up two-factor authentication', formTargets: c.formTargets, status: c.status },
    html`
<h1>Set up two-factor authentication</h1>
${errorBox(c.error)}
<p>${c.intro}</p>
<p>Scan this code with an authenticator app (such as FreeOTP, Aegis or Google Authenticator), then enter the 6-digit code it shows.</p>
<img class="qr" src="${c.enrolment.qrCode}" alt="QR code of the authenticator setup link" width="220" height="220">
<p class="muted">Cannot scan? Enter this key: <code class="secret" id="totp-secret">${c.enrolment.secret}</code></p>
<form method="post" action="${c.action}">
${hidden('csrf', csrfToken(request, reply))}
${fields}
<label for="code">Code from the app</label>
${codeInput(c.error)}
<button type="submit">Turn on</button>
</form>
${c.skip ? skipForm(request, reply, c.skip) : ''}`,
  );
}

/** The recovery codes, once; `next` is the form that continues (the login, or back to the account page). */
export function recoveryCodesPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: Common & { codes: string[]; next: { action: string; method: 'get' | 'post'; fields: Record<string, string>; label: string } },
) {
  const fields: Raw[] = Object.entries(c.next.fields).map(([k, v]) => hidden(k, v));
  return sendPage(
    reply,
    { title: 'Recovery codes', formTargets: c.formTargets },
    html`
<h1>Recovery codes</h1>
<p>Keep these codes somewhere safe. Each one signs you in once if you lose your authenticator. They are shown only now.</p>
<ul class="codes" id="recovery-codes">${c.codes.map((code) => html`<li>${code}</li>`)}</ul>
<form method="${c.next.method}" action="${c.next.action}">
${c.next.method === 'post' ? hidden('csrf', csrfToken(request, reply)) : ''}
${fields}
<button type="submit">${c.next.label}</button>
</form>`,
  );
}
