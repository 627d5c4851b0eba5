import type { Application } from '../generated/prisma/client.js';
import { loadSubject } from '../principals/load.js';
import { looksLikeJwt, OPAQUE_ACCESS_PREFIX, REFRESH_PREFIX, verifyAccessTokenJwt, verifyOpaqueToken, type OAuthDeps } from './tokens.js';

/** RFC 7662 2.2: the answer about a token; `{ active: false }` tells nothing more. */
export type IntrospectionResponse = { active: false } | ({ active: true } & Record<string, unknown>);

const INACTIVE = { active: false } as const;

/**
 * Token introspection (RFC 7662) for an authenticated confidential client: a token of
 * another tenant, a used refresh token or a subject that can no longer sign in is inactive.
 */
export async function introspect(deps: OAuthDeps, client: Application, token: string): Promise<IntrospectionResponse> {
  const { prisma } = deps;
  if (looksLikeJwt(token)) {
    const check = await verifyAccessTokenJwt(deps, token);
    if (!check.ok || check.claims.tenant_id !== client.tenantId) return INACTIVE;
    const v = await loadSubject(prisma, check.claims.tenant_id, check.claims.sub, 'jwt', check.claims.jti);
    if (!v.ok) return INACTIVE;
    const c = check.claims;
    const jkt = typeof c.cnf?.jkt === 'string' ? c.cnf.jkt : undefined;
    return {
      active: true,
      // RFC 9449 §6.2: a bound token is told as such, with its key.
      token_type: jkt ? 'DPoP' : 'Bearer',
      ...(jkt ? { cnf: { jkt } } : {}),
      // RFC 8693 §4.1: an exchanged token tells who acts for its subject.
      ...(c.act ? { act: c.act } : {}),
      scope: c.scope,
      client_id: c.client_id,
      username: v.principal.username,
      sub: c.sub,
      aud: c.aud,
      iss: c.iss,
      exp: c.exp,
      iat: c.iat,
      nbf: c.nbf,
      jti: c.jti,
      tenant_id: c.tenant_id,
      roles: v.principal.roles,
    };
  }
  const kind = token.startsWith(REFRESH_PREFIX) ? 'refresh' : token.startsWith(OPAQUE_ACCESS_PREFIX) ? 'access' : undefined;
  if (!kind) return INACTIVE;
  const check = await verifyOpaqueToken(prisma, token, kind);
  if (!check.ok || check.token.tenantId !== client.tenantId) return INACTIVE;
  const row = await prisma.oAuthToken.findUnique({ where: { id: check.token.id }, select: { usedAt: true, createdAt: true } });
  if (row?.usedAt) return INACTIVE;
  const subjectId = check.grant.userId ?? check.grant.serviceAccountId;
  const v = subjectId ? await loadSubject(prisma, check.token.tenantId, subjectId, 'opaque', check.token.id) : undefined;
  if (!v?.ok) return INACTIVE;
  const owner = check.grant.applicationId
    ? await prisma.application.findUnique({ where: { id: check.grant.applicationId }, select: { clientId: true } })
    : null;
  return {
    active: true,
    token_type: kind === 'refresh' ? 'refresh_token' : check.token.dpopJkt ? 'DPoP' : 'Bearer',
    ...(check.token.dpopJkt ? { cnf: { jkt: check.token.dpopJkt } } : {}),
    scope: check.token.scope,
    client_id: owner?.clientId,
    username: v.principal.username,
    sub: subjectId,
    iss: deps.issuer,
    exp: Math.floor(check.token.expiresAt.getTime() / 1000),
    iat: row ? Math.floor(row.createdAt.getTime() / 1000) : undefined,
    tenant_id: check.token.tenantId,
    roles: v.principal.roles,
  };
}
