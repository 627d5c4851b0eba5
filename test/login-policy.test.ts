// The per-tenant login policy: its API (validation, nothing changed on refusal), its
// export/import section, and the effect of each field on the hosted login.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, seedServiceAccountPat, snapshot, type TestApp } from './helpers/app.js';
import { Browser, formField, loginThrough, seedUser, startListeningApp, startPkceLogin } from './helpers/oauth.js';
import { enrolFromAccount } from './helpers/mfa.js';
import { completeLogin } from '../src/oauth/login.js';
import { judgeSession, secondFactorNeed } from '../src/oauth/second-factor.js';
import { DEFAULT_LOGIN_POLICY, loginPolicyOf } from '../src/tenants/login-policy.js';

let t: TestApp & { issuer: string };
let tenantId: string;
let otherTenant: string;
let admin: string;
let analyticsUi: { clientId: string; redirect: string };
const PASSWORD = 'Correct-Horse-42';
const URL_ = '/api/v3/tenants/login-policy';
const put = (attributes: Record<string, unknown>, token = admin, headers: Record<string, string> = {}) =>
  call(t.app, token, 'PUT', URL_, { data: { type: 'loginPolicy', attributes } }, headers);

beforeAll(async () => {
  t = await startListeningApp();
  tenantId = await createTenant(t, 'Policy Tenant', 'policy');
  otherTenant = await createTenant(t, 'Other Tenant', 'other');
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'AnalyticsUI' } });
  analyticsUi = { clientId: app.clientId, redirect: app.redirectUris[0]! };
  admin = (await seedServiceAccountPat(t, tenantId, ['tenant-admin'])).pat;
  await seedUser(t, tenantId, { email: 'pat@policy.test', username: 'pat', password: PASSWORD });
}, 60_000);
afterAll(() => t?.close());

const authorizeUrl = async (extra: Record<string, string> = {}) =>
  (await startPkceLogin(t.issuer, analyticsUi.clientId, analyticsUi.redirect, extra)).url.toString();

/** Opens the login page of a fresh authorization request; returns its browser, sealed request and form token. */
async function loginPage() {
  const browser = new Browser(t.issuer);
  const start = await browser.get(await authorizeUrl());
  const html = await (await browser.get(start.headers.get('location')!)).text();
  return { browser, html, r: formField(html, 'r')!, csrf: formField(html, 'csrf')! };
}

async function withPolicy(attributes: Record<string, unknown>, run: () => Promise<void>) {
  expect((await put(attributes)).statusCode).toBe(200);
  try {
    await run();
  } finally {
    expect((await put({})).statusCode).toBe(200);
  }
}

