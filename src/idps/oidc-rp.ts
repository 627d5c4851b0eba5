// The relying party for external OpenID Connect IdPs, on openid-client: discovery,
// authorization code + PKCE with state and nonce, and ID token validation (signature
// against the IdP's JWKS, iss, aud, exp, nonce). Every request to the IdP goes through
// the SSRF guard (src/platform/net.ts).
import type * as OidcClient from 'openid-client';
import type { IdentityProvider } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import { AppError, notFound, unprocessable } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { AddressRefused, addressIn, allowList, guardedFetch } from '../platform/net.js';
import { sha256Hex } from '../platform/secrets.js';
import { auditedFederatedLogin, federatedUser, FederationRefused, type FederatedFailure } from './federation.js';
import { seal, unseal } from './sp-keys.js';

// Loaded at the first discovery: most processes never talk to an external IdP.
const openidClient = () => import('openid-client');

export interface OidcDeps {
  db: { prisma: Prisma };
  config: Config;
  masterKey: Buffer;
}

export interface OidcLogin {
  tenantId: string;
  userId: string;
  idpId: string;
  /** The sealed authorization request to resume, when the login started from one. */
  authRequest?: string;
  /** The hosted-login page to go back to, for a sign-in without an authorization request. */
  next?: string;
}

/**
 * A refused IdP answer: 403 with a reason the person signing in can read (never a 500 for
 * what an IdP or browser sent). `why` is what the library or the IdP said, for the log only.
 */
export class OidcRefused extends FederationRefused {
  constructor(
    detail: string,
    readonly why?: string,
    failure?: FederatedFailure,
    account?: { id: string; username: string },
  ) {
    super('oidc_refused', 'Identity provider answer refused', detail, failure, account);
  }
}
export const oidcRefused = (detail: string, why?: string, failure?: FederatedFailure) => new OidcRefused(detail, why, failure);

const START_AGAIN = 'Start the sign-in again from the application.';

// The ID token checks a refusal may name, in words.
const CLAIM_WORDS: Record<string, string> = {
  aud: 'it was issued to another application (aud)',
  azp: 'it was issued to another application (azp)',
  nonce: 'it belongs to another sign-in (nonce)',
  iss: 'it was issued by another identity provider (iss)',
  exp: 'it has expired (exp)',
  iat: 'its issue time is not acceptable (iat)',
  sub: 'it names no user (sub)',
};

/** Why the code exchange or the ID token was refused, in words for the person signing in. */
function exchangeRefusal(err: unknown): OidcRefused {
  const e = err as Error & { code?: string; error?: string; error_description?: string; cause?: unknown };
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
  const why = (e.error ? `${e.error}${e.error_description ? `: ${e.error_description}` : ''}` : `${e.message}${cause}`).slice(0, 500);
  // An OAuth error of the IdP's token endpoint: its code is standard vocabulary, its description the IdP's own business.
  if (e.error && /^[\w.-]{1,64}$/.test(e.error))
    return oidcRefused(`The identity provider refused to finish the sign-in (${e.error}). ${START_AGAIN}`, why, 'idp_error');
  // openid-client wraps the check that failed (oauth4webapi's) as its cause.
  const said = `${e.message}${cause}`;
  const claim = /"(\w+)"/.exec(said)?.[1];
  const words = claim && Object.hasOwn(CLAIM_WORDS, claim) ? CLAIM_WORDS[claim] : /signature/i.test(said) ? 'its signature does not verify' : undefined;
  return oidcRefused(
    words ? `The identity provider's ID token was refused: ${words}. ${START_AGAIN}` : `The identity provider's answer could not be verified. ${START_AGAIN}`,
    why,
  );
}

export const OIDC_DEFAULT_SCOPES = ['openid', 'email', 'profile'];

/** The redirect URI to register at the IdP, on `base` (PUBLIC_URL, or a tenant's own host origin). */
export const oidcCallbackUrl = (base: string, idpId: string) => `${base.replace(/\/+$/, '')}/oidc-idp/${idpId}/callback`;

/** The additional authenticated data binding a sealed client secret to its IdP row. */
export const clientSecretAad = (tenantId: string, idpId: string) => `oidc-client-secret:${tenantId}:${idpId}`;

const MAX_BYTES = 1024 * 1024;

/**
 * The cookies that carry pending logins' state, nonce and PKCE verifier, sealed under the
 * master key, from the email step to the callback: one per login, named after its `state`,
 * so that logins started in several tabs of one browser all complete. Being in this
 * browser's cookie jar binds the answer to the browser that started the login (login CSRF).
 * The callback is a top-level GET navigation, so SameSite=Lax is sent with it.
 */
