import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import { z } from 'zod';
import { errorHandler } from '../errors.js';
import { parseAuthorizeRequest, issueCode, pushAuthorizationRequest, redirectWith, sealAuthRequest } from '../../oauth/authorize.js';
import { DPOP_ALGS } from '../../oauth/dpop-proof.js';
import { CLIENT_KEY_ALGS } from '../../oauth/client-keys.js';
import { CLIENT_SECRET_JWT_ALGS } from '../../oauth/client-auth.js';
import { REQUEST_OBJECT_ALGS } from '../../oauth/request-object.js';
import { endSession } from '../../oauth/end-session.js';
import { DEVICE_AUTHORIZATION_PATHS, DISCOVERY_PATHS, JWKS_PATHS, PAR_PATHS, TOKEN_ENDPOINT_PATHS, USERINFO_PATHS } from '../../oauth/endpoints.js';
import { startDeviceAuthorization } from '../../oauth/device.js';
import { OAuthError, invalidClient, invalidRequest, unauthorizedClient, unsupportedGrantType } from '../../oauth/errors.js';
import { introspect } from '../../oauth/introspection.js';
import { revokeToken } from '../../oauth/revocation.js';
import { ROLES_CLAIM } from '../../oauth/tokens.js';
import { userInfo } from '../../oauth/userinfo.js';
import { loadSubject } from '../../principals/load.js';
import { ACR_VALUES_SUPPORTED } from '../../oauth/acr.js';
import { judgeSession, type SessionVerdict } from '../../oauth/second-factor.js';
import { loginPolicyOf } from '../../tenants/login-policy.js';
import { sessionOf } from '../../sessions/browser-session.js';
import { messagePage } from '../../ui/pages.js';
import { access, WHO } from '../jsonapi.js';
import { noStore } from '../no-store.js';
import { clientAuthentication, formParams } from '../oauth-client-auth.js';
import { clearSessionCookie, sessionSecretOf } from '../session-cookie.js';
import { tenantFromHost } from '../tenant-host.js';
import { registerRateLimits } from '../rate-limit.js';

const TAG = 'OpenIDConnect';

// The answers of these endpoints, for the document. The schemas accept any value (z.unknown()), so the
// serializer they select writes exactly what the handler returns, as it did without them.
const json = (description: string, shape?: Record<string, unknown>) => ({
  description,
  content: { 'application/json': { schema: shape ? z.unknown().meta(shape) : z.unknown() } },
});
const oauthError = json('An OAuth error (RFC 6749 §5.2); 401 when client authentication failed', {
  type: 'object',
  properties: { error: { type: 'string' }, error_description: { type: 'string' } },
  required: ['error'],
});
const bearerError = (description: string) => ({ ...oauthError, description });
const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });
const redirect = (description: string) => z.null().describe(description);
type Responses = Record<number, unknown>;

/** The OpenAPI entry of an endpoint, `who` saying who may call it; the handler reads and checks its own parameters (forms, RFC errors). */
const doc = (operationId: string, summary: string, who: string, response: Responses) => ({
  tags: [TAG],
  operationId,
  summary,
  description: access([who]),
  security: [],
  response,
});
/** An identity-service path (seed 001): the same handler as ours, its own OpenAPI entry. */
const aliasDoc = (operationId: string, of: string, who: string, response: Responses) =>
  doc(`${operationId}IdentityService`, `Alias of ${of}, at the path of the identity service`, who, response);

const CLIENT =
  'The client, authenticated as registered: client_secret_basic, client_secret_post, client_secret_jwt or private_key_jwt; a public client by its client_id.';
const USERINFO = 'An access token with the openid scope, as a bearer token (or `access_token` in the form).';
const AUTHORIZE = "Public: the user's browser, signed in by the tenant's session or sent to the hosted login page.";
const TOKEN = `${CLIENT} The grant carries the user's or the account's proof (code and PKCE verifier, refresh token, JWT assertion).`;
const PAR = `${CLIENT} The parameters are those of the authorization endpoint, or a signed request object (request, RFC 9101); a DPoP proof (or dpop_jkt) binds the code to its key (RFC 9449 §10).`;
const DEVICE = `${CLIENT} The client must be allowed the grant type urn:ietf:params:oauth:grant-type:device_code.`;
const END_SESSION = "Public: ends the browser's session; id_token_hint or client_id names the client whose registered post_logout_redirect_uri may be used.";

