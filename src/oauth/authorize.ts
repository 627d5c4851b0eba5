import type { Application } from '../generated/prisma/client.js';
import type { Prisma } from '../platform/db.js';
import { randomToken } from '../platform/secrets.js';
import { seal, unseal } from '../platform/sealed.js';
import { invalidRequest, OAuthError } from './errors.js';
import { verifyIdTokenHint } from './id-token-hint.js';
import { deviceReturnPath } from './user-code.js';
import { isValidChallenge } from './pkce.js';
import { PUSHED_REQUEST_LIFETIME_SECONDS, storePushedRequest, takePushedRequest } from './pushed-requests.js';
import { GRANT_AUTHORIZATION_CODE } from './schemas.js';
import { grantableScopes } from './scopes.js';
import { hashToken, type OAuthDeps } from './tokens.js';
import type { ClientKeys } from './client-keys.js';
import { openRequestObject } from './request-object.js';

/** The authorization endpoint's dependencies: the token ones, and the clients' keys for request objects. */
export type AuthorizeDeps = OAuthDeps & { clientKeys: ClientKeys };

export const CODE_LIFETIME_SECONDS = 60;
// How long the hosted login may take between /authorize and the submitted password.
const REQUEST_LIFETIME_SECONDS = 30 * 60;

/** A validated authorization request, carried sealed through the hosted login pages. */
export interface AuthRequest {
  clientId: string;
  applicationId: string;
  tenantId: string;
  redirectUri: string;
  scope: string;
  state?: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  maxAge?: number;
  loginHint?: string;
  prompt?: string;
  /** Requested authentication context classes (./acr.ts), space-separated. */
  acrValues?: string;
  /** The subject of the id_token_hint: the user the client believes is signed in. */
  hintedSubject?: string;
  /**
   * The user code of a device authorization (RFC 8628) that signs in through the same pages:
   * the login ends back at its confirmation page instead of with a code (see ./device.ts).
   */
  device?: string;
  /** RFC 9449 §10: the thumbprint of the DPoP key the code's redemption must prove. */
  dpopJkt?: string;
  exp: number;
}

const AAD = 'authorization-request';

export const sealAuthRequest = (key: Buffer, r: AuthRequest) => seal(key, JSON.stringify(r), AAD);

export function openAuthRequest(key: Buffer, sealed: string | undefined, now = Date.now()): AuthRequest | undefined {
  if (!sealed || sealed.length > 8192) return undefined;
  const plain = unseal(key, sealed, AAD);
  if (!plain) return undefined;
  const r = JSON.parse(plain.toString('utf8')) as AuthRequest;
  return r.exp * 1000 > now ? r : undefined;
}

export type AuthorizeOutcome =
  /** Client or redirect URI not trusted: show an error, never redirect (RFC 6749 4.1.2.1); error for the PAR endpoint. */
  | { kind: 'page'; message: string; error?: string }
  /** An error the client may see, at its redirect URI (`url`); error and description for the PAR endpoint, which answers them as JSON. */
  | { kind: 'redirect'; url: string; error: string; description: string }
  | { kind: 'ok'; app: Application; req: AuthRequest };

