import type { Prisma } from '../platform/db.js';
import type { Argon2Params } from '../platform/passwords.js';
import type { Principal } from '../principals/principal.js';
import { ScimError } from './errors.js';
import { SKYLIGHT_ADMIN } from '../principals/principal.js';
import { versionOf } from './resources.js';

/** A SCIM request acts for one tenant: the one of the calling service account. */
export interface ScimContext {
  prisma: Prisma;
  principal: Principal;
  tenantId: string;
  requestId: string;
  /** Absolute base URL of the SCIM endpoint, for meta.location and $ref. */
  base: string;
  argon: Argon2Params;
}

/** If-Match (RFC 7644 §3.14): refuse the write when the client's version is stale. */
export function checkIfMatch(ifMatch: string | undefined, row: { updatedAt: Date }) {
  if (!ifMatch || ifMatch.trim() === '*') return;
  const current = versionOf(row).replace(/^W\//, '');
  const offered = ifMatch.split(',').map((s) => s.trim().replace(/^W\//, ''));
  if (!offered.includes(current)) throw new ScimError(412, 'The resource was modified since the version named in If-Match');
}

export const sqlLock = {
  user: (tx: Pick<Prisma, "$queryRaw">, tenantId: string, id: string) =>
    tx.$queryRaw`SELECT 1 FROM "User" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid FOR UPDATE`,
  group: (tx: Pick<Prisma, "$queryRaw">, tenantId: string, id: string) =>
    tx.$queryRaw`SELECT 1 FROM "UserGroup" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid FOR UPDATE`,
};

/**
 * Only a skylight-admin may change a skylight-admin, or the membership of a group that
 * grants skylight-admin: otherwise a tenant-admin of the operator tenant could promote
 * itself, or lock the operators out, through SCIM.
 */
export async function guardOperatorRole(
  tx: Pick<Prisma, 'roleAssignment' | 'groupMembership'>,
  ctx: ScimContext,
  target: { userId?: string; groupId?: string },
) {
  if (ctx.principal.roles.includes(SKYLIGHT_ADMIN)) return;
  const { tenantId } = ctx;
  let held = false;
  if (target.userId) {
    held =
      (await tx.roleAssignment.count({ where: { tenantId, userId: target.userId, roleName: SKYLIGHT_ADMIN } })) > 0 ||
      (await tx.groupMembership.count({ where: { tenantId, userId: target.userId, group: { roles: { some: { roleName: SKYLIGHT_ADMIN } } } } })) > 0;
  }
  if (target.groupId) held = (await tx.roleAssignment.count({ where: { tenantId, groupId: target.groupId, roleName: SKYLIGHT_ADMIN } })) > 0;
  if (held) throw new ScimError(403, `Only a ${SKYLIGHT_ADMIN} may change this resource`);
}

/** A version must change on every write, even two writes within one millisecond. */
export const nextVersion = (current: { updatedAt: Date }) => new Date(Math.max(Date.now(), current.updatedAt.getTime() + 1));
