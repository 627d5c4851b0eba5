// The hosted login's and account page's form routes are hidden from the OpenAPI document but
// reachable by anyone: junk, missing, oversized and wrong-typed fields, and a wrong CSRF
// token, get a 4xx page (never a 500, never a stack) and change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, snapshot, type TestApp } from './helpers/app.js';
import { Browser, formField, loginThrough, seedUser, startListeningApp } from './helpers/oauth.js';
import { enrolFromAccount } from './helpers/mfa.js';

let t: TestApp & { issuer: string };
let tenantId: string;
let authorizeUrl: string;
const PASSWORD = 'Correct-Horse-42';

beforeAll(async () => {
  // A high form rate limit: every junk body below is to reach its route, not the limiter.
  t = await startListeningApp({ RATE_LIMIT_LOGIN: '10000' });
  tenantId = await createTenant(t, 'Junk Tenant', 'junk');
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } });
  authorizeUrl = `/oauth/v2/authorize?${new URLSearchParams({
    client_id: app.clientId,
    redirect_uri: app.redirectUris[0]!,
    response_type: 'code',
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  })}`;
}, 60_000);
afterAll(() => t?.close());

const FORM = 'application/x-www-form-urlencoded';

/** Bodies a hostile or broken client sends, given the page's valid CSRF token. */
function junkBodies(csrf: string): [string, string, string][] {
  const big = 'x'.repeat(70_000);
  return [
    ['no body', FORM, ''],
    ['only the CSRF token', FORM, new URLSearchParams({ csrf }).toString()],
    ['a wrong CSRF token', FORM, new URLSearchParams({ csrf: 'forged', code: '123456', pending: 'x', password: PASSWORD }).toString()],
    ['no CSRF token', FORM, new URLSearchParams({ code: '123456', pending: 'x', password: PASSWORD }).toString()],
    [
      'junk fields',
      FORM,
      new URLSearchParams({
        csrf,
        code: '\u0000\u202e<script>',
        pending: '!!',
        handle: '..',
        response: '{',
        name: '\ud800',
        passkey: 'nope',
        password: 'p',
      }).toString(),
    ],
    ['repeated fields (arrays)', FORM, `csrf=${encodeURIComponent(csrf)}&csrf=x&code=1&code=2&pending=a&pending=b&response=1&response=2&passkey=a&passkey=b`],
    [
      'oversized fields',
      FORM,
      new URLSearchParams({ csrf, code: 'x'.repeat(60_000), pending: 'p'.repeat(3000), name: 'n'.repeat(3000), response: 'r'.repeat(3000) }).toString(),
    ],
    ['an oversized body', FORM, `csrf=${encodeURIComponent(csrf)}&code=${big}`],
    [
      'JSON with wrong types',
      'application/json',
      JSON.stringify({ csrf, code: 123456, pending: { a: 1 }, response: [1], passkey: null, name: 5, password: true }),
    ],
    ['malformed JSON', 'application/json', '{"csrf":'],
    ['an unknown content type', 'text/plain', 'code=123456'],
  ];
}

// Bodies refused before a route reads a field: no valid CSRF token, or no readable form.
const UNREAD = ['no body', 'a wrong CSRF token', 'no CSRF token', 'an oversized body', 'malformed JSON', 'an unknown content type'];

/** The tables whose content changed since `before`, none but those `allowed`. */
async function expectUnchanged(before: Record<string, string>, allowed: string[] = []) {
  const after = await snapshot(t.db);
  expect(Object.keys(after).filter((k) => after[k] !== before[k] && !allowed.includes(k))).toEqual([]);
}

