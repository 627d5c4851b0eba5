import type { FastifyReply } from 'fastify';
import { pageBrandOf, type PageBrand } from './page-brand.js';

// Server-rendered pages of the hosted login: one stylesheet, a strict CSP, and no script
// except this site's passkey script on the pages that offer passkeys (WebAuthn has no form).

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Tagged template: interpolated values are escaped unless wrapped with raw(). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += (Array.isArray(v) ? v.map(part).join('') : part(v)) + strings[i + 1];
  });
  return new Raw(out);
}

export class Raw {
  constructor(readonly value: string) {}
  toString() {
    return this.value;
  }
}
export const raw = (s: string) => new Raw(s);
const part = (v: unknown) => (v instanceof Raw ? v.value : v === undefined || v === null || v === false ? '' : escapeHtml(v));

export interface PageOptions {
  title: string;
  /** Origins a form on the page may submit to after same-origin (form-action also governs the redirects that follow a POST). */
  formTargets?: string[];
  /** Navigate to this URL at once (meta refresh). */
  refreshTo?: string;
  status?: number;
  /** The tenant whose branding the page shows; by default the one the route named for the request (src/ui/page-brand.ts). */
  brand?: PageBrand;
  /** A wider card, for a page with a table. */
  wide?: boolean;
  /** The page has passkey forms: it loads PASSKEY_SCRIPT_PATH, and its CSP allows this site's scripts. */
  passkeys?: boolean;
}

/** Where the passkey script is served (src/ui/passkey-script.ts), from this site's own origin. */
export const PASSKEY_SCRIPT_PATH = '/ui/assets/passkey.js';

/** Where a tenant's logo is served; the version makes the URL change with the image, so it may be cached for long. */
export const logoPath = (tenantId: string, version: string) => `/ui/assets/logo/${tenantId}?v=${encodeURIComponent(version)}`;

export function csp(formTargets: string[] = [], scripts = false) {
  const targets = [...new Set(formTargets)].map((o) => o.replace(/[;,\s]/g, ''));
  return [
    "default-src 'none'",
    ...(scripts ? ["script-src 'self'"] : []),
    "style-src 'self'",
    "img-src 'self' data:",
    `form-action 'self'${targets.length ? ' ' + targets.join(' ') : ''}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** The tenant's stylesheet (see brandStylesheet), logo and name, the same on every page of the tenant. */
function brandHead(brand: PageBrand | undefined) {
  return brand ? html`<link rel="stylesheet" href="/ui/assets/brand/${brand.tenantId}.css">` : raw('');
}

function brandHeader(brand: PageBrand | undefined) {
  if (!brand) return raw('');
  // The logo's alt text is the tenant's name; without a logo the name shows as text.
  return brand.logoVersion
    ? html`<img class="logo" src="${logoPath(brand.tenantId, brand.logoVersion)}" alt="${brand.name}">`
    : html`<p class="brand-name">${brand.name}</p>`;
}

/** Sends a complete HTML page. */
export function sendPage(reply: FastifyReply, opts: PageOptions, body: Raw) {
  const brand = opts.brand ?? pageBrandOf(reply.request);
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${opts.refreshTo ? html`<meta http-equiv="refresh" content="0;url=${opts.refreshTo}">` : ''}
<title>${opts.title}</title>
<link rel="stylesheet" href="/ui/assets/style.css">
${brandHead(brand)}
${opts.passkeys ? html`<script src="${PASSKEY_SCRIPT_PATH}" defer></script>` : ''}
</head>
<body>
<main class="${opts.wide ? 'card wide' : 'card'}">
${brandHeader(brand)}
${body}
</main>
</body>
</html>`;
  return reply
    .code(opts.status ?? 200)
    .header('content-security-policy', csp(opts.formTargets, opts.passkeys))
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .type('text/html; charset=utf-8')
    .send(page.value);
}

/** A hidden input. */
export const hidden = (name: string, value: string | undefined) =>
  value === undefined ? raw('') : html`<input type="hidden" name="${name}" value="${value}">`;

/** The id of a page's error message, which the inputs it concerns name in aria-describedby. */
export const ERROR_ID = 'form-error';

export const errorBox = (message: string | undefined) => (message ? html`<p class="error" id="${ERROR_ID}" role="alert">${message}</p>` : raw(''));

/** aria attributes tying an input to the page's error (when there is one) and to other descriptions. */
export function describedBy(error: string | undefined, ...ids: string[]) {
  const all = [...(error ? [ERROR_ID] : []), ...ids];
  return raw((all.length ? ` aria-describedby="${all.join(' ')}"` : '') + (error ? ' aria-invalid="true"' : ''));
}

// Colours meet WCAG 2.1 AA on their backgrounds: text at least 4.5:1, input borders and
// focus outlines (non-text contrast, 1.4.11) at least 3:1. test/recovery-chromium.test.ts measures them.
export const STYLESHEET = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f3f5f8;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330}
.card{width:100%;max-width:420px;background:#fff;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px}
.card.wide{max-width:720px}
h1{font-size:1.4rem;margin:0 0 20px}
h2{font-size:1.1rem;margin:28px 0 8px}
label{display:block;font-weight:600;margin:14px 0 6px}
input[type=email],input[type=password],input[type=text]{width:100%;padding:10px 12px;border:1px solid #6b7487;border-radius:6px;font-size:1rem;color:#1d2330;background:#fff}
input[aria-invalid=true]{border-color:#b42318}
button{margin-top:20px;width:100%;padding:11px;border:1px solid #2256d6;border-radius:6px;background:#2256d6;color:#fff;font-size:1rem;font-weight:600;cursor:pointer}
button.secondary{background:#fff;color:#1d2330;border-color:#6b7487}
button.inline{width:auto;margin:0;padding:4px 10px;font-size:.9rem}
:focus-visible{outline:3px solid #1a4fd0;outline-offset:2px}
a{color:#1a4fd0}
.error{background:#fdecec;color:#8a1c1c;border-radius:6px;padding:10px 12px}
.notice{background:#eaf6ec;color:#1e5b2a;border-radius:6px;padding:10px 12px}
.muted{color:#5d6678;font-size:.9rem}
.rules{color:#4a5262;font-size:.9rem;margin:6px 0 0;padding-left:20px}
.links{margin-top:16px;font-size:.95rem}
.terms{max-height:220px;overflow:auto;border:1px solid #6b7487;border-radius:6px;padding:10px;font-size:.9rem}
table{width:100%;border-collapse:collapse;font-size:.9rem}
th,td{text-align:left;padding:6px 4px;border-bottom:1px solid #d5dae3;vertical-align:top}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:16px 0 0}
dt{font-weight:600}
dd{margin:0}
img.qr{display:block;margin:12px auto}
img.logo{display:block;max-width:200px;max-height:64px;margin:0 auto 20px}
.brand-name{margin:0 0 16px;text-align:center;font-weight:600;color:#4a5262}
code.secret{word-break:break-all}
.or{text-align:center;color:#5d6678;margin:20px 0 0}
input.name{margin-top:4px}
.codes{columns:2;font-family:ui-monospace,monospace;font-size:1.05rem;padding-left:1.2em}
`;