export function oidcStateCookie(config: Pick<Config, 'PUBLIC_URL' | 'SESSION_COOKIE_DOMAIN' | 'OIDC_IDP_LOGIN_TTL_MS'>) {
  const secure = config.PUBLIC_URL.startsWith('https:');
  const domain = config.SESSION_COOKIE_DOMAIN;
  const prefix = `${secure ? (domain ? '__Secure-' : '__Host-') : ''}iam_oidc_`;
  return {
    prefix,
    // A digest keeps the name short and of cookie-name characters, whatever the callback's query says.
    nameFor: (state: string) => prefix + sha256Hex(state).slice(0, 16),
    options: {
      path: '/',
      httpOnly: true,
      secure,
      sameSite: 'lax' as const,
      maxAge: Math.ceil(config.OIDC_IDP_LOGIN_TTL_MS / 1000),
      ...(domain ? { domain } : {}),
    },
  };
}

/**
 * How many logins may be pending in one browser: every state cookie travels with every
 * request to this host, and too many would make its requests too large to be served.
 */
export const MAX_PENDING_OIDC_LOGINS = 5;

const STATE_AAD = 'oidc-idp-login-state';

interface LoginState {
  /** IdP id */
  i: string;
  /** state, nonce, PKCE verifier */
  s: string;
  n: string;
  v: string;
  /** the redirect URI sent to the IdP, which the code exchange repeats */
  r: string;
  /** sealed authorization request */
  a?: string;
  next?: string;
  /** expiry, ms since the epoch */
  x: number;
}

function openState(masterKey: Buffer, sealed: string | undefined): LoginState | undefined {
  if (!sealed || sealed.length > 8192) return undefined;
  try {
    const s = JSON.parse(unseal(masterKey, sealed, STATE_AAD)) as LoginState;
    return s.x > Date.now() ? s : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The state cookies to clear as a new login starts, so that at most MAX_PENDING_OIDC_LOGINS
 * stay pending in this browser: expired or unreadable ones, then those closest to expiry.
 */
export function pendingLoginsToDrop(masterKey: Buffer, prefix: string, cookies: Record<string, string | undefined>): string[] {
  const pending = Object.entries(cookies)
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, value]) => ({ name, expires: openState(masterKey, value)?.x ?? 0 }))
    .sort((a, b) => a.expires - b.expires);
  const keep = MAX_PENDING_OIDC_LOGINS - 1;
  return pending.filter((p, i) => p.expires === 0 || i < pending.length - keep).map((p) => p.name);
}

/** http issuers only for addresses the operator listed (an IdP on the internal network); https everywhere else. */
function plainHttpAllowed(config: Config, url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return url.protocol === 'http:' && addressIn(allowList(config.OIDC_IDP_ALLOW_CIDRS), host);
}

function fetchOptions(client: typeof OidcClient, config: Config, issuer: URL) {
  const customFetch = guardedFetch({ allow: allowList(config.OIDC_IDP_ALLOW_CIDRS), timeoutMs: config.OIDC_IDP_TIMEOUT_MS, maxBytes: MAX_BYTES });
  return {
    [client.customFetch]: customFetch as unknown as OidcClient.CustomFetch,
    timeout: Math.ceil(config.OIDC_IDP_TIMEOUT_MS / 1000),
    ...(plainHttpAllowed(config, issuer) ? { execute: [client.allowInsecureRequests] } : {}),
  };
}

/** Why discovery failed, in words an admin can act on. */
function discoveryProblem(err: unknown, config: Config): string {
  const e = err as Error & { code?: string; cause?: unknown };
  if (e instanceof AddressRefused || e.cause instanceof AddressRefused) {
    return `the issuer is refused: ${(e.cause instanceof AddressRefused ? e.cause : e).message} (OIDC_IDP_ALLOW_CIDRS)`;
  }
  if (e.code === 'OAUTH_HTTP_REQUEST_FORBIDDEN') return 'the issuer must be an https URL';
  if (e.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || e.code === 'OAUTH_INVALID_RESPONSE' || e.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') {
    return 'the issuer does not serve an OpenID Connect discovery document for itself (/.well-known/openid-configuration)';
  }
  const cause = e.cause as (Error & { code?: string }) | undefined;
  const reason = cause?.code ?? cause?.message ?? e.code ?? e.message;
  return `the issuer could not be reached within ${config.OIDC_IDP_TIMEOUT_MS} ms (${String(reason).slice(0, 120)})`;
}

