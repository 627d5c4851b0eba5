import type { Prisma } from '../platform/db.js';
import { loadSubject } from '../principals/load.js';
import type { Verification } from '../principals/principal.js';
import { looksLikeJwt, OPAQUE_ACCESS_PREFIX, verifyAccessTokenJwt, verifyOpaqueToken, type OAuthDeps } from '../oauth/tokens.js';
import { sessionOf, type SessionSettings } from './browser-session.js';

// How each kind of credential is verified, from the credential itself. Which request
// carries which, and the order they are tried in, is the HTTP layer's credentials module (credentials.ts there).

/** A JWT access token of ours (RFC 9068); undefined when the token is not a JWT. */
export async function verifyJwtAccessToken(deps: OAuthDeps, token: string): Promise<Verification | undefined> {
  if (!looksLikeJwt(token)) return undefined;
  const check = await verifyAccessTokenJwt(deps, token);
  if (!check.ok) return check;
  const v = await loadSubject(deps.prisma, check.claims.tenant_id, check.claims.sub, 'jwt', check.claims.jti);
  if (v.ok) {
    v.principal.expiresAt = new Date(check.claims.exp * 1000);
    v.principal.grantId = check.claims.gid;
    if (typeof check.claims.cnf?.jkt === 'string') v.principal.jkt = check.claims.cnf.jkt;
  }
  return v;
}

/** An opaque access token; undefined when the token is not one. */
export async function verifyOpaqueAccessToken(prisma: Prisma, token: string): Promise<Verification | undefined> {
  if (!token.startsWith(OPAQUE_ACCESS_PREFIX)) return undefined;
  const check = await verifyOpaqueToken(prisma, token, 'access');
  if (!check.ok) return check;
  const subjectId = check.grant.userId ?? check.grant.serviceAccountId;
  if (!subjectId) return { ok: false, reason: 'unknown' };
  const v = await loadSubject(prisma, check.token.tenantId, subjectId, 'opaque', check.token.id);
  if (v.ok) {
    v.principal.expiresAt = check.token.expiresAt;
    v.principal.grantId = check.grant.id;
    if (check.token.dpopJkt) v.principal.jkt = check.token.dpopJkt;
  }
  return v;
}

/** A browser session by its secret (the cookie's value); undefined when there is none. */
export async function verifySession(prisma: Prisma, secret: string | undefined, s: SessionSettings): Promise<Verification | undefined> {
  const check = await sessionOf(prisma, secret, s);
  if (!check) return undefined;
  if (!check.ok) return check;
  const session = check.session;
  const v = await loadSubject(prisma, session.tenantId, session.userId, 'session', session.id);
  // Valid until the absolute timeout, or the idle timeout counted from the last recorded
  // use (at most a minute old), whichever comes first: a cached answer never outlives it.
  if (v.ok) {
    v.principal.expiresAt = new Date(Math.min(session.expiresAt.getTime(), Date.now() + (s.SESSION_IDLE_SECONDS - 60) * 1000));
    v.principal.authentication = { amr: session.amr, authTime: session.authTime };
  }
  return v;
}

/** The identity a trusted proxy forwards after authenticating the caller itself. */
export function verifyForwardedIdentity(prisma: Prisma, tenantId: string, userId: string, proxyAddress: string | undefined): Promise<Verification> {
  return loadSubject(prisma, tenantId, userId, 'proxy', `proxy:${proxyAddress}`);
}
