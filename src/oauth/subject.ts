import type { Prisma } from '../platform/db.js';
import { groupClaims } from './group-claims.js';
import { loadSubject } from '../principals/load.js';
import type { Principal, Refusal } from '../principals/principal.js';
import type { TokenSubject } from './tokens.js';

export const toTokenSubject = (p: Principal): TokenSubject => ({
  kind: p.kind,
  tenantId: p.tenantId,
  subjectId: p.subjectId,
  username: p.username,
  roles: p.roles,
  groups: p.groups,
});

/** The subject as it is now (roles, state), or why no token may be issued for it. */
export async function currentSubject(prisma: Prisma, tenantId: string, subjectId: string, credentialId: string): Promise<TokenSubject | Refusal> {
  const v = await loadSubject(prisma, tenantId, subjectId, 'jwt', credentialId);
  return v.ok ? toTokenSubject(v.principal) : v.reason;
}

/** Claims about a user for ID tokens and userinfo, by scope (OpenID Connect Core 5.4; `groups`: group ids and names). */
export async function userClaims(prisma: Prisma, tenantId: string, userId: string, scope: string): Promise<Record<string, unknown>> {
  const user = await prisma.user.findUnique({ where: { tenantId_id: { tenantId, id: userId } } });
  if (!user) return {};
  const scopes = scope.split(' ');
  const claims: Record<string, unknown> = {};
  if (scopes.includes('profile')) {
    Object.assign(claims, {
      name: [user.firstName, user.lastName].filter(Boolean).join(' ') || user.username,
      given_name: user.firstName || undefined,
      family_name: user.lastName || undefined,
      preferred_username: user.username,
      updated_at: Math.floor(user.updatedAt.getTime() / 1000),
    });
  }
  if (scopes.includes('email')) Object.assign(claims, { email: user.email, email_verified: false });
  if (scopes.includes('groups')) Object.assign(claims, await groupClaims(prisma, tenantId, userId));
  return Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
}
