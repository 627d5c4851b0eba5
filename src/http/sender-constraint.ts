import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DPOP_ALGS } from '../oauth/dpop-proof.js';
import type { Verification } from '../principals/principal.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route judges a credential for another request, which a trusted proxy describes in
     * X-Forwarded-Method, -Proto, -Host and -Uri (validate-token): a DPoP proof names that one.
     */
    proxiedRequest?: boolean;
  }
  interface FastifyRequest {
    /** Why a DPoP-bound (or DPoP-presented) token was refused: the 401's challenge, and a nonce to use. */
    dpopRefusal?: { challenge: string; nonce?: string };
  }
}

const UNKNOWN = { ok: false, reason: 'unknown' } as const;

function refuse(request: FastifyRequest, error: string, description: string, nonce?: string): Verification {
  request.dpopRefusal = { challenge: `DPoP algs="${DPOP_ALGS.join(' ')}", error="${error}", error_description="${description}"`, nonce };
  return UNKNOWN;
}

function one(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v?.split(',')[0]!.trim() || undefined;
}

/** The method and URL a proof must name: the proxied request's, or this one's at its public address. */
function targetOf(app: FastifyInstance, request: FastifyRequest): { method: string; url: string } | undefined {
  if (request.routeOptions.config.proxiedRequest && app.isTrustedProxy(request)) {
    const h = request.headers;
    const [method, proto, host, uri] = [one(h['x-forwarded-method']), one(h['x-forwarded-proto']), one(h['x-forwarded-host']), one(h['x-forwarded-uri'])];
    if (!method || !proto || !host || !uri?.startsWith('/')) return undefined;
    return { method, url: `${proto}://${host}${uri}` };
  }
  return { method: request.method, url: `${app.config.PUBLIC_URL}${request.url}` };
}

/**
 * RFC 9449 §7.1 for a verified access token: a DPoP-bound one counts only under the DPoP scheme
 * with a proof of its key for this request (htm, htu, ath, fresh, first use); an unbound one only
 * as a bearer token. A bearer token without cnf passes with one character compared.
 */
export async function checkSender(app: FastifyInstance, request: FastifyRequest, token: string, v: Verification): Promise<Verification> {
  if (!v.ok) return v;
  // The header matched "Bearer ..." or "DPoP ...": its first letter tells which.
  const dpopScheme = (request.headers.authorization!.charCodeAt(0) | 0x20) === 0x64;
  const jkt = v.principal.jkt;
  if (!jkt) return dpopScheme ? refuse(request, 'invalid_token', 'The access token is not DPoP-bound: send it as a bearer token') : v;
  if (!dpopScheme) return refuse(request, 'invalid_token', 'The access token is DPoP-bound: send it with the DPoP scheme and a proof');
  const target = targetOf(app, request);
  if (!target) return refuse(request, 'invalid_dpop_proof', 'The proxy did not forward the method and URI of the request');
  const proof = await app.oauth.dpop.verify(request.headers.dpop, { ...target, accessToken: token });
  if (!proof.ok) return refuse(request, proof.error, proof.description, proof.nonce);
  if (proof.jkt !== jkt) return refuse(request, 'invalid_dpop_proof', 'The proof is not signed by the key the access token is bound to');
  return v;
}