/**
 * Discovery of an issuer an admin gave (the issuer URL or its discovery URL); 422 when it
 * is unreachable, refused by the SSRF guard, or not an OpenID Connect issuer.
 */
export async function discoverIssuer(config: Config, rawIssuer: string, clientId: string, clientSecret: string): Promise<OidcClient.Configuration> {
  let url: URL;
  try {
    url = new URL(rawIssuer);
  } catch {
    throw unprocessable('issuer is not a valid URL', '/issuer');
  }
  if (url.username || url.password) throw unprocessable('issuer must not carry credentials', '/issuer');
  if (url.protocol !== 'https:' && !plainHttpAllowed(config, url)) {
    throw unprocessable('issuer must be an https URL (http only for addresses in OIDC_IDP_ALLOW_CIDRS)', '/issuer');
  }
  const client = await openidClient();
  try {
    const c = await client.discovery(url, clientId, clientSecret, client.ClientSecretBasic(clientSecret), fetchOptions(client, config, url));
    const md = c.serverMetadata();
    if (!md.authorization_endpoint || !md.token_endpoint || !md.jwks_uri) throw Object.assign(new Error('incomplete'), { code: 'OAUTH_INVALID_RESPONSE' });
    if (!(md.response_types_supported ?? ['code']).includes('code')) throw unprocessable('the issuer does not support the authorization code flow', '/issuer');
    return c;
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw unprocessable(`issuer: ${discoveryProblem(err, config)}`, '/issuer');
  }
}

// Discovery per IdP, kept a while: every login needs the endpoints and the JWKS location.
const CACHE_MS = 10 * 60_000;
const cache = new Map<string, { version: number; at: number; c: OidcClient.Configuration }>();

async function configurationOf(deps: OidcDeps, idp: IdentityProvider): Promise<OidcClient.Configuration> {
  const hit = cache.get(idp.id);
  if (hit && hit.version === idp.updatedAt.getTime() && Date.now() - hit.at < CACHE_MS) return hit.c;
  if (!idp.clientSecretEnc || !idp.issuer || !idp.clientId)
    throw oidcRefused('This identity provider is not set up yet: an administrator must give it a client secret.');
  const secret = unseal(deps.masterKey, idp.clientSecretEnc!, clientSecretAad(idp.tenantId, idp.id));
  let c: OidcClient.Configuration;
  try {
    c = await discoverIssuer(deps.config, idp.issuer!, idp.clientId!, secret);
  } catch (err) {
    throw oidcRefused('The identity provider cannot be reached. Try again in a moment.', (err as Error).message);
  }
  if (cache.size > 1000) cache.clear();
  cache.set(idp.id, { version: idp.updatedAt.getTime(), at: Date.now(), c });
  return c;
}

/**
 * Starts a login at the IdP: the authorization URL (code flow, PKCE S256, state, nonce), its
 * `state`, and the sealed login to set as the oidcStateCookie named after that state on the
 * answer that sends the browser there.
 */
export async function startOidcLogin(
  deps: OidcDeps,
  idp: IdentityProvider,
  resume: { authRequest?: string; next?: string },
  /** Where the hosted login of this tenant is served for this browser (PUBLIC_URL, or the tenant's own host). */
  callbackOrigin: string,
) {
  const c = await configurationOf(deps, idp);
  const client = await openidClient();
  const verifier = client.randomPKCECodeVerifier();
  const state: LoginState = {
    i: idp.id,
    r: oidcCallbackUrl(callbackOrigin, idp.id),
    s: client.randomState(),
    n: client.randomNonce(),
    v: verifier,
    ...(resume.authRequest ? { a: resume.authRequest } : {}),
    ...(resume.next ? { next: resume.next } : {}),
    x: Date.now() + deps.config.OIDC_IDP_LOGIN_TTL_MS,
  };
  const url = client.buildAuthorizationUrl(c, {
    redirect_uri: state.r,
    scope: (idp.scopes.length ? idp.scopes : OIDC_DEFAULT_SCOPES).join(' '),
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: state.s,
    nonce: state.n,
  });
  return { url: url.href, state: state.s, cookie: seal(deps.masterKey, JSON.stringify(state), STATE_AAD) };
}

async function enabledOidcIdp(prisma: Prisma, idpId: string) {
  const idp = isUuid(idpId) ? await prisma.identityProvider.findUnique({ where: { id: idpId }, include: { tenant: { select: { state: true } } } }) : null;
  if (!idp || idp.type !== 'oidc' || idp.state !== 'active' || idp.tenant.state !== 'active') return undefined;
  return idp;
}

