import type { Prisma } from '../platform/db.js';
import { isBuiltinRole } from '../principals/principal.js';
import { foldCase } from '../platform/case-fold.js';

type Reader = Pick<Prisma, 'customRole' | '$queryRaw'>;

/**
 * The canonical name of a role a tenant can assign: a built-in role, or one of the
 * tenant's custom roles (matched case-insensitively). Undefined when it names none.
 */
export async function resolveRoleName(db: Reader, tenantId: string, name: string): Promise<string | undefined> {
  if (isBuiltinRole(name)) return name;
  if (!name || name.length > 100) return undefined;
  const custom = await db.customRole.findUnique({
    where: { tenantId_nameLower: { tenantId, nameLower: await foldCase(db, name) } },
    select: { name: true },
  });
  return custom?.name;
}

/**
 * The same rule over a tenant's custom role names held in memory (bulk writers: import),
 * keyed by their folded column; `fold` folds as the database does.
 */
export function resolveRoleNameIn(customByFolded: ReadonlyMap<string, string>, fold: (s: string) => string, name: string): string | undefined {
  if (isBuiltinRole(name)) return name;
  if (!name || name.length > 100) return undefined;
  return customByFolded.get(fold(name));
}
