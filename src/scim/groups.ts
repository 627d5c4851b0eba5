// SCIM Groups over the UserGroup and GroupMembership rows of /api/v3. Membership
// operations run as set operations in the database, so a PATCH that adds one member
// to a large group never loads the whole member list.
import type { UserGroup } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { Prisma } from '../platform/db.js';
import { isUuid } from '../platform/ids.js';
import { assertMayActOn } from '../principals/policy.js';
import { groupNameTaken } from '../groups/service.js';
import { checkIfMatch, nextVersion, sqlLock, type ScimContext } from './context.js';
import { invalidPath, invalidSyntax, invalidValue, scimNotFound, uniqueness } from './errors.js';
import { GROUP_URN, matches, parseAttrName, parseFilter, type Filter } from './filter.js';
import { applyPatch, lowerKeys, normalizeValue, parsePatchRequest, type Obj, type PatchOperation, type ResourceShape } from './patch.js';
import { GROUP_ATTRIBUTES, groupWhere, orderBy } from './queries.js';
import { GROUP_SCHEMA, listResponse, project, renderGroup, wants, type Projection } from './resources.js';
import { page, type ListQuery } from './users.js';
import { foldCase } from '../platform/case-fold.js';

type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

const GROUP_SHAPE: ResourceShape = {
  urn: GROUP_URN,
  multiValued: new Set(['members']),
  readOnly: new Set(['id', 'meta']),
  ignored: new Set([]),
  known: new Set(['displayname', 'externalid', 'members', 'schemas']),
};

const CONTROL = /[\u0000-\u001f\u007f]/;

interface GroupFields {
  name: string;
  externalId: string | null;
}

function fieldsOf(r: Obj): GroupFields {
  const name = r.displayname;
  if (typeof name !== 'string' || !name.trim()) throw invalidValue('"displayName" is required');
  if (name.length > 256 || CONTROL.test(name)) throw invalidValue('"displayName" must be at most 256 printable characters');
  const ext = r.externalid;
  if (ext !== undefined && ext !== null && (typeof ext !== 'string' || ext.length > 256)) throw invalidValue('"externalId" must be a string');
  return { name: name.trim(), externalId: (ext as string | undefined) ?? null };
}

/** Member ids named by a members value: [{ value: "<user id>" }, ...]. */
function memberIds(value: unknown): string[] {
  const items = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  return items.map((raw, i) => {
    const m = raw && typeof raw === 'object' ? lowerKeys(raw as Obj) : undefined;
    if (!m || typeof m.value !== 'string') throw invalidValue(`members[${i}].value must be a user id`);
    if (m.type !== undefined && String(m.type).toLowerCase() !== 'user') throw invalidValue('Only users can be members of a group');
    return m.value.toLowerCase();
  });
}

async function assertUsersExist(tx: Tx, tenantId: string, ids: string[]) {
  const unique = [...new Set(ids)];
  if (!unique.length) return;
  const bad = unique.filter((id) => !isUuid(id));
  const found = bad.length ? [] : await tx.user.findMany({ where: { tenantId, id: { in: unique } }, select: { id: true } });
  if (bad.length || found.length !== unique.length) {
    const known = new Set(found.map((u) => u.id));
    const missing = unique.filter((id) => !known.has(id));
    throw invalidValue(`No such user: ${missing.slice(0, 5).join(', ')}`);
  }
}

async function assertNameFree(tx: Tx, tenantId: string, name: string, selfId?: string) {
  if (await groupNameTaken(tx, tenantId, name, selfId)) throw uniqueness(`displayName "${name}" is already taken`);
}

async function findRow(db: Pick<Prisma, 'userGroup'>, tenantId: string, id: string): Promise<UserGroup> {
  const g = isUuid(id) ? await db.userGroup.findUnique({ where: { tenantId_id: { tenantId, id: id.toLowerCase() } } }) : null;
  if (!g) throw scimNotFound('Group');
  return g;
}

export const getGroup = (ctx: ScimContext, id: string) => findRow(ctx.prisma, ctx.tenantId, id);

async function membersOf(db: Pick<Prisma, 'groupMembership'>, tenantId: string, groupIds: string[]) {
  const rows = await db.groupMembership.findMany({
    where: { tenantId, groupId: { in: groupIds } },
    select: { groupId: true, user: { select: { id: true, username: true } } },
    orderBy: [{ createdAt: 'asc' }, { userId: 'asc' }],
  });
  const out = new Map<string, { id: string; username: string }[]>(groupIds.map((id) => [id, []]));
  for (const r of rows) out.get(r.groupId)!.push(r.user);
  return out;
}

