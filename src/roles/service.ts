import type { CustomRole } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn, assertMayConferFeatures } from '../principals/policy.js';
import { isBuiltinRole } from '../principals/principal.js';
import type { Prisma } from '../platform/db.js';
import { conflict, notFound, unprocessable, validationFailed } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { compileNameFilter } from './name-filter.js';
import { roleName, type RoleCreate, type RoleUpdate } from './schemas.js';
import { foldCase } from '../platform/case-fold.js';

export function roleAttributes(r: CustomRole) {
  return {
    name: r.name,
    description: r.description,
    featureRoles: r.featureRoles,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export const listFeatureRoles = (prisma: Prisma) => prisma.featureRole.findMany({ orderBy: [{ category: 'asc' }, { name: 'asc' }] });

/** The names that are not in the feature-role catalogue: a custom role may hold only those it lists. */
export async function unknownFeatureRoles(db: Pick<Prisma, 'featureRole'>, names: string[]): Promise<Set<string>> {
  const known = new Set((await db.featureRole.findMany({ where: { name: { in: names } }, select: { name: true } })).map((f) => f.name));
  return new Set(names.filter((n) => !known.has(n)));
}

/** What is wrong with a custom role's name, whoever writes it (the API's schema, then this; import); undefined when valid. */
export function roleNameProblem(name: string): string | undefined {
  const syntax = roleName.safeParse(name);
  if (!syntax.success) return syntax.error.issues[0]!.message;
  if (isBuiltinRole(name.toLowerCase())) return `"${name}" is a built-in role name`;
  return undefined;
}

async function assertFeatureRolesExist(db: Pick<Prisma, 'featureRole'>, names: string[]) {
  const unknown = await unknownFeatureRoles(db, names);
  const items = names.flatMap((n, i) =>
    !unknown.has(n)
      ? []
      : [
          {
            status: '400',
            code: 'unknown_feature_role',
            title: 'Unknown feature role',
            detail: `"${n}" is not in the feature-role catalogue`,
            source: { pointer: `/data/attributes/featureRoles/${i}` },
          },
        ],
  );
  if (items.length) throw validationFailed(items);
}

function assertNotBuiltinName(name: string) {
  const problem = roleNameProblem(name);
  if (problem) throw unprocessable(problem, '/data/attributes/name');
}

async function assertNameFree(db: Pick<Prisma, 'customRole' | '$queryRaw'>, tenantId: string, name: string, exceptId?: string) {
  const other = await db.customRole.findUnique({ where: { tenantId_nameLower: { tenantId, nameLower: await foldCase(db, name) } }, select: { id: true } });
  if (other && other.id !== exceptId) throw conflict(`A role named "${name}" already exists`, '/data/attributes/name');
}

export async function findRole(prisma: Prisma, tenantId: string, id: string): Promise<CustomRole> {
  const role = isUuid(id) ? await prisma.customRole.findUnique({ where: { tenantId_id: { tenantId, id } } }) : null;
  if (!role) throw notFound('Role');
  return role;
}

/** Built-in roles are named, not numbered: their names in place of an id are refused with 422, not 404. */
function refuseBuiltin(id: string) {
  if (isBuiltinRole(id)) throw unprocessable(`"${id}" is a built-in role and cannot be changed or deleted`);
}

export async function listRoles(prisma: Prisma, tenantId: string, q: { skip: number; take: number; nameFilter?: string; featureRoles?: string[] }) {
  const re = q.nameFilter ? compileNameFilter(q.nameFilter) : undefined;
  const where = { tenantId, ...(q.featureRoles?.length ? { featureRoles: { hasEvery: q.featureRoles } } : {}) };
  if (!re) {
    const [total, rows] = await Promise.all([
      prisma.customRole.count({ where }),
      prisma.customRole.findMany({ where, orderBy: { nameLower: 'asc' }, skip: q.skip, take: q.take }),
    ]);
    return { total, rows };
  }
  // A JavaScript regular expression (safe-checked) cannot run in SQL; names are fetched and matched here.
  const names = await prisma.customRole.findMany({ where, orderBy: { nameLower: 'asc' }, select: { id: true, name: true } });
  const matched = names.filter((n) => re.test(n.name));
  const ids = matched.slice(q.skip, q.skip + q.take).map((n) => n.id);
  const rows = ids.length ? await prisma.customRole.findMany({ where: { tenantId, id: { in: ids } }, orderBy: { nameLower: 'asc' } }) : [];
  return { total: matched.length, rows };
}

export async function createRole(ctx: ServiceContext, input: RoleCreate): Promise<CustomRole> {
  assertNotBuiltinName(input.name);
  const featureRoles = [...new Set(input.featureRoles)];
  return ctx.prisma.$transaction(async (tx) => {
    await assertFeatureRolesExist(tx, featureRoles);
    await assertMayConferFeatures(tx, ctx.principal, ctx.tenantId, featureRoles);
    await assertNameFree(tx, ctx.tenantId, input.name);
    const role = await tx.customRole.create({
      data: { tenantId: ctx.tenantId, name: input.name, description: input.description ?? '', featureRoles },
    });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'role.created', targetType: 'role', targetId: role.id, details: { name: role.name } },
      ctx.requestId,
    );
    return role;
  });
}

export async function updateRole(ctx: ServiceContext, id: string, input: RoleUpdate): Promise<CustomRole> {
  refuseBuiltin(id);
  const current = await findRole(ctx.prisma, ctx.tenantId, id);
  if (input.name !== undefined) assertNotBuiltinName(input.name);
  const featureRoles = input.featureRoles ? [...new Set(input.featureRoles)] : undefined;
  // What a role contains is what its holders may do: changing it acts on each of them.
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'role', name: current.name });
  return ctx.prisma.$transaction(async (tx) => {
    if (featureRoles) {
      await assertFeatureRolesExist(tx, featureRoles);
      await assertMayConferFeatures(tx, ctx.principal, ctx.tenantId, featureRoles);
    }
    const renamed = input.name !== undefined && input.name !== current.name;
    if (renamed) await assertNameFree(tx, ctx.tenantId, input.name!, id);
    const role = await tx.customRole.update({
      where: { tenantId_id: { tenantId: ctx.tenantId, id } },
      data: { name: input.name, description: input.description, featureRoles },
    });
    // Assignments hold the role by name: a rename carries them along.
    if (renamed) {
      await tx.roleAssignment.updateMany({ where: { tenantId: ctx.tenantId, roleName: current.name }, data: { roleName: role.name } });
    }
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'role.updated',
        targetType: 'role',
        targetId: id,
        details: { fields: Object.keys(input), ...(renamed ? { from: current.name, to: role.name } : {}) },
      },
      ctx.requestId,
    );
    return role;
  });
}

export async function deleteRole(ctx: ServiceContext, id: string) {
  refuseBuiltin(id);
  const current = await findRole(ctx.prisma, ctx.tenantId, id);
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'role', name: current.name });
  await ctx.prisma.$transaction(async (tx) => {
    const removed = await tx.roleAssignment.deleteMany({ where: { tenantId: ctx.tenantId, roleName: current.name } });
    await tx.customRole.delete({ where: { tenantId_id: { tenantId: ctx.tenantId, id } } });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'role.deleted', targetType: 'role', targetId: id, details: { name: current.name, assignmentsRemoved: removed.count } },
      ctx.requestId,
    );
  });
}