const text = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

/**
 * The IdP sent the browser back to the callback (`currentUrl`, with code and state, or an
 * error). Checks the browser's sealed state, redeems the code with the PKCE verifier, has
 * openid-client validate the ID token (signature, iss, aud, exp, nonce), and finds the user
 * (src/idps/federation.ts). Any failure is a 403 naming the reason in words for the person
 * signing in (OidcRefused).
 */
export async function finishOidcLogin(deps: OidcDeps, idpId: string, currentUrl: URL, sealedState: string | undefined, requestId?: string): Promise<OidcLogin> {
  const idp = await enabledOidcIdp(deps.db.prisma, idpId);
  if (!idp) throw notFound('Identity provider');
  return auditedFederatedLogin(deps.db.prisma, idp, 'oidc', requestId, () => verifyOidcAnswer(deps, idp, currentUrl, sealedState));
}

async function verifyOidcAnswer(
  deps: OidcDeps,
  idp: NonNullable<Awaited<ReturnType<typeof enabledOidcIdp>>>,
  currentUrl: URL,
  sealedState: string | undefined,
): Promise<OidcLogin> {
  const { prisma } = deps.db;
  const opened = openState(deps.masterKey, sealedState);
  const state = opened && opened.i === idp.id && currentUrl.searchParams.get('state') === opened.s ? opened : undefined;
  const error = currentUrl.searchParams.get('error');
  if (error) {
    // The IdP's words are shown only to the browser that started this login: to anyone else,
    // a crafted link would put words of its author's choosing on this site's page.
    const code = /^[\w.-]{1,64}$/.test(error) ? error : 'error';
    const description = state ? currentUrl.searchParams.get('error_description')?.slice(0, 200) : undefined;
    throw oidcRefused(`The identity provider did not sign you in (${code})${description ? `: ${description}` : ''}. ${START_AGAIN}`, undefined, 'idp_error');
  }
  if (!state) {
    throw oidcRefused(
      'This browser did not start this sign-in (no sign-in with this state is pending here), or it expired. Start the sign-in again from the application, in this browser.',
    );
  }
  const c = await configurationOf(deps, idp);
  const client = await openidClient();
  // The redirect URI this login was started with (the code is bound to it), whatever host the request came in on.
  const callback = new URL(state.r);
  callback.search = currentUrl.search;
  let tokens: Awaited<ReturnType<typeof OidcClient.authorizationCodeGrant>>;
  try {
    tokens = await client.authorizationCodeGrant(c, callback, {
      pkceCodeVerifier: state.v,
      expectedState: state.s,
      expectedNonce: state.n,
      idTokenExpected: true,
    });
  } catch (err) {
    throw exchangeRefusal(err);
  }
  const claims = tokens.claims();
  if (!claims?.sub) throw oidcRefused(`The identity provider's ID token was refused: ${CLAIM_WORDS.sub}. ${START_AGAIN}`);
  let profile: Record<string, unknown> = { ...claims };
  // Many IdPs put email and names in the ID token; others only at the userinfo endpoint.
  if (profile.email === undefined && c.serverMetadata().userinfo_endpoint) {
    try {
      profile = { ...(await client.fetchUserInfo(c, tokens.access_token, claims.sub)), ...profile };
    } catch (err) {
      throw oidcRefused(`Your profile could not be read from the identity provider (userinfo). ${START_AGAIN}`, (err as Error).message.slice(0, 500));
    }
  }
  const emailVerified = profile.email_verified === true || profile.email_verified === 'true';

  return prisma.$transaction(async (tx) => {
    const found = await federatedUser(tx, idp, {
      subject: claims.sub,
      email: text(profile.email),
      emailVerified,
      firstName: text(profile.given_name),
      lastName: text(profile.family_name),
    });
    if (!found.ok) throw new OidcRefused(found.reason, undefined, found.failure, found.account);
    await tx.user.update({ where: { tenantId_id: { tenantId: idp.tenantId, id: found.userId } }, data: { lastLoginAt: new Date() } });
    await audit(tx, 'system', {
      tenantId: idp.tenantId,
      action: 'user.oidc_login_accepted',
      targetType: 'user',
      targetId: found.userId,
      details: { idpId: idp.id, subject: claims.sub, how: found.how },
    });
    return { tenantId: idp.tenantId, userId: found.userId, idpId: idp.id, authRequest: state.a, next: state.next };
  });
}
