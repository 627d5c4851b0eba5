// node-oidc-provider as the external OpenID Connect IdP of the federation tests: a few
// accounts, registered clients, dev interactions (login form: any password) and consent
// granted at once, listening on 127.0.0.1.
import type { Server } from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from './net.js';
import { Browser } from './oauth.js';

export interface Account {
  email: string;
  email_verified: boolean;
  given_name?: string;
  family_name?: string;
}

export interface TestOidcIdp {
  issuer: string;
  provider: Provider;
  accounts: Record<string, Account>;
  /** When set, the token endpoint answers with this ID token instead of its own (a misbehaving IdP). */
  tamper: { idToken?: string };
  /** The browser of the person signing in at the IdP (its own cookie jar). */
  browser: () => Browser;
  close(): Promise<void>;
}

export async function startOidcIdp(
  clients: { client_id: string; client_secret: string; redirect_uris: string[] }[],
  accounts: Record<string, Account>,
  port?: number,
): Promise<TestOidcIdp> {
  port ??= await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({ ...c, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' })),
    async findAccount(_ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['given_name', 'family_name'] },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    // Consent is granted at once: the tests are about the relying party.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  const tamper: { idToken?: string } = {};
  // Koa composes its middleware when it starts listening: installed here, switched by `tamper`.
  provider.use(async (ctx, next) => {
    await next();
    if (tamper.idToken && ctx.path === '/token' && ctx.body && typeof ctx.body === 'object' && 'id_token' in ctx.body) {
      ctx.body = { ...ctx.body, id_token: tamper.idToken };
    }
  });
  const server: Server = provider.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    issuer,
    provider,
    accounts,
    tamper,
    browser: () => new Browser(issuer),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Signs `login` in at the IdP from its authorization URL, through the dev login form, and
 * returns where the IdP sends the browser back (the relying party's callback, with the code).
 */
export async function signInAtIdp(idpBrowser: Browser, authorizationUrl: string, login: string): Promise<string> {
  let res = await idpBrowser.get(authorizationUrl);
  for (let i = 0; i < 10; i++) {
    if (res.status === 200) {
      const html = await res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      if (!action) throw new Error(`no form at the IdP: ${html.slice(0, 300)}`);
      res = await idpBrowser.post(action, { prompt: 'login', login, password: 'any' });
      continue;
    }
    if (res.status < 300 || res.status >= 400) throw new Error(`IdP answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const location = new URL(res.headers.get('location')!, idpBrowser.base);
    if (location.origin !== idpBrowser.base) return location.href;
    res = await idpBrowser.get(location.href);
  }
  throw new Error('too many steps at the IdP');
}
