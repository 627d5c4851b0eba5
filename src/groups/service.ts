import type { Prisma as P, UserGroup } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn, assertMayConfer } from '../principals/policy.js';
import type { Prisma } from '../platform/db.js';
import { conflict, type ErrorItem, notFound, validationFailed } from '../platform/errors.js';
import { isUuid, likeLiteral } from '../platform/ids.js';
import { resolveRoleName } from '../roles/assign.js';
import type { GroupCreate, GroupSearch, GroupUpdate } from './schemas.js';
import { foldCase } from '../platform/case-fold.js';

type Tx = P.TransactionClient;
export type GroupRow = UserGroup & { roles: { roleName: string }[]; _count: { members: number } };

const withDetails = {
  roles: { select: { roleName: true }, orderBy: { roleName: 'asc' as const } },
  _count: { select: { members: true } },
};

export function groupAttributes(g: GroupRow) {
  return {
    name: g.name,
    description: g.description,
    roles: g.roles.map((r) => r.roleName),
    memberCount: g._count.members,
    createdAt: g.createdAt.toISOString(),
    updatedAt: g.updatedAt.toISOString(),
  };
}

export async function findGroup(prisma: Prisma | Tx, tenantId: string, id: string): Promise<GroupRow> {
  const g = isUuid(id) ? await prisma.userGroup.findUnique({ where: { tenantId_id: { tenantId, id } }, include: withDetails }) : null;
  if (!g) throw notFound('Usergroup');
  return g;
}

/** The group-name rule of every entry point (REST, SCIM, import): unique per tenant, case-insensitively. */
export async function groupNameTaken(db: Pick<Tx, 'userGroup' | '$queryRaw'>, tenantId: string, name: string, exceptId?: string): Promise<boolean> {
  const other = await db.userGroup.findUnique({ where: { tenantId_nameLower: { tenantId, nameLower: await foldCase(db, name) } }, select: { id: true } });
  return Boolean(other && other.id !== exceptId);
}

async function assertNameFree(db: Tx, tenantId: string, name: string, exceptId?: string) {
  if (await groupNameTaken(db, tenantId, name, exceptId)) throw conflict(`A user group named "${name}" already exists`, '/data/attributes/name');
}

async function resolveRoles(ctx: ServiceContext, db: Tx, names: string[]): Promise<string[]> {
  const out: string[] = [];
  const unknown: ErrorItem[] = [];
  for (const [i, name] of names.entries()) {
    const resolved = await resolveRoleName(db, ctx.tenantId, name);
    if (!resolved) {
      unknown.push({
        status: '400',
        code: 'unknown_role',
        title: 'Unknown role',
        detail: `No role named "${name}"`,
        source: { pointer: `/data/attributes/roles/${i}` },
      });
    } else {
      assertMayConfer(ctx.principal, ctx.tenantId, [resolved]);
      out.push(resolved);
    }
  }
  if (unknown.length) throw validationFailed(unknown);
  return [...new Set(out)];
}

export async function createGroup(ctx: ServiceContext, input: GroupCreate): Promise<GroupRow> {
  return ctx.prisma.$transaction(async (tx) => {
    const roles = await resolveRoles(ctx, tx, input.roles ?? []);
    await assertNameFree(tx, ctx.tenantId, input.name);
    const g = await tx.userGroup.create({
      data: {
        tenantId: ctx.tenantId,
        name: input.name,
        description: input.description ?? '',
        roles: { create: roles.map((roleName) => ({ roleName })) },
      },
      include: withDetails,
    });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'usergroup.created', targetType: 'usergroup', targetId: g.id, details: { name: g.name, roles } },
      ctx.requestId,
    );
    return g;
  });
}

export async function updateGroup(ctx: ServiceContext, id: string, input: GroupUpdate): Promise<GroupRow> {
  const current = await findGroup(ctx.prisma, ctx.tenantId, id);
  const held = current.roles.map((r) => r.roleName);
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'group', id });
  return ctx.prisma.$transaction(async (tx) => {
    if (input.name !== undefined) await assertNameFree(tx, ctx.tenantId, input.name, id);
    let details: Record<string, unknown> = { fields: Object.keys(input) };
    if (input.roles) {
      const roles = await resolveRoles(ctx, tx, input.roles);
      const removed = held.filter((r) => !roles.includes(r));
      const added = roles.filter((r) => !held.includes(r));
      if (removed.length) await tx.roleAssignment.deleteMany({ where: { tenantId: ctx.tenantId, groupId: id, roleName: { in: removed } } });
      if (added.length)
        await tx.roleAssignment.createMany({ data: added.map((roleName) => ({ tenantId: ctx.tenantId, groupId: id, roleName })), skipDuplicates: true });
      details = { ...details, rolesAdded: added, rolesRemoved: removed };
    }
    await tx.userGroup.update({
      where: { tenantId_id: { tenantId: ctx.tenantId, id } },
      data: { name: input.name, description: input.description, updatedAt: new Date() },
    });
    await audit(tx, ctx.principal, { tenantId: ctx.tenantId, action: 'usergroup.updated', targetType: 'usergroup', targetId: id, details }, ctx.requestId);
    return findGroup(tx, ctx.tenantId, id);
  });
}