describe('login policy API', () => {
  it('reads the defaults (the behaviour before policies) in ZITADEL shapes', async () => {
    const res = await call(t.app, admin, 'GET', URL_);
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toEqual({ type: 'loginPolicy', id: tenantId, attributes: DEFAULT_LOGIN_POLICY });
    expect(res.json().data.attributes).toMatchObject({
      secondFactors: ['SECOND_FACTOR_TYPE_OTP'],
      passwordCheckLifetime: '864000s',
      ignoreUnknownUsernames: true,
    });
  });

  it('refuses bad input with a clear 4xx and changes nothing', async () => {
    const before = await snapshot(t.db);
    const cases: [Record<string, unknown>, number, string][] = [
      [{ forceMfa: 'yes' }, 400, 'forceMfa'],
      [{ passwordCheckLifetime: '10 days' }, 400, 'passwordCheckLifetime'],
      [{ secondFactorCheckLifetime: '999999999999s' }, 400, 'secondFactorCheckLifetime'],
      [{ secondFactors: ['SECOND_FACTOR_TYPE_SMS'] }, 400, 'secondFactors'],
      [{ secondFactors: ['SECOND_FACTOR_TYPE_OTP', 'SECOND_FACTOR_TYPE_OTP'] }, 400, 'secondFactors'],
      [{ passwordlessType: 'PASSWORDLESS_TYPE_SOMETIMES' }, 400, 'passwordlessType'],
      [{ unknownField: true }, 400, 'unknownField'],
      [{ forceMfa: true, secondFactors: [] }, 422, 'secondFactors'],
      [{ allowUsernamePassword: false, allowExternalIdp: false }, 422, 'allowUsernamePassword'],
    ];
    for (const [attributes, status, mention] of cases) {
      const res = await put(attributes);
      expect(res.statusCode, JSON.stringify(attributes)).toBe(status);
      expect(res.body).toContain(mention);
      expect(res.body).not.toMatch(/prisma|stack|\/src\//i);
    }
    expect((await call(t.app, admin, 'PUT', URL_, 'not json', { 'content-type': 'application/vnd.api+json' })).statusCode).toBe(400);
    expect(await snapshot(t.db)).toEqual(before);
    expect(await t.db.prisma.loginPolicy.count({ where: { tenantId } })).toBe(0);
  });

  it('is written by tenant admins (fields left out take defaults), audited, and refused to tenant users', async () => {
    const user = (await seedServiceAccountPat(t, tenantId, ['tenant-user'])).pat;
    expect((await call(t.app, user, 'GET', URL_)).statusCode).toBe(403);
    expect((await put({ forceMfa: true }, user)).statusCode).toBe(403);
    const stored = {
      hidePasswordReset: true,
      allowRegister: true,
      allowDomainDiscovery: true,
      disableLoginWithPhone: false,
      passwordlessType: 'PASSWORDLESS_TYPE_ALLOWED',
      multiFactors: ['MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION'],
      mfaInitSkipLifetime: '2592000s',
      multiFactorCheckLifetime: '43200.5s',
      externalLoginCheckLifetime: '3600s',
    };
    await withPolicy(stored, async () => {
      const got = (await call(t.app, admin, 'GET', URL_)).json().data.attributes;
      expect(got).toEqual({ ...DEFAULT_LOGIN_POLICY, ...stored });
      const event = await t.db.prisma.auditEvent.findFirstOrThrow({ where: { action: 'login_policy.updated', tenantId }, orderBy: { createdAt: 'desc' } });
      expect(((event.details as { fields: string[] }).fields ?? []).sort()).toEqual(Object.keys(stored).sort());
    });
    expect((await call(t.app, admin, 'GET', URL_)).json().data.attributes).toEqual(DEFAULT_LOGIN_POLICY);
  });

  it('a skylight-admin sets any tenant’s policy by X-Forwarded-Tenant-Id', async () => {
    const res = await put({ hidePasswordReset: true }, t.adminPat, { 'x-forwarded-tenant-id': otherTenant });
    expect(res.statusCode).toBe(200);
    expect((await loginPolicyOf(t.db.prisma, otherTenant)).hidePasswordReset).toBe(true);
    expect((await loginPolicyOf(t.db.prisma, tenantId)).hidePasswordReset).toBe(false);
  });

  it('travels in the export under loginPolicy and is applied by the import, bad fields reported', async () => {
    await put({ forceMfa: true, passwordCheckLifetime: '7200s' }, t.adminPat, { 'x-forwarded-tenant-id': otherTenant });
    const post = (url: string, body: unknown) =>
      t.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${t.adminPat}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
    const doc = (await post('/admin/v1/export', { responseOutput: true, orgIds: [otherTenant] })).json();
    expect(doc.orgs[0].loginPolicy).toMatchObject({ forceMfa: true, passwordCheckLifetime: '7200s', secondFactors: ['SECOND_FACTOR_TYPE_OTP'] });

    const org = {
      orgId: '424242',
      org: { name: 'Imported Org' },
      loginPolicy: { ...doc.orgs[0].loginPolicy, ignoreUnknownUsernames: false, defaultRedirectUri: 'https://x', passwordCheckLifetime: 'soon' },
    };
    const imported = (await post('/admin/v1/import', { dataOrgs: { orgs: [org] } })).json().orgs[0];
    expect(imported.status).toBe('imported');
    expect(imported.errors).toEqual([expect.objectContaining({ type: 'loginPolicy', message: expect.stringContaining('passwordCheckLifetime') })]);
    const policy = await loginPolicyOf(t.db.prisma, imported.orgId);
    expect(policy).toMatchObject({ forceMfa: true, ignoreUnknownUsernames: false, passwordCheckLifetime: '864000s' });
    // An incoherent policy is reported and leaves the tenant's policy as it was.
    const again = (await post('/admin/v1/import', { dataOrgs: { orgs: [{ ...org, loginPolicy: { forceMfa: true, secondFactors: [] } }] } })).json().orgs[0];
    expect(again.errors.map((e: { message: string }) => e.message).join()).toContain('forceMfa');
    expect((await loginPolicyOf(t.db.prisma, imported.orgId)).ignoreUnknownUsernames).toBe(false);
  });
});

describe('each field on the hosted login', () => {
  it('allowUsernamePassword=false: no password step, and the password route refuses even the right password', async () => {
    const { browser } = await (async () => {
      const b = new Browser(t.issuer);
      const res = await loginThrough(b, await authorizeUrl(), 'pat@policy.test', PASSWORD);
      expect(res.status).toBe(303);
      return { browser: b };
    })();
    await withPolicy({ allowUsernamePassword: false }, async () => {
      const p = await loginPage();
      const step = await p.browser.post('/ui/login', { csrf: p.csrf, r: p.r, email: 'pat@policy.test' });
      expect(step.status).toBe(403);
      expect(await step.text()).toContain('Password sign-in is turned off');
      const direct = await p.browser.post('/ui/login/password', { csrf: p.csrf, r: p.r, email: 'pat@policy.test', password: PASSWORD });
      expect(direct.status).toBe(403);
      expect(p.browser.cookies.has('iam_session')).toBe(false);
      // A password session from before signs in again (to be refused) rather than being used.
      const reuse = await browser.get(await authorizeUrl());
      expect(reuse.headers.get('location')).toMatch(/^\/ui\/login\?r=/);
    });
  });

  it('ignoreUnknownUsernames: true goes on to the password step, false says the name is unknown', async () => {
    const p = await loginPage();
    const quiet = await p.browser.post('/ui/login', { csrf: p.csrf, r: p.r, email: 'nobody@policy.test' });
    expect(quiet.status).toBe(200);
    expect(await quiet.text()).toContain('name="password"');
    await withPolicy({ ignoreUnknownUsernames: false }, async () => {
      const told = await p.browser.post('/ui/login', { csrf: p.csrf, r: p.r, email: 'nobody@policy.test' });
      expect(told.status).toBe(404);
      expect(await told.text()).toContain('No account has this login name');
      const known = await p.browser.post('/ui/login', { csrf: p.csrf, r: p.r, email: 'pat@policy.test' });
      expect(await known.text()).toContain('name="password"');
    });
  });

  it('disableLoginWithEmail: the login name is the username; the email address no longer signs in', async () => {
    await withPolicy({ disableLoginWithEmail: true }, async () => {
      const p = await loginPage();
      expect(p.html).toContain('<label for="email">Username</label>');
      expect(p.html).toContain('type="text"');
      const byEmail = await p.browser.post('/ui/login/password', { csrf: p.csrf, r: p.r, email: 'pat@policy.test', password: PASSWORD });
      expect(byEmail.status).toBe(401);
      const byName = await loginThrough(new Browser(t.issuer), await authorizeUrl(), 'pat', PASSWORD);
      expect(byName.status).toBe(303);
    });
  });

  it('passwordCheckLifetime: an older password session signs in again', async () => {
    const browser = new Browser(t.issuer);
    expect((await loginThrough(browser, await authorizeUrl(), 'pat@policy.test', PASSWORD)).status).toBe(303);
    expect((await browser.get(await authorizeUrl())).headers.get('location')).toContain('code=');
    await withPolicy({ passwordCheckLifetime: '1s' }, async () => {
      await new Promise((r) => setTimeout(r, 1200));
      expect((await browser.get(await authorizeUrl())).headers.get('location')).toMatch(/^\/ui\/login\?r=/);
    });
  });

  it('secondFactors without OTP: TOTP is not asked even from a user who has it', async () => {
    const id = await seedUser(t, tenantId, { email: 'tess@policy.test', password: PASSWORD });
    const browser = new Browser(t.issuer);
    await loginThrough(browser, await authorizeUrl(), 'tess@policy.test', PASSWORD);
    await enrolFromAccount(browser);
    const asked = await loginThrough(new Browser(t.issuer), await authorizeUrl(), 'tess@policy.test', PASSWORD);
    expect(asked.status).toBe(200);
    expect(await asked.text()).toContain('Two-factor authentication');
    await withPolicy({ secondFactors: [] }, async () => {
      expect((await loginThrough(new Browser(t.issuer), await authorizeUrl(), 'tess@policy.test', PASSWORD)).status).toBe(303);
      expect(await secondFactorNeed(t.db.prisma, await loginPolicyOf(t.db.prisma, tenantId), { tenantId, userId: id, amr: ['pwd'] })).toBe('none');
    });
  });

  it('forceMfaLocalOnly spares identity-provider logins; allowExternalIdp=false refuses them; externalLoginCheckLifetime ends their sessions', async () => {
    const id = await seedUser(t, tenantId, { email: 'ext@policy.test' });
    const forced = { ...DEFAULT_LOGIN_POLICY, forceMfa: true };
    expect(await secondFactorNeed(t.db.prisma, forced, { tenantId, userId: id, amr: ['ext'] })).toBe('enrol');
    expect(await secondFactorNeed(t.db.prisma, { ...forced, forceMfaLocalOnly: true }, { tenantId, userId: id, amr: ['ext'] })).toBe('none');
    expect(await secondFactorNeed(t.db.prisma, { ...forced, forceMfaLocalOnly: true }, { tenantId, userId: id, amr: ['pwd'] })).toBe('enrol');

    const deps = { prisma: t.db.prisma, masterKey: t.app.masterKey, issuer: t.issuer, config: t.app.config };
    await withPolicy({ allowExternalIdp: false }, async () => {
      const outcome = await completeLogin(deps, { tenantId, userId: id, amr: ['ext'] });
      expect(outcome).toMatchObject({ kind: 'refused', message: expect.stringContaining('turned off') });
      expect(await t.db.prisma.browserSession.count({ where: { userId: id } })).toBe(0);
    });
    const session = { tenantId, userId: id, amr: ['ext'], authTime: new Date(Date.now() - 7200_000), secondFactorAt: null };
    expect(await judgeSession(t.db.prisma, DEFAULT_LOGIN_POLICY, session, {})).toBe('ok');
    expect(await judgeSession(t.db.prisma, { ...DEFAULT_LOGIN_POLICY, externalLoginCheckLifetime: '3600s' }, session, {})).toBe('login');
    expect(await judgeSession(t.db.prisma, DEFAULT_LOGIN_POLICY, session, { maxAge: 60 })).toBe('login');
  });

  it('advertises the acr values in discovery', async () => {
    const meta = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json();
    expect(meta.acr_values_supported).toEqual(['urn:pca:acr:pwd', 'urn:pca:acr:mfa']);
    expect(meta.claims_supported).toContain('acr');
  });
});

describe('password rules under ZITADEL names', () => {
  const PC = '/api/v3/tenants/password-complexity-policy';
  const putRules = (attributes: Record<string, unknown>) => call(t.app, admin, 'PUT', PC, { data: { type: 'passwordComplexityPolicy', attributes } });
  const scimUser = (userName: string, password: string) =>
    t.app.inject({
      method: 'POST',
      url: '/scim/v2/Users',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/scim+json' },
      payload: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, password }),
    });

  it("reads and replaces the tenant's rules, which new passwords then obey; bad input changes nothing", async () => {
    const got = await call(t.app, admin, 'GET', PC);
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json().data).toMatchObject({ type: 'passwordComplexityPolicy', id: tenantId });
    expect(Object.keys(got.json().data.attributes).sort()).toEqual(['hasLowercase', 'hasNumber', 'hasSymbol', 'hasUppercase', 'minLength']);

    const before = await snapshot(t.db);
    for (const bad of [{ minLength: 4 }, { minLength: '20' }, { requireUpper: true }, { hasSymbol: 'yes' }]) {
      const res = await putRules(bad);
      expect(res.statusCode, res.body).toBe(400);
    }
    expect(await snapshot(t.db)).toEqual(before);

    const set = await putRules({ minLength: 20, hasSymbol: true });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().data.attributes).toEqual({ minLength: 20, hasUppercase: true, hasLowercase: true, hasNumber: true, hasSymbol: true });
    try {
      // The same rules as the tenant's passwordPolicy attribute, applied to the next password set.
      const tenant = await t.db.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } });
      expect(tenant).toMatchObject({ pwMinLength: 20, pwRequireSymbol: true });
      const short = await scimUser('rules-short@policy.test', 'Short-Pass-1!');
      expect(short.statusCode, short.body).toBe(400);
      expect(short.body).toMatch(/20 characters/);
      expect((await scimUser('rules-long@policy.test', 'A-much-longer-Pass-1!')).statusCode).toBe(201);
      const events = await t.db.prisma.auditEvent.findMany({ where: { tenantId, action: 'tenant.updated' }, select: { details: true } });
      expect(events.map((e) => e.details)).toContainEqual({ fields: ['passwordPolicy'] });
    } finally {
      expect((await putRules({})).json().data.attributes).toEqual({ minLength: 12, hasUppercase: true, hasLowercase: true, hasNumber: true, hasSymbol: false });
    }
  });
});
