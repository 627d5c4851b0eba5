import { loadSubject } from '../principals/load.js';
import { groupClaims } from './group-claims.js';
import { hasScope } from './scopes.js';
import { userClaims } from './subject.js';
import { looksLikeJwt, OPAQUE_ACCESS_PREFIX, ROLES_CLAIM, rolesClaim, verifyAccessTokenJwt, verifyOpaqueToken, type OAuthDeps } from './tokens.js';

/** The UserInfo answer (OIDC Core 5.3), or the bearer-token error to challenge with (RFC 6750 3.1). */
export type UserInfoResult =
  /** jkt: the DPoP key the token is bound to; the caller must see a proof of it (RFC 9449 §7). */
  | { ok: true; claims: Record<string, unknown>; jkt?: string }
  | { ok: false; error: 'invalid_token' | 'insufficient_scope'; description: string; status: 401 | 403 };

const invalidToken: UserInfoResult = { ok: false, error: 'invalid_token', description: 'The access token is not valid', status: 401 };

/** The claims of the user an access token with the openid scope was issued for. */
export async function userInfo(deps: OAuthDeps, token: string): Promise<UserInfoResult> {
  const { prisma } = deps;
  let tenantId: string, subjectId: string, scope: string;
  let jkt: string | undefined;
  if (looksLikeJwt(token)) {
    const check = await verifyAccessTokenJwt(deps, token);
    if (!check.ok) return invalidToken;
    ({ tenant_id: tenantId, sub: subjectId } = check.claims);
    scope = check.claims.scope ?? '';
    if (typeof check.claims.cnf?.jkt === 'string') jkt = check.claims.cnf.jkt;
  } else if (token.startsWith(OPAQUE_ACCESS_PREFIX)) {
    const check = await verifyOpaqueToken(prisma, token, 'access');
    if (!check.ok || !check.grant.userId) return invalidToken;
    tenantId = check.token.tenantId;
    subjectId = check.grant.userId;
    scope = check.token.scope;
    jkt = check.token.dpopJkt ?? undefined;
  } else return invalidToken;
  if (!hasScope(scope, 'openid')) return { ok: false, error: 'insufficient_scope', description: 'The openid scope is required', status: 403 };
  const v = await loadSubject(prisma, tenantId, subjectId, 'jwt', 'userinfo');
  if (!v.ok || v.principal.kind !== 'user') return invalidToken;
  // Seed 001: userinfo tells the user's groups (ids and names) whatever the scope.
  const claims: Record<string, unknown> = {
    sub: subjectId,
    tenant_id: tenantId,
    ...(await groupClaims(prisma, tenantId, subjectId)),
    ...(await userClaims(prisma, tenantId, subjectId, scope)),
  };
  if (hasScope(scope, 'urn:zitadel:iam:org:projects:roles')) claims[ROLES_CLAIM] = rolesClaim(tenantId, v.principal.roles);
  return { ok: true, claims, jkt };
}