export async function deleteGroup(ctx: ServiceContext, id: string) {
  const current = await findGroup(ctx.prisma, ctx.tenantId, id);
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'group', id });
  await ctx.prisma.$transaction(async (tx) => {
    // Memberships and the group's role assignments cascade.
    await tx.userGroup.delete({ where: { tenantId_id: { tenantId: ctx.tenantId, id } } });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'usergroup.deleted', targetType: 'usergroup', targetId: id, details: { name: current.name } },
      ctx.requestId,
    );
  });
}

export async function groupMembers(prisma: Prisma, tenantId: string, id: string, skip: number, take: number) {
  await findGroup(prisma, tenantId, id);
  const where = { tenantId, memberships: { some: { groupId: id } } };
  const [total, rows] = await Promise.all([
    prisma.user.count({ where }),
    prisma.user.findMany({ where, orderBy: { id: 'asc' }, skip, take, include: { roles: { select: { roleName: true }, orderBy: { roleName: 'asc' } } } }),
  ]);
  return { total, rows };
}

/**
 * Adds users item by item: existing users of the tenant are added (already a member
 * counts as added); the others come back as errors pointing at their index.
 * Joining a group grants its roles and changes what each new member may do: the caller
 * must hold the group's roles and every role of each new member.
 */
export async function addGroupMembers(ctx: ServiceContext, id: string, userIds: string[]): Promise<ErrorItem[]> {
  const group = await findGroup(ctx.prisma, ctx.tenantId, id);
  assertMayConfer(
    ctx.principal,
    ctx.tenantId,
    group.roles.map((r) => r.roleName),
  );
  const candidates = userIds.filter(isUuid);
  const found = new Set((await ctx.prisma.user.findMany({ where: { tenantId: ctx.tenantId, id: { in: candidates } }, select: { id: true } })).map((u) => u.id));
  const errors: ErrorItem[] = [];
  const good: string[] = [];
  userIds.forEach((userId, i) => {
    if (found.has(userId)) good.push(userId);
    else errors.push({ status: '404', code: 'not_found', title: 'Not found', detail: `User "${userId}" not found`, source: { pointer: `/data/${i}` } });
  });
  const unique = [...new Set(good)];
  if (unique.length) await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'users', ids: unique });
  if (unique.length) {
    await ctx.prisma.$transaction(async (tx) => {
      const res = await tx.groupMembership.createMany({
        data: unique.map((userId) => ({ tenantId: ctx.tenantId, groupId: id, userId })),
        skipDuplicates: true,
      });
      if (res.count) {
        await audit(
          tx,
          ctx.principal,
          { tenantId: ctx.tenantId, action: 'usergroup.members_added', targetType: 'usergroup', targetId: id, details: { userIds: unique } },
          ctx.requestId,
        );
      }
    });
  }
  return errors;
}

export async function removeGroupMember(ctx: ServiceContext, id: string, userId: string) {
  const group = await findGroup(ctx.prisma, ctx.tenantId, id);
  assertMayConfer(
    ctx.principal,
    ctx.tenantId,
    group.roles.map((r) => r.roleName),
  );
  if (!isUuid(userId)) throw notFound('Member');
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id: userId });
  await ctx.prisma.$transaction(async (tx) => {
    const res = await tx.groupMembership.deleteMany({ where: { tenantId: ctx.tenantId, groupId: id, userId } });
    if (res.count === 0) throw notFound('Member');
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'usergroup.member_removed', targetType: 'usergroup', targetId: id, details: { userId } },
      ctx.requestId,
    );
  });
}

export async function searchGroups(prisma: Prisma, tenantId: string, c: GroupSearch, skip: number, take: number) {
  const where: P.UserGroupWhereInput = {
    tenantId,
    name: c.name ? { contains: likeLiteral(c.name), mode: 'insensitive' } : undefined,
    members: c.userId ? { some: { userId: c.userId } } : undefined,
  };
  const [total, rows] = await Promise.all([
    prisma.userGroup.count({ where }),
    prisma.userGroup.findMany({ where, orderBy: { nameLower: 'asc' }, skip, take, include: withDetails }),
  ]);
  return { total, rows };
}
