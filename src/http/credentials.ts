import type { FastifyInstance, FastifyRequest } from 'fastify';
import { verifyPat } from '../principals/verify-pat.js';
import { looksLikePat } from '../principals/pat.js';
import type { Verification } from '../principals/principal.js';
import { verifyForwardedIdentity, verifyJwtAccessToken, verifyOpaqueAccessToken } from '../sessions/credentials.js';
import { forwardedCert } from './plugins/pki.js';

/**
 * One kind of credential: where the request carries it, handed to its verification
 * (src/sessions/credentials.ts, principals/verify-pat.ts, the PKI service). Returns
 * undefined when the request does not carry this kind, so the next one is tried.
 */
export type Authenticator = (app: FastifyInstance, request: FastifyRequest) => Promise<Verification | undefined>;

/**
 * The token of the Authorization header, with the Bearer or the DPoP scheme (RFC 9449 §7.1; which
 * one a token needs is checked once it is verified): undefined without the header, '' for another scheme.
 */
export function bearerToken(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (!h) return undefined;
  const m = /^(?:Bearer|DPoP)[ ]+(\S+)\s*$/i.exec(h);
  return m ? m[1] : '';
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const pat: Authenticator = async (app, request) => {
  const token = bearerToken(request);
  if (token === undefined || !looksLikePat(token)) return undefined;
  return verifyPat(app.db.prisma, token, undefined, { requestId: request.id, clientAddress: request.ip });
};

// A trusted proxy that has already authenticated the caller forwards its identity.
const forwardedIdentity: Authenticator = async (app, request) => {
  if (request.headers.authorization || !app.isTrustedProxy(request)) return undefined;
  const userId = single(request.headers['x-forwarded-user-id']);
  const tenantId = single(request.headers['x-forwarded-tenant-id']);
  if (!userId || !tenantId) return undefined;
  return verifyForwardedIdentity(app.db.prisma, tenantId, userId, request.socket.remoteAddress);
};

const jwtAccessToken: Authenticator = async (app, request) => {
  const token = bearerToken(request);
  return token ? verifyJwtAccessToken(app.oauth, token) : undefined;
};

const opaqueAccessToken: Authenticator = async (app, request) => {
  const token = bearerToken(request);
  return token ? verifyOpaqueAccessToken(app.db.prisma, token) : undefined;
};

// The cookie counts only when no Authorization header names another credential.
const sessionCookie: Authenticator = async (app, request) => (request.headers.authorization ? undefined : app.authenticateSession(request));

// Client certificates as API credentials (RenewCerts needs them); tried after bearer tokens.
const clientCertificate: Authenticator = async (app, request) => {
  if (request.headers.authorization) return undefined;
  const cert = forwardedCert(request);
  return cert ? app.cachedVerification('c', cert, () => app.pki.verifyClientCert(cert)) : undefined;
};

/**
 * Every credential the API accepts, in the order they are tried: the first that
 * recognises its kind of credential decides. app.authenticate (plugins/auth.ts) walks
 * this list behind the credential cache.
 */
export const AUTHENTICATORS: readonly Authenticator[] = [pat, forwardedIdentity, jwtAccessToken, opaqueAccessToken, sessionCookie, clientCertificate];
