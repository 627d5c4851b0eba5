// A ZITADEL export written to seed 004's schema (test/fixtures/zitadel-export.json):
// it imports, reports what has no counterpart, and its users sign in through the hosted
// login with the hashes ZITADEL exported, which become argon2id at their first login.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as client from 'openid-client';
import { toUuid } from '../src/export/document.js';
import { snapshot, type TestApp } from './helpers/app.js';
import { Browser, loginThrough, startListeningApp, startPkceLogin } from './helpers/oauth.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/zitadel-export.json', import.meta.url), 'utf8'));
const ORG = fixture.orgs[0].orgId as string;
const tenantId = toUuid(ORG, 'org');
const REDIRECT = 'https://portal.zitadel-demo.test/cb';

let t: TestApp & { issuer: string };

const importFixture = () =>
  t.app.inject({
    method: 'POST',
    url: '/admin/v1/import',
    headers: { authorization: `Bearer ${t.adminPat}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ dataOrgs: fixture }),
  });

async function signIn(login: string, password: string) {
  const app = await t.db.prisma.application.findFirstOrThrow({ where: { tenantId, name: 'Portal SPA' } });
  const { config, verifier, state, url } = await startPkceLogin(t.issuer, app.clientId, REDIRECT, { scope: 'openid profile email' });
  const res = await loginThrough(new Browser(t.issuer), url.toString(), login, password);
  if (res.status !== 303) return { ok: false as const, status: res.status };
  const location = new URL(res.headers.get('location')!);
  expect(location.origin + location.pathname).toBe(REDIRECT);
  const tokens = await client.authorizationCodeGrant(config, location, { pkceCodeVerifier: verifier, expectedState: state });
  return { ok: true as const, claims: tokens.claims()! };
}

beforeAll(async () => {
  t = await startListeningApp();
}, 60_000);
afterAll(async () => t?.close());

describe('ZITADEL fixture export', () => {
  it('imports what maps and names, per item and field, what does not', async () => {
    const res = await importFixture();
    expect(res.statusCode, res.body).toBe(200);
    const [org] = res.json().orgs;
    expect(org).toMatchObject({ orgId: tenantId, name: 'Zitadel Demo', status: 'imported' });
    // The OIDC IdP comes with an empty client secret: imported, and reported until an admin sets one.
    // The JWT IdP has no counterpart (docs/export.md): reported by its id and why, nothing stored.
    expect(org.errors).toEqual([
      { type: 'jwtIdps', id: '259471012345678911', message: expect.stringMatching(/JWT identity providers .*no counterpart here; not imported/) },
      { type: 'oidcIdp', id: '259471012345678909', field: 'clientSecret', message: expect.stringContaining('no client secret') },
    ]);
    const p = t.db.prisma;
    expect(await p.identityProvider.count({ where: { tenantId } })).toBe(1);
    const google = await p.identityProvider.findFirstOrThrow({ where: { tenantId, type: 'oidc' } });
    expect(google).toMatchObject({ name: 'Google', issuer: 'https://accounts.google.com', clientId: 'google-client', clientSecretEnc: null });
    // The user link keeps the subject the IdP knows the user by.
    const linked = await p.user.findFirstOrThrow({ where: { tenantId, idpId: google.id } });
    expect(linked.idpSubject).toBe('10987654321');
    const tenant = await p.tenant.findUniqueOrThrow({ where: { id: tenantId }, include: { identity: true } });
    expect(tenant).toMatchObject({ pwMinLength: 10, pwRequireSymbol: false, lockoutMaxAttempts: 5 });
    expect(tenant.identity?.subdomain).toBe('zitadel-demo');
    expect(tenant.branding).toMatchObject({ primaryColor: '#5469d4', tosLink: 'https://zitadel-demo.test/tos', supportEmail: 'help@zitadel-demo.test' });
    const bot = await p.serviceAccount.findFirstOrThrow({ where: { tenantId }, include: { keys: true, roles: true } });
    expect(bot.keys).toEqual([expect.objectContaining({ keyType: 'EC', algorithm: 'ES256' })]);
    expect(bot.roles.map((r) => r.roleName)).toEqual(['analyst']);
    const app = await p.application.findFirstOrThrow({ where: { tenantId, name: 'Portal SPA' } });
    expect(app).toMatchObject({ clientType: 'public', tokenEndpointAuthMethod: 'none', redirectUris: [REDIRECT], accessTokenType: 'jwt' });
    // A document that brings its own applications gets no extra AnalyticsUI.
    expect(await p.application.count({ where: { tenantId } })).toBe(1);

    // Importing it again changes nothing.
    const before = await snapshot(t.db);
    const again = await importFixture();
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().orgs[0]).toMatchObject({ status: 'unchanged', created: 0, updated: 0 });
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('a PBKDF2-hashed user signs in through the hosted login, and the hash becomes argon2id', async () => {
    const pia = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId, usernameLower: 'pia@zitadel-demo.test' } });
    expect(pia.passwordHash).toMatch(/^\$pbkdf2-sha256\$/);
    expect((await signIn('pia@zitadel-demo.test', 'wrong-Passw0rd')).ok).toBe(false);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: pia.id } })).passwordHash).toBe(pia.passwordHash);

    const ok = await signIn('pia@zitadel-demo.test', 'Zitadel-Passw0rd!');
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.claims.sub).toBe(pia.id);
    const after = (await t.db.prisma.user.findUniqueOrThrow({ where: { id: pia.id } })).passwordHash!;
    expect(after).toMatch(/^\$argon2id\$/);
    // The new hash still takes the same password.
    expect((await signIn('pia@zitadel-demo.test', 'Zitadel-Passw0rd!')).ok).toBe(true);
  }, 60_000);

  it('a user with a ZITADEL initial password signs in', async () => {
    expect((await signIn('ivy@zitadel-demo.test', 'Initial-Passw0rd')).ok).toBe(true);
  }, 60_000);

  it("a bcrypt-hashed user (ZITADEL's default) signs in by username, and the hash becomes argon2id", async () => {
    const bert = await t.db.prisma.user.findFirstOrThrow({ where: { tenantId, usernameLower: 'bert' } });
    expect(bert.passwordHash).toMatch(/^\$2a\$10\$/);
    expect((await signIn('bert', 'wrong-Passw0rd')).ok).toBe(false);
    const ok = await signIn('bert', 'Bcrypt-Passw0rd!');
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.claims.sub).toBe(bert.id);
    expect((await t.db.prisma.user.findUniqueOrThrow({ where: { id: bert.id } })).passwordHash).toMatch(/^\$argon2id\$/);
    expect((await signIn('bert@zitadel-demo.test', 'Bcrypt-Passw0rd!')).ok).toBe(true);
  }, 60_000);
});