const discoveryResponses = { 200: json('The OpenID Provider metadata') };
const jwksResponses = { 200: json('The JWK Set: the current and the next signing key, and retired keys whose tokens are still valid') };
const authorizeResponses = (status: 302 | 303) => ({
  [status]: redirect("To the client's redirect_uri with a code (or an error the client may see), or to the hosted login page when the user must sign in"),
  400: html('A request that cannot be sent back to the client (unknown client, redirect_uri not registered): a page for the user'),
});
const parResponses = {
  201: json('The request_uri to send to the authorization endpoint with the client_id, and its lifetime in seconds (RFC 9126 §2.2)', {
    type: 'object',
    properties: { request_uri: { type: 'string' }, expires_in: { type: 'integer' } },
    required: ['request_uri', 'expires_in'],
  }),
  400: oauthError,
  401: oauthError,
};
const deviceResponses = {
  200: json('The device code to poll the token endpoint with, the user code and where the user enters it (RFC 8628 §3.2)', {
    type: 'object',
    properties: {
      device_code: { type: 'string' },
      user_code: { type: 'string', example: 'WDJB-MJHT' },
      verification_uri: { type: 'string' },
      verification_uri_complete: { type: 'string' },
      expires_in: { type: 'integer' },
      interval: { type: 'integer' },
    },
    required: ['device_code', 'user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval'],
  }),
  400: oauthError,
  401: oauthError,
};
const tokenResponses = { 200: json('The tokens (RFC 6749 §5.1)'), 400: oauthError, 401: oauthError };
const userinfoResponses = {
  200: json("The user's claims"),
  401: bearerError('No access token, or one that is not valid (WWW-Authenticate names the error)'),
  403: bearerError('The access token lacks the openid scope'),
};
const endSessionResponses = (status: 302 | 303) => ({
  200: html('Signed out, with no post_logout_redirect_uri'),
  [status]: redirect('Signed out: to the registered post_logout_redirect_uri'),
  400: html('A request that cannot be honoured (unknown client, unregistered post_logout_redirect_uri): a page for the user'),
});
const minute = 60_000;
/** Client authentication of every endpoint that has it (RFC 8414 §2), and the algorithms of its assertions. */
const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'];
const CLIENT_AUTH_ALGS = [...CLIENT_KEY_ALGS, ...CLIENT_SECRET_JWT_ALGS];

function bearerOf(request: FastifyRequest, params: Record<string, string>): string | undefined {
  const h = request.headers.authorization;
  const m = h && /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : params.access_token;
}

/** The body of a form POST, as parsed by formbody; undefined for any other content type. */
function formBodyOf(request: FastifyRequest): Record<string, unknown> | undefined {
  if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')) return undefined;
  return request.body && typeof request.body === 'object' ? (request.body as Record<string, unknown>) : {};
}

