import { request } from 'node:http';
import * as client from 'openid-client';
import { hashPassword } from '../../src/platform/passwords.js';
import { call, startTestApp, type TestApp } from './app.js';
import { freePort } from './net.js';

export { freePort };

/** A test app listening on 127.0.0.1, its public URL (= issuer) that address. */
/** The app listening on 127.0.0.1 (on `port`, when PUBLIC_URL in `env` must name it); `issuer` is its address there. */
export async function startListeningApp(env: Record<string, string> = {}, port?: number): Promise<TestApp & { issuer: string }> {
  port ??= await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const t = await startTestApp({ PUBLIC_URL: issuer, ...env });
  await t.app.listen({ port, host: '127.0.0.1' });
  return { ...t, issuer };
}

export async function seedUser(
  t: TestApp,
  tenantId: string,
  opts: { email: string; password?: string; roles?: string[]; state?: string; username?: string },
): Promise<string> {
  const username = opts.username ?? opts.email.split('@')[0]!;
  const user = await t.db.prisma.user.create({
    data: {
      tenantId,
      username,
      email: opts.email,
      firstName: 'Test',
      lastName: 'User',
      state: opts.state ?? 'active',
      passwordHash: opts.password ? await hashPassword(opts.password, { memoryCost: 8192, timeCost: 1, parallelism: 1 }) : null,
      roles: { create: (opts.roles ?? ['tenant-user']).map((roleName) => ({ roleName })) },
    },
  });
  return user.id;
}

/** A minimal browser over fetch: a cookie jar, manual redirects, form posts. */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly base: string,
    readonly host?: string,
  ) {}

  private store(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(url: string): Promise<Response> {
    const res = await this.send(url, 'GET', { cookie: this.cookieHeader() });
    this.store(res);
    return res;
  }

  async post(url: string, form: Record<string, string>): Promise<Response> {
    const headers = { cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' };
    const res = await this.send(url, 'POST', headers, new URLSearchParams(form).toString());
    this.store(res);
    return res;
  }

  private send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Response> {
    const target = new URL(url, this.base);
    if (!this.host) return fetch(target, { method, redirect: 'manual', headers, body });
    // fetch sends the URL's own Host, whatever the headers say: node:http sends the one given.
    return new Promise((resolve, reject) => {
      const req = request(target, { method, headers: { ...headers, host: this.host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const h = new Headers();
          for (const [name, value] of Object.entries(res.headers)) for (const v of [value ?? []].flat()) h.append(name, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode!, headers: h }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

export function formField(html: string, name: string): string | undefined {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return m?.[1]
    ?.replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/**
 * Follows an authorization URL through the hosted login (email, then password) and returns
 * the final response (303 to the redirect URI on success, or the page that stopped it).
 */
export async function loginThrough(browser: Browser, authorizeUrl: string, email: string, password: string): Promise<Response> {
  const start = await browser.get(authorizeUrl);
  if (start.status !== 302) return start;
  const loginUrl = start.headers.get('location')!;
  if (!loginUrl.startsWith('/ui/login')) return start;
  const emailPage = await (await browser.get(loginUrl)).text();
  const r = formField(emailPage, 'r')!;
  const step1 = await browser.post('/ui/login', { csrf: formField(emailPage, 'csrf')!, r, email });
  if (step1.status !== 200) return step1;
  const passwordPage = await step1.text();
  return browser.post('/ui/login/password', { csrf: formField(passwordPage, 'csrf')!, r, email, password });
}

/**
 * Starts an authorization code flow with PKCE as a public client would, through openid-client:
 * the configuration (discovered from the issuer URL `server`, or given), the code verifier and
 * state, and the authorization URL.
 */
export async function startPkceLogin(server: string | client.Configuration, clientId: string, redirectUri: string, params: Record<string, string> = {}) {
  // A configuration the caller built (the server reached at another address than its issuer) is used as it is.
  const config =
    typeof server === 'string'
      ? await client.discovery(new URL(server), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] })
      : server;
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  });
  return { config, verifier, state, url };
}

/** Registers a public client (an SPA) in the admin's tenant through the API; its client id. */
export async function createPublicApp(t: TestApp, admin: string, name: string, redirectUri: string): Promise<string> {
  const res = await call(t.app, admin, 'POST', '/api/v3/applications', {
    data: { attributes: { name, clientType: 'public', redirectUris: [redirectUri] } },
  });
  if (res.statusCode !== 201) throw new Error(`creating the application failed: ${res.statusCode} ${res.body}`);
  return res.json().data.attributes.clientId as string;
}
