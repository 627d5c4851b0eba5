import type { Prisma } from '../platform/db.js';
import { isBuiltinRole } from '../principals/principal.js';

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

/** The same rule over a tenant's custom role names held in memory, keyed lower-cased (bulk writers: import). */
export function resolveRoleNameIn(customByLower: ReadonlyMap<string, string>, name: string): string | undefined {
  if (isBuiltinRole(name)) return name;
  if (!name || name.length > 100) return undefined;
  return customByLower.get(name.toLowerCase());
}
