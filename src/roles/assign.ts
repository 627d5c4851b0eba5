import type { Prisma } from '../platform/db.js';
import { forbidden } from '../platform/errors.js';
import { canGrant, isBuiltinRole, type Principal } from '../principals/principal.js';

type Reader = Pick<Prisma, 'customRole'>;

/**
 * The canonical name of a role a tenant can assign: a built-in role, or one of the
 * tenant's custom roles (matched case-insensitively). Undefined when it names none.
 */
export async function resolveRoleName(db: Reader, tenantId: string, name: string): Promise<string | undefined> {
  if (isBuiltinRole(name)) return name;
  if (!name || name.length > 100) return undefined;
  const custom = await db.customRole.findUnique({
    where: { tenantId_nameLower: { tenantId, nameLower: name.toLowerCase() } },
    select: { name: true },
  });
  return custom?.name;
}

/**
 * A caller may change a user or group only when it could grant every role the
 * subject holds: a tenant-admin cannot rename, delete or strip a skylight-admin.
 */
export function assertCanManage(principal: Principal, heldRoles: string[], what = 'user') {
  const above = heldRoles.find((r) => !canGrant(principal, r));
  if (above) throw forbidden(`This ${what} holds the role "${above}", which you cannot grant`);
}
