import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Application } from '../generated/prisma/client.js';
import { authenticateClient, clientCredentialsOf } from '../oauth/client-auth.js';
import { invalidRequest } from '../oauth/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by clientAuthentication: the endpoint's form parameters and the authenticated client, if any. */
    oauthForm?: { params: Record<string, string>; client: Application | undefined };
  }
}

/** Form parameters as single strings; a repeated parameter is refused (RFC 6749 3.1, 3.2). */
export function formParams(body: unknown): Record<string, string> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object') throw invalidRequest('The body must be application/x-www-form-urlencoded');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (Array.isArray(v)) throw invalidRequest(`${k} is repeated`);
    if (typeof v !== 'string') throw invalidRequest(`${k} must be a string`);
    if (v !== '') out[k] = v;
  }
  return out;
}

function requireForm(request: FastifyRequest) {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) throw invalidRequest('The body must be application/x-www-form-urlencoded');
}

/**
 * The one client-authentication step of the token, introspection and revocation endpoints
 * (src/oauth/client-auth.ts decides): reads the form, runs the endpoint's own parameter
 * check first when it has one, then authenticates the client (Basic or post, RFC 6749
 * 2.3.1; client_secret_jwt and private_key_jwt, RFC 7523 §2.2). The handler reads `request.oauthForm`. Whether a client is required, and of
 * which type, is the endpoint's rule.
 */
export function clientAuthentication(precheck?: (params: Record<string, string>) => void): preHandlerAsyncHookHandler {
  return async (request) => {
    requireForm(request);
    const params = formParams(request.body);
    precheck?.(params);
    const { oauth } = request.server;
    const client = await authenticateClient(request.server.db, clientCredentialsOf(request.headers.authorization, params), oauth.issuer, oauth);
    request.oauthForm = { params, client };
  };
}