export function redirectWith(redirectUri: string, params: Record<string, string | undefined>): string {
  const u = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

function one(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) return '\u0000dup';
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Validates an authorization request, GET or POST (OpenID Connect Core 3.1.2.1, code flow
 * only), or one the client pushed before (RFC 9126 §4: `client_id` and `request_uri` alone),
 * whose stored parameters are then validated again as they are now.
 */
export async function parseAuthorizeRequest(
  deps: AuthorizeDeps,
  query: Record<string, unknown>,
  hostTenantId: string | undefined,
  now = Date.now(),
): Promise<AuthorizeOutcome> {
  return validateAuthorizeRequest(deps, query, hostTenantId, false, now);
}

/**
 * Validates the parameters of a pushed authorization request exactly as the authorization
 * endpoint would, then stores them (RFC 9126 §2). The client is the authenticated one; the
 * parameters may not name another, nor carry a request_uri themselves.
 */
export async function pushAuthorizationRequest(
  deps: AuthorizeDeps,
  client: Application,
  params: Record<string, string>,
  hostTenantId: string | undefined,
  opts: { dpopJkt?: string } = {},
  now = Date.now(),
): Promise<{ request_uri: string; expires_in: number }> {
  if (params.request_uri !== undefined) throw invalidRequest('request_uri cannot be pushed');
  if (params.client_id !== undefined && params.client_id !== client.clientId) throw invalidRequest('client_id does not match the authenticated client');
  let pushed: Record<string, string> = { client_id: client.clientId };
  let spend = async () => true;
  if (params.request !== undefined) {
    // RFC 9101 §6.3 (and RFC 9126 §3): the object's parameters alone make the request.
    const opened = await openRequestObject(deps, client, params.request, now);
    if (!opened.ok) throw new OAuthError('invalid_request_object', opened.description);
    pushed = { ...opened.params, client_id: client.clientId };
    spend = opened.spend;
  } else {
    if (client.requireSignedRequestObject) throw invalidRequest('This application must send its authorization requests as signed request objects (RFC 9101)');
    for (const [k, v] of Object.entries(params)) if (!CLIENT_AUTH_PARAMS.has(k)) pushed[k] = v;
  }
  if (opts.dpopJkt) {
    // RFC 9449 §10: the DPoP proof of the push names the key; a dpop_jkt given too must agree.
    if (pushed.dpop_jkt !== undefined && pushed.dpop_jkt !== opts.dpopJkt)
      throw new OAuthError('invalid_dpop_proof', 'dpop_jkt does not match the key of the DPoP proof');
    pushed.dpop_jkt = opts.dpopJkt;
  }
  const outcome = await validateAuthorizeRequest(deps, pushed, hostTenantId, true, now);
  if (outcome.kind === 'page') throw outcome.error ? new OAuthError(outcome.error, outcome.message) : invalidRequest(outcome.message);
  if (outcome.kind === 'redirect') throw new OAuthError(outcome.error, outcome.description);
  if (!(await spend())) throw new OAuthError('invalid_request_object', 'The request object was already used (jti)');
  const requestUri = await storePushedRequest(deps.prisma, client, pushed, now);
  return { request_uri: requestUri, expires_in: PUSHED_REQUEST_LIFETIME_SECONDS };
}

// Client authentication travels with the push; it is not part of the authorization request.
const CLIENT_AUTH_PARAMS = new Set(['client_secret', 'client_assertion', 'client_assertion_type']);

async function validateAuthorizeRequest(
  deps: AuthorizeDeps,
  query: Record<string, unknown>,
  hostTenantId: string | undefined,
  pushed: boolean,
  now: number,
  signed = false,
): Promise<AuthorizeOutcome> {
  const { prisma, issuer } = deps;
  const clientId = one(query, 'client_id');
  if (!clientId || clientId.length > 200 || clientId.includes('\u0000')) return { kind: 'page', message: 'The application is not known.' };
  const app = await prisma.application.findUnique({ where: { clientId }, include: { tenant: { select: { state: true } } } });
  if (!app || app.tenant.state !== 'active') return { kind: 'page', message: 'The application is not known.' };
  if (!pushed && query.request_uri !== undefined) {
    // Until the stored request is read there is no trusted redirect URI: every refusal is a page.
    const requestUri = one(query, 'request_uri');
    if (!requestUri || requestUri.includes('\u0000')) return { kind: 'page', message: 'invalid_request: request_uri must be given once.' };
    const others = Object.keys(query).filter((k) => k !== 'client_id' && k !== 'request_uri');
    if (others.length)
      return {
        kind: 'page',
        message: `invalid_request: with request_uri, the request is the pushed one; ${others.slice(0, 5).join(', ').slice(0, 200)} cannot be added.`,
      };
    const taken = await takePushedRequest(prisma, app, requestUri, now);
    if (!taken.ok) return { kind: 'page', message: `invalid_request_uri: ${taken.description}.` };
    return validateAuthorizeRequest(deps, taken.params, hostTenantId, true, now);
  }
  if (!pushed && query.request !== undefined) {
    // RFC 9101 §5: a request object by value. Until it is verified there is no trusted redirect URI.
    const jwt = one(query, 'request');
    if (!jwt || jwt.includes('\u0000')) return { kind: 'page', message: 'invalid_request: request must be given once.' };
    if (query.request_uri !== undefined) return { kind: 'page', message: 'invalid_request: request and request_uri cannot be combined.' };
    const opened = await openRequestObject(deps, app, jwt, now);
    if (!opened.ok) return { kind: 'page', message: `invalid_request_object: ${opened.description}.`, error: 'invalid_request_object' };
    const outcome = await validateAuthorizeRequest(deps, { ...opened.params, client_id: clientId }, hostTenantId, false, now, true);
    if (outcome.kind === 'ok' && !(await opened.spend())) {
      return { kind: 'page', message: 'invalid_request_object: The request object was already used (jti).', error: 'invalid_request_object' };
    }
    return outcome;
  }
  const redirectUri = one(query, 'redirect_uri');
  if (!redirectUri || !app.redirectUris.includes(redirectUri)) {
    return { kind: 'page', message: 'The redirect URI is not registered for this application.' };
  }
  if (hostTenantId && hostTenantId !== app.tenantId) return { kind: 'page', message: 'The application does not belong to this organisation.' };

  const state = one(query, 'state');
  const fail = (error: string, description: string): AuthorizeOutcome => ({
    kind: 'redirect',
    url: redirectWith(redirectUri, { error, error_description: description, state: state?.includes('\u0000') ? undefined : state, iss: issuer }),
    error,
    description,
  });
  for (const name of [
    'response_type',
    'scope',
    'state',
    'nonce',
    'code_challenge',
    'code_challenge_method',
    'prompt',
    'max_age',
    'login_hint',
    'id_token_hint',
    'acr_values',
    'dpop_jkt',
  ]) {
    if (one(query, name) === '\u0000dup') return fail('invalid_request', `${name} is repeated`);
  }
  if (app.requireSignedRequestObject && !pushed && !signed) {
    return fail('invalid_request', 'This application must send its authorization requests as signed request objects (RFC 9101)');
  }
  if (app.requirePushedAuthorizationRequests && !pushed) {
    return fail('invalid_request', 'This application must push its authorization requests (RFC 9126)');
  }
  const responseType = one(query, 'response_type');
  if (responseType !== 'code') return fail('unsupported_response_type', 'Only response_type=code is supported');
  if (!app.grantTypes.includes(GRANT_AUTHORIZATION_CODE)) return fail('unauthorized_client', 'The application may not use the authorization code flow');
  const responseMode = one(query, 'response_mode');
  if (responseMode && responseMode !== 'query') return fail('invalid_request', 'Only response_mode=query is supported');

  const challenge = one(query, 'code_challenge');
  const method = one(query, 'code_challenge_method') ?? (challenge ? 'plain' : undefined);
  if (challenge || method) {
    if (method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
    if (!challenge || !isValidChallenge(challenge)) return fail('invalid_request', 'code_challenge must be the base64url SHA-256 of the code verifier');
  } else if (app.clientType === 'public') {
    return fail('invalid_request', 'PKCE (code_challenge with S256) is required for this application');
  }

  const prompt = one(query, 'prompt');
  const prompts = prompt?.split(' ') ?? [];
  if (prompts.includes('none') && prompts.length > 1) return fail('invalid_request', 'prompt=none cannot be combined');
  const maxAgeRaw = one(query, 'max_age');
  let maxAge: number | undefined;
  if (maxAgeRaw !== undefined) {
    if (!/^\d{1,9}$/.test(maxAgeRaw)) return fail('invalid_request', 'max_age must be a non-negative integer');
    maxAge = Number(maxAgeRaw);
  }
  const nonce = one(query, 'nonce');
  if ((state?.length ?? 0) > 1024 || (nonce?.length ?? 0) > 1024) return fail('invalid_request', 'state or nonce is too long');
  const acrValues = one(query, 'acr_values');
  if ((acrValues?.length ?? 0) > 1024) return fail('invalid_request', 'acr_values is too long');
  const scopes = grantableScopes(one(query, 'scope'));
  const loginHint = one(query, 'login_hint');
  const dpopJkt = one(query, 'dpop_jkt');
  // A JWK SHA-256 thumbprint (RFC 7638), base64url: 43 characters.
  if (dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(dpopJkt)) return fail('invalid_request', 'dpop_jkt must be a JWK SHA-256 thumbprint');
  const idTokenHint = one(query, 'id_token_hint');
  const hint = idTokenHint ? await verifyIdTokenHint(deps, idTokenHint) : undefined;
  if (idTokenHint && !hint) return fail('invalid_request', 'id_token_hint is not an ID token of this server');

  return {
    kind: 'ok',
    app,
    req: {
      clientId,
      applicationId: app.id,
      tenantId: app.tenantId,
      redirectUri,
      scope: scopes.join(' '),
      state,
      nonce,
      codeChallenge: challenge,
      codeChallengeMethod: challenge ? 'S256' : undefined,
      maxAge,
      loginHint: loginHint && loginHint.length <= 320 ? loginHint : undefined,
      prompt,
      acrValues,
      hintedSubject: hint?.sub,
      dpopJkt,
      exp: Math.floor(now / 1000) + REQUEST_LIFETIME_SECONDS,
    },
  };
}

/**
 * Issues a single-use code for a signed-in user and returns the redirect to the client. A
 * device authorization's login returns to its confirmation page instead, where the user
 * still has to approve: no code is issued for it.
 */
export async function issueCode(
  prisma: Prisma,
  issuer: string,
  req: AuthRequest,
  login: { userId: string; sessionId: string; authTime: Date; amr: string[] },
  now = new Date(),
): Promise<string> {
  if (req.device) return deviceReturnPath(req.device);
  const code = randomToken(43);
  await prisma.authorizationCode.create({
    data: {
      tenantId: req.tenantId,
      codeHash: hashToken(code),
      applicationId: req.applicationId,
      userId: login.userId,
      sessionId: login.sessionId,
      redirectUri: req.redirectUri,
      codeChallenge: req.codeChallenge ?? null,
      codeChallengeMethod: req.codeChallengeMethod ?? null,
      dpopJkt: req.dpopJkt ?? null,
      scope: req.scope,
      nonce: req.nonce ?? null,
      authTime: login.authTime,
      amr: login.amr,
      expiresAt: new Date(now.getTime() + CODE_LIFETIME_SECONDS * 1000),
    },
  });
  return redirectWith(req.redirectUri, { code, state: req.state, iss: issuer });
}