async function expectRefused(browser: Browser, url: string, label: string, contentType: string, body: string) {
  const res = await fetch(new URL(url, t.issuer), {
    method: 'POST',
    headers: { cookie: browser.cookieHeader(), 'content-type': contentType },
    body: body || undefined,
    redirect: 'manual',
  });
  const text = await res.text();
  expect(res.status, `${url} ${label}: ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${url} ${label}`).toBeLessThan(500);
  expect(res.headers.get('content-type'), `${url} ${label}`).toMatch(/^(text\/html|application\/(vnd\.api\+)?json)/);
  expect(text, `${url} ${label}`).not.toMatch(/\.ts:\d+|node_modules|at [\w.]+ \(|prisma|PrismaClient|TypeError|SyntaxError/i);
  expect(res.headers.getSetCookie().some((c) => c.startsWith('iam_session=') && !c.startsWith('iam_session=;'))).toBe(false);
}

describe('hidden form routes refuse bad input with a 4xx and change nothing', () => {
  it('the account TOTP and passkey forms', async () => {
    const email = 'junk-account@junk.test';
    await seedUser(t, tenantId, { email, password: PASSWORD });
    const browser = new Browser(t.issuer);
    expect((await loginThrough(browser, authorizeUrl, email, PASSWORD)).status).toBe(303);
    const csrf = formField(await (await browser.get('/ui/account/totp')).text(), 'csrf')!;
    expect(csrf).toBeTruthy();
    const routes = [
      '/ui/account/totp/confirm',
      '/ui/account/totp/recovery-codes',
      '/ui/account/totp/remove',
      '/ui/account/passkeys/add',
      '/ui/account/passkeys/rename',
      '/ui/account/passkeys/remove',
    ];
    // Without this page's CSRF token, or unreadable: refused before anything is looked at.
    let before = await snapshot(t.db);
    for (const url of [...routes, '/ui/account/totp/enrol'])
      for (const [label, type, body] of junkBodies(csrf).filter(([l]) => UNREAD.includes(l))) await expectRefused(browser, url, label, type, body);
    await expectUnchanged(before);
    // A form of this site with wrong values: refused; what changes is only the wrong answer
    // counted by the login throttle (LoginThrottle, User.failedLogins) and the fresh challenge
    // or pending secret of the form shown again (WebAuthnChallenge, UserTotp).
    before = await snapshot(t.db);
    for (const url of routes)
      for (const [label, type, body] of junkBodies(csrf).filter(([l]) => !UNREAD.includes(l))) await expectRefused(browser, url, label, type, body);
    await expectUnchanged(before, ['LoginThrottle', 'User', 'UserTotp', 'WebAuthnChallenge']);
    expect(await t.db.prisma.userTotp.count({ where: { confirmedAt: { not: null }, user: { email } } })).toBe(0);
    expect(await t.db.prisma.passkey.count({ where: { user: { email } } })).toBe(0);
  });

  it('the login second-factor, TOTP enrolment and passkey forms, and the step-up page', async () => {
    const email = 'junk-login@junk.test';
    await seedUser(t, tenantId, { email, password: PASSWORD });
    const enrolled = new Browser(t.issuer);
    await loginThrough(enrolled, authorizeUrl, email, PASSWORD);
    await enrolFromAccount(enrolled);
    // A login waiting at the second factor: its page holds a CSRF token and a sealed pending login.
    const browser = new Browser(t.issuer);
    const page = await (await loginThrough(browser, authorizeUrl, email, PASSWORD)).text();
    const csrf = formField(page, 'csrf')!;
    expect(formField(page, 'pending')).toBeTruthy();
    const routes = [
      '/ui/login/second-factor',
      '/ui/login/second-factor/passkey',
      '/ui/login/totp',
      '/ui/login/second-factor/passkey-enrol',
      '/ui/login/continue',
      '/ui/login/second-factor/skip',
      '/ui/login/passkey',
    ];
    const before = await snapshot(t.db);
    for (const url of routes) for (const [label, type, body] of junkBodies(csrf)) await expectRefused(browser, url, label, type, body);
    for (const r of ['', 'junk', 'x'.repeat(5000), '%00']) {
      const res = await browser.get(`/ui/login/step-up?r=${encodeURIComponent(r)}`);
      expect(res.status, `step-up r=${r.slice(0, 10)}`).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    }
    expect((await browser.get('/ui/login/step-up?r=a&r=b')).status).toBe(400);
    expect(await snapshot(t.db)).toEqual(before);
  });
});