export async function renderGroups(ctx: ScimContext, rows: UserGroup[], p: Projection): Promise<Obj[]> {
  const members = wants(p, 'members')
    ? await membersOf(
        ctx.prisma,
        ctx.tenantId,
        rows.map((r) => r.id),
      )
    : undefined;
  return rows.map((g) => project(renderGroup(ctx.base, g, members?.get(g.id)), p));
}

export async function listGroups(ctx: ScimContext, q: ListQuery, p: Projection) {
  const where = { tenantId: ctx.tenantId, ...(q.filter ? { AND: [await groupWhere(ctx.prisma, parseFilter(q.filter))] } : {}) };
  const order = orderBy(GROUP_ATTRIBUTES, q.sortBy, q.sortOrder, (s) => parseAttrName(s, invalidValue));
  const { startIndex, count } = page(q);
  const [total, rows] = await Promise.all([
    ctx.prisma.userGroup.count({ where }),
    count === 0 ? Promise.resolve([]) : ctx.prisma.userGroup.findMany({ where, orderBy: order, skip: startIndex - 1, take: count }),
  ]);
  return listResponse(total, startIndex, await renderGroups(ctx, rows, p));
}

function resourceBody(body: unknown): Obj {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidSyntax('The request body is not a JSON object');
  const b = lowerKeys(body as Obj);
  if (!Array.isArray(b.schemas) || !b.schemas.some((s) => typeof s === 'string' && s.toLowerCase() === GROUP_SCHEMA.toLowerCase())) {
    throw invalidSyntax(`"schemas" must contain ${GROUP_SCHEMA}`);
  }
  const out: Obj = {};
  for (const [k, v] of Object.entries(b)) out[k] = normalizeValue(v);
  return out;
}

/** Joining a group changes what each new member may do: the caller must outrank every one. */
async function addMembers(tx: Tx, ctx: ScimContext, groupId: string, ids: string[]): Promise<number> {
  const { tenantId } = ctx;
  await assertUsersExist(tx, tenantId, ids);
  if (!ids.length) return 0;
  await assertMayActOn(tx, ctx.principal, tenantId, { kind: 'users', ids });
  const r = await tx.groupMembership.createMany({ data: [...new Set(ids)].map((userId) => ({ tenantId, groupId, userId })), skipDuplicates: true });
  return r.count;
}

export async function createGroup(ctx: ScimContext, body: unknown): Promise<UserGroup> {
  const r = resourceBody(body);
  const f = fieldsOf(r);
  const ids = memberIds(r.members);
  return ctx.prisma.$transaction(async (tx) => {
    await assertNameFree(tx, ctx.tenantId, f.name);
    const g = await tx.userGroup.create({ data: { tenantId: ctx.tenantId, name: f.name, externalId: f.externalId } });
    await addMembers(tx, ctx, g.id, ids);
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'group.created', targetType: 'group', targetId: g.id, details: { via: 'scim', name: g.name, members: ids.length } },
      ctx.requestId,
    );
    return g;
  });
}

async function update(
  ctx: ScimContext,
  id: string,
  ifMatch: string | undefined,
  change: (tx: Tx, current: UserGroup) => Promise<{ fields?: GroupFields; membersChanged: boolean }>,
): Promise<UserGroup> {
  const existing = await findRow(ctx.prisma, ctx.tenantId, id);
  return ctx.prisma.$transaction(async (tx) => {
    await sqlLock.group(tx, ctx.tenantId, existing.id);
    const current = await findRow(tx, ctx.tenantId, existing.id);
    checkIfMatch(ifMatch, current);
    await assertMayActOn(tx, ctx.principal, ctx.tenantId, { kind: 'group', id: current.id });
    const { fields, membersChanged } = await change(tx, current);
    const changed: string[] = [];
    if (fields && fields.name !== current.name) changed.push('displayName');
    if (fields && fields.externalId !== current.externalId) changed.push('externalId');
    if (membersChanged) changed.push('members');
    if (!changed.length) return current;
    if (fields?.name !== undefined && (await foldCase(tx, fields.name)) !== current.nameLower) await assertNameFree(tx, ctx.tenantId, fields.name, current.id);
    const g = await tx.userGroup.update({
      where: { tenantId_id: { tenantId: ctx.tenantId, id: current.id } },
      data: { ...(fields ? { name: fields.name, externalId: fields.externalId } : {}), updatedAt: nextVersion(current) },
    });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'group.updated', targetType: 'group', targetId: g.id, details: { via: 'scim', fields: changed } },
      ctx.requestId,
    );
    return g;
  });
}