export default async function oauthRoutes(app: FastifyInstance) {
  await app.register(formbody, { bodyLimit: 65536 });
  await registerRateLimits(app);
  const { prisma } = app.db;
  const deps = app.oauth;
  const iss = app.config.PUBLIC_URL;
  const limit = (max: number) => ({ rateLimit: { max, timeWindow: minute } });

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof OAuthError) {
      // RFC 6749 5.2: a failed Basic authentication is answered with its challenge.
      if (err.status === 401 && /^Basic/i.test(request.headers.authorization ?? '')) reply.header('www-authenticate', 'Basic realm="oauth"');
      return noStore(reply.code(err.status)).send({ error: err.error, error_description: err.description });
    }
    return errorHandler(err as never, request, reply);
  });

  const discovery = async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'public, max-age=300');
    return {
      issuer: iss,
      authorization_endpoint: `${iss}/oauth/v2/authorize`,
      pushed_authorization_request_endpoint: `${iss}${PAR_PATHS[0]}`,
      device_authorization_endpoint: `${iss}${DEVICE_AUTHORIZATION_PATHS[0]}`,
      // Server-wide it is optional; an application may require it (requirePushedAuthorizationRequests).
      require_pushed_authorization_requests: false,
      token_endpoint: `${iss}${TOKEN_ENDPOINT_PATHS[0]}`,
      introspection_endpoint: `${iss}/oauth/v2/introspect`,
      revocation_endpoint: `${iss}/oauth/v2/revoke`,
      userinfo_endpoint: `${iss}${USERINFO_PATHS[0]}`,
      end_session_endpoint: `${iss}/oidc/v1/end_session`,
      jwks_uri: `${iss}${JWKS_PATHS[0]}`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: [...deps.grants.keys()],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      scopes_supported: [
        'openid',
        'profile',
        'email',
        'offline_access',
        'groups',
        'urn:zitadel:iam:org:projects:roles',
        'urn:zitadel:iam:org:project:id:zitadel:aud',
        'urn:zitadel:iam:user:metadata',
      ],
      dpop_signing_alg_values_supported: [...DPOP_ALGS],
      token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS, 'none'],
      token_endpoint_auth_signing_alg_values_supported: CLIENT_AUTH_ALGS,
      introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      introspection_endpoint_auth_signing_alg_values_supported: CLIENT_AUTH_ALGS,
      revocation_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS, 'none'],
      revocation_endpoint_auth_signing_alg_values_supported: CLIENT_AUTH_ALGS,
      code_challenge_methods_supported: ['S256'],
      prompt_values_supported: ['none', 'login'],
      acr_values_supported: ACR_VALUES_SUPPORTED,
      claims_supported: [
        'sub',
        'iss',
        'aud',
        'exp',
        'iat',
        'auth_time',
        'nonce',
        'amr',
        'acr',
        'sid',
        'at_hash',
        'azp',
        'name',
        'given_name',
        'family_name',
        'preferred_username',
        'email',
        'email_verified',
        'tenant_id',
        'group_ids',
        'group_names',
        ROLES_CLAIM,
      ],
      authorization_response_iss_parameter_supported: true,
      // RFC 9101: request objects by value, at the authorization endpoint and at PAR; by
      // reference only as the request_uri of a pushed request.
      request_parameter_supported: true,
      request_object_signing_alg_values_supported: [...REQUEST_OBJECT_ALGS],
      request_uri_parameter_supported: false,
      claims_parameter_supported: false,
    };
  };
  const [discoveryPath, discoveryAlias] = DISCOVERY_PATHS;
  app.get(
    discoveryPath,
    { schema: doc('Discovery', 'Get the OpenID Provider metadata (OpenID Connect Discovery 1.0)', WHO.public, discoveryResponses) },
    discovery,
  );
  app.get(discoveryAlias, { schema: aliasDoc('Discovery', `GET ${discoveryPath}`, WHO.public, discoveryResponses) }, discovery);

  const jwks = async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'public, max-age=300');
    return deps.keys.jwks();
  };
  const [jwksPath, jwksAlias] = JWKS_PATHS;
  app.get(jwksPath, { schema: doc('Keys', 'Get the public signing keys (JWKS)', WHO.public, jwksResponses) }, jwks);
  app.get(jwksAlias, { schema: aliasDoc('Keys', `GET ${jwksPath}`, WHO.public, jwksResponses) }, jwks);

  // OIDC Core 3.1.2.1: the authorization endpoint takes the same request by GET (query) and
  // POST (form). After a POST every redirect is a 303, so the browser follows it with a GET.
  const authorize = async (request: FastifyRequest, reply: FastifyReply, params: Record<string, unknown>) => {
    const status = request.method === 'POST' ? 303 : 302;
    const host = await tenantFromHost(request);
    const outcome = await parseAuthorizeRequest(deps, params, host?.id);
    if (outcome.kind === 'page') return messagePage(reply, 'Sign-in request refused', outcome.message, 400);
    if (outcome.kind === 'redirect') return reply.redirect(outcome.url, status);
    const req = outcome.req;
    const prompts = req.prompt?.split(' ') ?? [];

    const s = await sessionOf(prisma, sessionSecretOf(request), app.config);
    let verdict: SessionVerdict = 'login';
    if (s?.ok && s.session.tenantId === req.tenantId) {
      const subject = await loadSubject(prisma, s.session.tenantId, s.session.userId, 'session', s.session.id);
      // OIDC Core 3.1.2.1: the client expects the hinted user; another user's session is no answer.
      const otherUser = req.hintedSubject !== undefined && req.hintedSubject !== s.session.userId;
      if (subject.ok && !otherUser && !prompts.includes('login')) {
        // max_age, the login policy's check lifetimes and acr_values: re-login, or a second factor first.
        verdict = await judgeSession(prisma, await loginPolicyOf(prisma, req.tenantId), s.session, req);
      }
      if (verdict === 'ok') {
        const url = await issueCode(prisma, iss, req, { userId: s.session.userId, sessionId: s.session.id, authTime: s.session.authTime, amr: s.session.amr });
        return noStore(reply).redirect(url, status);
      }
    }
    if (prompts.includes('none')) {
      const error = verdict === 'step-up' ? 'interaction_required' : 'login_required';
      return reply.redirect(redirectWith(req.redirectUri, { error, error_description: 'The user must sign in', state: req.state, iss }), status);
    }
    const r = encodeURIComponent(sealAuthRequest(app.masterKey, { ...req, prompt: undefined }));
    return reply.redirect(verdict === 'step-up' ? `/ui/login/step-up?r=${r}` : `/ui/login?r=${r}`, status);
  };
  const authorizeConfig = { config: limit(app.config.RATE_LIMIT_AUTHORIZE) };
  app.get(
    '/oauth/v2/authorize',
    { ...authorizeConfig, schema: doc('Authorize', 'Start an authorization (query): code flow with PKCE', AUTHORIZE, authorizeResponses(302)) },
    (request, reply) => authorize(request, reply, request.query as Record<string, unknown>),
  );
  app.post(
    '/oauth/v2/authorize',
    { ...authorizeConfig, schema: doc('AuthorizePost', 'Start an authorization (form), as GET', AUTHORIZE, authorizeResponses(303)) },
    async (request, reply) => {
      const params = formBodyOf(request);
      if (!params) return messagePage(reply, 'Sign-in request refused', 'The request must be a form (application/x-www-form-urlencoded).', 400);
      return authorize(request, reply, params);
    },
  );

  /** The key of the request's DPoP proof, if it carries one; a bad proof is refused, never ignored. */
  const dpopKeyOf = async (request: FastifyRequest, reply: FastifyReply): Promise<string | undefined> => {
    if (request.headers.dpop === undefined) return undefined;
    const proof = await deps.dpop.verify(request.headers.dpop, { method: 'POST', url: `${iss}${request.routeOptions.url}` });
    if (!proof.ok) {
      if (proof.nonce) reply.header('dpop-nonce', proof.nonce);
      throw new OAuthError(proof.error, proof.description);
    }
    return proof.jkt;
  };

  // RFC 9126: the client pushes the parameters of its authorization request, authenticated as at
  // the token endpoint, and gets a short-lived, single-use request_uri for the browser.
  const par = async (request: FastifyRequest, reply: FastifyReply) => {
    const { params, client } = request.oauthForm!;
    if (!client) throw invalidClient('Client authentication is required');
    const host = await tenantFromHost(request);
    // RFC 9449 §10: a DPoP proof with the push binds the code to its key.
    const dpopJkt = await dpopKeyOf(request, reply);
    return noStore(reply.code(201)).send(await pushAuthorizationRequest(deps, client, params, host?.id, { dpopJkt }));
  };
  const parOptions = { config: limit(app.config.RATE_LIMIT_AUTHORIZE), preHandler: clientAuthentication() };
  const [parPath, parAlias] = PAR_PATHS;
  app.post(parPath, { ...parOptions, schema: doc('PushAuthorizationRequest', 'Push an authorization request (RFC 9126)', PAR, parResponses) }, par);
  app.post(parAlias, { ...parOptions, schema: aliasDoc('PushAuthorizationRequest', `POST ${parPath}`, PAR, parResponses) }, par);

  // RFC 8628 §3.1: a device (a CLI, a TV) asks for a user code to show; it then polls the token endpoint.
  const deviceSettings = { lifetimeSeconds: app.config.DEVICE_CODE_LIFETIME_SECONDS, intervalSeconds: app.config.DEVICE_CODE_INTERVAL_SECONDS };
  const deviceAuthorization = async (request: FastifyRequest, reply: FastifyReply) => {
    const { params, client } = request.oauthForm!;
    if (!client) throw invalidClient('Client authentication is required');
    const host = await tenantFromHost(request);
    if (host && host.id !== client.tenantId) throw invalidRequest('The application does not belong to this organisation');
    return noStore(reply).send(await startDeviceAuthorization(deps, client, params, deviceSettings));
  };
  const deviceOptions = { config: limit(app.config.RATE_LIMIT_AUTHORIZE), preHandler: clientAuthentication() };
  const [devicePath, deviceAlias] = DEVICE_AUTHORIZATION_PATHS;
  app.post(
    devicePath,
    { ...deviceOptions, schema: doc('DeviceAuthorization', 'Start a device authorization (RFC 8628)', DEVICE, deviceResponses) },
    deviceAuthorization,
  );
  app.post(deviceAlias, { ...deviceOptions, schema: aliasDoc('DeviceAuthorization', `POST ${devicePath}`, DEVICE, deviceResponses) }, deviceAuthorization);

  // Every grant revokes only on its error paths (code replay, refresh reuse), so a
  // successful answer has nothing to wait for.
  const requireGrantType = (params: Record<string, string>) => {
    if (!params.grant_type) throw invalidRequest('grant_type is required');
  };
  const tokenOptions = {
    config: { ...limit(app.config.RATE_LIMIT_TOKEN), cacheNeutral: true },
    preHandler: clientAuthentication(requireGrantType),
  };
  const token = async (request: FastifyRequest, reply: FastifyReply) => {
    const { params, client } = request.oauthForm!;
    const grantType = params.grant_type!;
    const handler = deps.grants.get(grantType);
    if (!handler) throw unsupportedGrantType(`grant_type ${grantType} is not supported`);
    if (handler.requiresClient && !client) throw invalidClient('Client authentication is required');
    if (client && !client.grantTypes.includes(grantType)) throw unauthorizedClient(`The client may not use ${grantType}`);
    // RFC 9449 §5: a DPoP proof binds the tokens to its key.
    const dpopJkt = await dpopKeyOf(request, reply);
    const tokens = await handler.handle({
      deps,
      pool: app.db.pool,
      standingGrants: deps.standingGrants,
      invalidated: () => {
        request.settleInvalidations = true;
      },
      params,
      client,
      now: new Date(),
      origin: { requestId: request.id, clientAddress: request.ip },
      dpopJkt,
    });
    return noStore(reply).send(tokens);
  };
  const [tokenPath, tokenAlias] = TOKEN_ENDPOINT_PATHS;
  app.post(tokenPath, { ...tokenOptions, schema: doc('Token', 'Issue tokens (form): every grant type of discovery', TOKEN, tokenResponses) }, token);
  app.post(tokenAlias, { ...tokenOptions, schema: aliasDoc('Token', `POST ${tokenPath}`, TOKEN, tokenResponses) }, token);

  app.post(
    '/oauth/v2/introspect',
    {
      schema: doc('Introspect', 'Introspect a token (RFC 7662)', 'A confidential client, authenticated as registered.', {
        200: json('The token\'s state and claims; `{ "active": false }` for any token that is not valid'),
        400: oauthError,
        401: oauthError,
      }),
      config: { ...limit(app.config.RATE_LIMIT_TOKEN), cacheNeutral: true },
      preHandler: clientAuthentication(),
    },
    async (request, reply) => {
      const { params, client } = request.oauthForm!;
      // RFC 7662 2.1: the caller must authenticate; a public client's id proves nothing.
      if (!client || client.clientType !== 'confidential') throw invalidClient('Introspection requires an authenticated confidential client');
      if (!params.token) throw invalidRequest('token is required');
      noStore(reply);
      return introspect(deps, client, params.token);
    },
  );

  app.post(
    '/oauth/v2/revoke',
    {
      schema: doc('Revoke', 'Revoke a token (RFC 7009)', CLIENT, {
        200: z.null().describe('Revoked, or the token was not valid anyway (RFC 7009 §2.2)'),
        400: oauthError,
        401: oauthError,
      }),
      config: limit(app.config.RATE_LIMIT_TOKEN),
      preHandler: clientAuthentication(),
    },
    async (request, reply) => {
      const { params, client } = request.oauthForm!;
      if (!client) throw invalidClient('Client authentication is required');
      if (!params.token) throw invalidRequest('token is required');
      await revokeToken(deps, client, params.token);
      return noStore(reply.code(200)).send();
    },
  );

  const userinfo = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = request.method === 'POST' && request.body && typeof request.body === 'object' ? formParams(request.body) : {};
    const dpop = /^DPoP\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const token = dpop ? dpop[1] : bearerOf(request, params);
    if (!token) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'invalid_token', error_description: 'An access token is required' });
    const result = await userInfo(deps, token);
    if (!result.ok) {
      return reply
        .code(result.status)
        .header('www-authenticate', `${dpop ? 'DPoP' : 'Bearer'} error="${result.error}", error_description="${result.description}"`)
        .send({ error: result.error, error_description: result.description });
    }
    // RFC 9449 §7: a bound token only with the DPoP scheme and a proof of its key; an unbound one only as Bearer.
    if (result.jkt || dpop) {
      const refuse = (error: string, description: string, nonce?: string) => {
        if (nonce) reply.header('dpop-nonce', nonce);
        return reply
          .code(401)
          .header('www-authenticate', `DPoP algs="${DPOP_ALGS.join(' ')}", error="${error}", error_description="${description}"`)
          .send({ error, error_description: description });
      };
      if (!result.jkt) return refuse('invalid_token', 'The access token is not DPoP-bound: send it as a bearer token');
      if (!dpop) return refuse('invalid_token', 'The access token is DPoP-bound: send it with the DPoP scheme and a proof');
      const proof = await deps.dpop.verify(request.headers.dpop, { method: request.method, url: `${iss}${request.routeOptions.url}`, accessToken: token });
      if (!proof.ok) return refuse(proof.error, proof.description, proof.nonce);
      if (proof.jkt !== result.jkt) return refuse('invalid_dpop_proof', 'The proof is not signed by the key the access token is bound to');
    }
    return noStore(reply).send(result.claims);
  };
  const [userinfoPath, userinfoAlias] = USERINFO_PATHS;
  app.get(userinfoPath, { schema: doc('UserInfo', 'Get the claims of the signed-in user (OIDC Core 5.3)', USERINFO, userinfoResponses) }, userinfo);
  app.post(
    userinfoPath,
    { schema: doc('UserInfoPost', 'Get the claims of the signed-in user (OIDC Core 5.3), token in the form or header', USERINFO, userinfoResponses) },
    userinfo,
  );
  app.get(userinfoAlias, { schema: aliasDoc('UserInfo', `GET ${userinfoPath}`, USERINFO, userinfoResponses) }, userinfo);
  app.post(userinfoAlias, { schema: aliasDoc('UserInfoPost', `POST ${userinfoPath}`, USERINFO, userinfoResponses) }, userinfo);

  // RP-Initiated Logout 1.0 §2: the same request by GET (query) and POST (form).
  const endSessionOf = async (request: FastifyRequest, reply: FastifyReply, q: Record<string, unknown>) => {
    const str = (n: string) => (typeof q[n] === 'string' && q[n] !== '' ? (q[n] as string) : undefined);
    const result = await endSession(
      { ...deps, config: app.config },
      {
        postLogoutRedirectUri: str('post_logout_redirect_uri'),
        clientId: str('client_id'),
        idTokenHint: str('id_token_hint'),
        state: str('state'),
        sessionSecret: sessionSecretOf(request),
        origin: { requestId: request.id, clientAddress: request.ip },
      },
    );
    if (!result.ok) return messagePage(reply, 'Sign-out refused', result.message, 400);
    clearSessionCookie(reply, app.config);
    if (result.redirect) return reply.redirect(result.redirect, request.method === 'POST' ? 303 : 302);
    return messagePage(reply, 'Signed out', 'You are signed out.');
  };
  app.get(
    '/oidc/v1/end_session',
    { schema: doc('EndSession', 'Sign out (RP-initiated logout, query)', END_SESSION, endSessionResponses(302)) },
    (request, reply) => endSessionOf(request, reply, request.query as Record<string, unknown>),
  );
  app.post(
    '/oidc/v1/end_session',
    { schema: doc('EndSessionPost', 'Sign out (RP-initiated logout, form), as GET', END_SESSION, endSessionResponses(303)) },
    async (request, reply) => {
      const params = formBodyOf(request);
      if (!params) return messagePage(reply, 'Sign-out refused', 'The request must be a form (application/x-www-form-urlencoded).', 400);
      // A cross-site form POST arrives without the SameSite=Lax session cookie: the session
      // could not be ended. The same request as a GET navigation carries the cookie.
      if (!sessionSecretOf(request)) {
        const query = new URLSearchParams();
        for (const [k, v] of Object.entries(params)) if (typeof v === 'string') query.set(k, v);
        return reply.redirect(`/oidc/v1/end_session?${query.toString()}`, 303);
      }
      return endSessionOf(request, reply, params);
    },
  );
}
