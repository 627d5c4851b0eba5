import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Ceremony, PasskeySummary, RegistrationResult } from '../users/passkeys.js';
import { csrfToken } from './csrf.js';
import { errorBox, hidden, html, raw, sendPage, type Raw } from './layout.js';

// Passkey forms (run by the passkey script, src/ui/passkey-script.ts) and the account's passkey page.

/** A form whose submit runs a WebAuthn ceremony, then posts its answer with `fields`. */
export function passkeyForm(
  csrf: string,
  c: {
    action: string;
    kind: 'register' | 'authenticate';
    ceremony: Ceremony<unknown>;
    fields?: Record<string, string | undefined>;
    label: string;
    extra?: Raw;
    id?: string;
    /** The page's other way in is the main one: this button is drawn as the alternative. */
    secondary?: boolean;
  },
) {
  const fields: Raw[] = Object.entries(c.fields ?? {}).map(([k, v]) => hidden(k, v));
  return html`<form method="post" action="${c.action}" data-passkey="${c.kind}" data-options="${JSON.stringify(c.ceremony.options)}"${c.id ? raw(` id="${c.id}"`) : ''}>
${hidden('csrf', csrf)}
${hidden('handle', c.ceremony.handle)}
${fields}
<input type="hidden" name="response" value="">
${c.extra ?? ''}
<button type="submit"${c.secondary ? raw(' class="secondary"') : ''}>${c.label}</button>
<p class="muted passkey-status" role="status"></p>
</form>`;
}

/** Why adding a passkey failed, as the account page and the login's enrolment say it. */
export const REGISTRATION_ERRORS: Record<Exclude<RegistrationResult, { ok: true }>['reason'], string> = {
  challenge: 'This form expired. Try adding the passkey again.',
  invalid: 'The passkey could not be added: the browser’s answer was not valid for this site.',
  duplicate: 'This passkey is already registered.',
  limit: 'You have as many passkeys as an account may have. Remove one first.',
  name: 'Give the passkey a name of at most 64 characters.',
};

const PASSKEY_NAME_INPUT = html`<label for="passkey-name">Name</label>
<input id="passkey-name" class="name" name="name" type="text" maxlength="64" required placeholder="For example: work laptop">`;

/** Passkey enrolment required at login: the tenant allows passkeys alone as the second factor and the user has none yet. */
export function enrolPasskeyPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: { tenantName: string; pending: string; ceremony: Ceremony<unknown>; formTargets?: string[]; error?: string; status?: number; offer?: boolean },
) {
  return sendPage(
    reply,
    { title: 'Add a passkey', formTargets: c.formTargets, status: c.status, passkeys: true },
    html`
<h1>Add a passkey</h1>
${errorBox(c.error)}
<p>${c.tenantName} ${c.offer ? 'recommends' : 'requires'} a second factor when you sign in. Add a passkey now: your device, a password manager or a security key keeps it, and it confirms your next sign-ins.</p>
${passkeyForm(csrfToken(request, reply), {
  action: '/ui/login/second-factor/passkey-enrol',
  kind: 'register',
  ceremony: c.ceremony,
  fields: { pending: c.pending },
  label: 'Add a passkey',
  id: 'enrol-passkey',
  extra: PASSKEY_NAME_INPUT,
})}
${c.offer ? skipForm(request, reply, c.pending) : ''}`,
  );
}

const when = (d: Date | null) => (d ? d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : 'never');

/** /ui/account/passkeys: the user's passkeys (rename, remove) and a form that adds one. */
export function accountPasskeysPage(
  request: FastifyRequest,
  reply: FastifyReply,
  c: { passkeys: PasskeySummary[]; ceremony: Ceremony<unknown>; notice?: string; error?: string; status?: number },
) {
  const csrf = csrfToken(request, reply);
  const rows = c.passkeys.map(
    (p, i) => html`<tr>
<td><span class="passkey-name">${p.name}</span><br><span class="muted">${p.backedUp ? 'synced passkey' : 'device-bound'}</span></td>
<td>${when(p.createdAt)}</td>
<td>${when(p.lastUsedAt)}</td>
<td>
<form method="post" action="/ui/account/passkeys/rename">
${hidden('csrf', csrf)}
${hidden('passkey', p.id)}
<label for="rename-${i}">New name</label>
<input id="rename-${i}" class="name" name="name" type="text" maxlength="64" required value="${p.name}">
<button type="submit" class="secondary inline">Rename</button>
</form>
<form method="post" action="/ui/account/passkeys/remove">
${hidden('csrf', csrf)}
${hidden('passkey', p.id)}
<label for="remove-${i}">Current password</label>
<input id="remove-${i}" name="password" type="password" autocomplete="current-password" required>
<button type="submit" class="secondary inline" aria-label="Remove the passkey ${p.name}">Remove</button>
</form>
</td>
</tr>`,
  );
  const list = c.passkeys.length
    ? html`<table id="passkeys">
<thead><tr><th scope="col">Passkey</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${rows}</tbody>
</table>`
    : html`<p id="passkeys-none">You have no passkeys yet.</p>`;
  return sendPage(
    reply,
    { title: 'Passkeys', status: c.status, passkeys: true, wide: true },
    html`
<h1>Passkeys</h1>
${errorBox(c.error)}
${c.notice ? html`<p class="notice" role="status">${c.notice}</p>` : raw('')}
<p>A passkey is kept by your device, a password manager or a security key. Where your organisation allows it, it confirms your sign-in after the password, or signs you in without one.</p>
${list}
<h2>Add a passkey</h2>
${passkeyForm(csrf, {
  action: '/ui/account/passkeys/add',
  kind: 'register',
  ceremony: c.ceremony,
  label: 'Add a passkey',
  id: 'add-passkey',
  extra: PASSKEY_NAME_INPUT,
})}
<p class="links"><a href="/ui/account">Back to your account</a></p>`,
  );
}

/** The offer of a second factor (mfaInitSkipLifetime) may be declined: the login goes on without one. */
export function skipForm(request: FastifyRequest, reply: FastifyReply, pending: string) {
  return html`<form method="post" action="/ui/login/second-factor/skip">
${hidden('csrf', csrfToken(request, reply))}
${hidden('pending', pending)}
<button type="submit" class="secondary" id="skip-second-factor">Skip</button>
</form>`;
}