export function replaceGroup(ctx: ScimContext, id: string, body: unknown, ifMatch?: string) {
  const r = resourceBody(body);
  const f = fieldsOf(r);
  const ids = memberIds(r.members);
  return update(ctx, id, ifMatch, async (tx, g) => {
    const before = await tx.groupMembership.findMany({ where: { tenantId: ctx.tenantId, groupId: g.id }, select: { userId: true } });
    const want = new Set(ids);
    const have = new Set(before.map((m) => m.userId));
    const drop = [...have].filter((u) => !want.has(u));
    const add = [...want].filter((u) => !have.has(u));
    if (drop.length) await tx.groupMembership.deleteMany({ where: { tenantId: ctx.tenantId, groupId: g.id, userId: { in: drop } } });
    await addMembers(tx, ctx, g.id, add);
    return { fields: f, membersChanged: drop.length + add.length > 0 };
  });
}

/** `value eq "<id>"` (or several joined by "or"): the ids, without loading the member list. */
function idsOfSimpleFilter(f: Filter): string[] | undefined {
  if (f.op === 'eq' && f.path.sub === 'value' && typeof f.value === 'string') return [f.value.toLowerCase()];
  if (f.op === 'or') {
    const l = idsOfSimpleFilter(f.left);
    const r = idsOfSimpleFilter(f.right);
    return l && r ? [...l, ...r] : undefined;
  }
  return undefined;
}

async function applyMemberOp(tx: Tx, ctx: ScimContext, groupId: string, o: PatchOperation): Promise<boolean> {
  const { tenantId } = ctx;
  const p = o.path!;
  if (p.sub) throw invalidPath('Member sub-attributes cannot be changed; add or remove members instead');
  const remove = async (ids: string[] | undefined) =>
    (await tx.groupMembership.deleteMany({ where: { tenantId, groupId, ...(ids ? { userId: { in: ids.filter(isUuid) } } : {}) } })).count;
  if (o.op === 'remove') {
    if (p.filter) {
      let ids = idsOfSimpleFilter(p.filter);
      if (!ids) {
        const members = await tx.groupMembership.findMany({ where: { tenantId, groupId }, select: { userId: true, user: { select: { username: true } } } });
        ids = members.filter((m) => matches(p.filter!, { value: m.userId, display: m.user.username, type: 'User' })).map((m) => m.userId);
      }
      return (await remove(ids)) > 0;
    }
    // Entra ID removes members with path "members" and the members in the value.
    return (await remove(o.value !== undefined ? memberIds(o.value) : undefined)) > 0;
  }
  if (p.filter) throw invalidPath('Members are added or replaced by value, not through a filter');
  const ids = memberIds(o.value);
  let removed = 0;
  if (o.op === 'replace') {
    removed = (await tx.groupMembership.deleteMany({ where: { tenantId, groupId, ...(ids.length ? { userId: { notIn: ids } } : {}) } })).count;
  }
  return (await addMembers(tx, ctx, groupId, ids)) + removed > 0;
}

export function patchGroup(ctx: ScimContext, id: string, body: unknown, ifMatch?: string) {
  const ops = parsePatchRequest(body);
  // Pathless values may carry members; turn them into member operations of their own.
  const expanded: PatchOperation[] = [];
  for (const o of ops) {
    if (!o.path && o.value && typeof o.value === 'object' && !Array.isArray(o.value)) {
      const rest: Obj = {};
      for (const [k, v] of Object.entries(o.value as Obj)) {
        if (k.toLowerCase() === 'members') expanded.push({ op: o.op, path: { attr: 'members' }, rawPath: 'members', value: v });
        else rest[k] = v;
      }
      if (Object.keys(rest).length) expanded.push({ ...o, value: rest });
    } else expanded.push(o);
  }
  return update(ctx, id, ifMatch, async (tx, g) => {
    let resource: Obj = { id: g.id, displayname: g.name, ...(g.externalId != null ? { externalid: g.externalId } : {}) };
    let membersChanged = false;
    for (const o of expanded) {
      if (o.path?.attr === 'members' && (!o.path.urn || o.path.urn === GROUP_URN)) {
        if (await applyMemberOp(tx, ctx, g.id, o)) membersChanged = true;
      } else resource = applyPatch(GROUP_SHAPE, resource, [o]);
    }
    return { fields: fieldsOf(resource), membersChanged };
  });
}

export async function deleteGroup(ctx: ScimContext, id: string, ifMatch?: string) {
  const existing = await findRow(ctx.prisma, ctx.tenantId, id);
  await ctx.prisma.$transaction(async (tx) => {
    await sqlLock.group(tx, ctx.tenantId, existing.id);
    const current = await findRow(tx, ctx.tenantId, existing.id);
    checkIfMatch(ifMatch, current);
    await assertMayActOn(tx, ctx.principal, ctx.tenantId, { kind: 'group', id: current.id });
    await tx.userGroup.delete({ where: { tenantId_id: { tenantId: ctx.tenantId, id: current.id } } });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'group.deleted', targetType: 'group', targetId: current.id, details: { via: 'scim', name: current.name } },
      ctx.requestId,
    );
  });
}
