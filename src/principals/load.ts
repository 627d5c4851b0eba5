import type { Prisma } from '../platform/db.js';
import { isUuid } from '../platform/ids.js';
import type { CredentialKind, Verification } from './principal.js';

/**
 * Loads the principal of a user or service account as it is now (roles, groups,
 * state), for credentials that name a subject: sessions, tokens, proxy assertions.
 */
export async function loadSubject(
  prisma: Prisma,
  tenantId: string,
  subjectId: string,
  credential: CredentialKind,
  credentialId: string,
  now = new Date(),
): Promise<Verification> {
  if (!isUuid(subjectId) || !isUuid(tenantId)) return { ok: false, reason: 'unknown' };
  const user = await prisma.user.findUnique({
    where: { tenantId_id: { tenantId, id: subjectId } },
    include: {
      tenant: { select: { state: true } },
      roles: { select: { roleName: true } },
      memberships: { select: { groupId: true, group: { select: { roles: { select: { roleName: true } } } } } },
    },
  });
  if (user) {
    if (user.tenant.state !== 'active') return { ok: false, reason: 'tenant_disabled' };
    if (user.state === 'locked' || user.state === 'inactive') return { ok: false, reason: 'locked' };
    const roles = new Set(user.roles.map((r) => r.roleName));
    for (const m of user.memberships) for (const r of m.group.roles) roles.add(r.roleName);
    return {
      ok: true,
      principal: {
        kind: 'user',
        credential,
        credentialId,
        tenantId,
        subjectId,
        username: user.username,
        roles: [...roles],
        groups: user.memberships.map((m) => m.groupId),
      },
    };
  }
  const sa = await prisma.serviceAccount.findUnique({
    where: { tenantId_id: { tenantId, id: subjectId } },
    include: { tenant: { select: { state: true } }, roles: { select: { roleName: true } } },
  });
  if (!sa) return { ok: false, reason: 'unknown' };
  if (sa.tenant.state !== 'active') return { ok: false, reason: 'tenant_disabled' };
  if (sa.expirationDate && sa.expirationDate <= now) return { ok: false, reason: 'expired' };
  return {
    ok: true,
    principal: {
      kind: 'serviceaccount',
      credential,
      credentialId,
      tenantId,
      subjectId,
      username: sa.username,
      roles: sa.roles.map((r) => r.roleName),
      groups: [],
      expiresAt: sa.expirationDate ?? undefined,
    },
  };
}
