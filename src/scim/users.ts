// SCIM Users over the same User rows the /api/v3 routes see, with the same invariants:
// usernames and emails unique per tenant case-insensitively, and a username never
// shadows a service account's.
import type { User } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { Prisma } from '../platform/db.js';
import { isUuid } from '../platform/ids.js';
import { hashPassword } from '../platform/passwords.js';
import { assertMayActOn } from '../principals/policy.js';
import { EMAIL_MAX, identityClashes, USERNAME_MAX, userIdentityProblems } from '../users/identity.js';
import { MAX_PASSWORD_LENGTH, passwordViolations, policyOf } from '../users/password-policy.js';
import { passwordWasSet } from '../users/service.js';
import { checkIfMatch, nextVersion, sqlLock, type ScimContext } from './context.js';
import { invalidSyntax, invalidValue, scimNotFound, uniqueness } from './errors.js';
import { parseAttrName, parseFilter, USER_URN } from './filter.js';
import { applyPatch, lowerKeys, normalizeValue, parsePatchRequest, type Obj, type ResourceShape } from './patch.js';
import { orderBy, USER_ATTRIBUTES, userWhere } from './queries.js';
import { listResponse, project, renderUser, USER_SCHEMA, wants, type Projection } from './resources.js';

type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

export const USER_SHAPE: ResourceShape = {
  urn: USER_URN,
  multiValued: new Set(['emails', 'phonenumbers', 'ims', 'photos', 'addresses', 'groups', 'entitlements', 'roles', 'x509certificates']),
  readOnly: new Set(['id', 'groups', 'meta']),
  ignored: new Set([
    'displayname',
    'nickname',
    'profileurl',
    'title',
    'usertype',
    'preferredlanguage',
    'locale',
    'timezone',
    'phonenumbers',
    'ims',
    'photos',
    'addresses',
    'entitlements',
    'roles',
    'x509certificates',
  ]),
  known: new Set(['username', 'name', 'emails', 'active', 'externalid', 'password', 'schemas']),
};

const CONTROL = /[\u0000-\u001f\u007f]/;

interface UserFields {
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  active?: boolean;
  externalId: string | null;
  password?: string;
}

function str(v: unknown, what: string, max: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidValue(`"${what}" must be a string`);
  if (v.length > max || CONTROL.test(v)) throw invalidValue(`"${what}" must be at most ${max} printable characters`);
  return v;
}

export function bool(v: unknown, what: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  // Entra ID sends booleans as the strings "True"/"False" in PATCH values.
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw invalidValue(`"${what}" must be a boolean`);
}

function primaryEmail(emails: unknown): string | undefined {
  if (emails === undefined || emails === null) return undefined;
  if (!Array.isArray(emails)) throw invalidValue('"emails" must be an array');
  const items = emails.map((e, i) => {
    if (!e || typeof e !== 'object') throw invalidValue(`emails[${i}] must be an object`);
    return e as Obj;
  });
  const pick = items.find((e) => bool(e.primary, 'emails.primary') === true) ?? items.find((e) => String(e.type ?? '').toLowerCase() === 'work') ?? items[0];
  return pick ? str(pick.value, 'emails.value', EMAIL_MAX) : undefined;
}

/** Reads our columns out of a SCIM user held with lower-cased attribute names. */
function fieldsOf(r: Obj): UserFields {
  const username = str(r.username, 'userName', USERNAME_MAX)?.trim();
  if (!username) throw invalidValue('"userName" is required');
  const name = r.name === undefined || r.name === null ? {} : r.name;
  if (typeof name !== 'object' || Array.isArray(name)) throw invalidValue('"name" must be an object');
  const n = lowerKeys(name as Obj);
  let email = primaryEmail(r.emails)?.trim();
  if (!email && !userIdentityProblems({ email: username }).length) email = username;
  if (!email) throw invalidValue('A user needs an email address (emails, or an email as userName)');
  // The same syntax as import's (users/identity.ts).
  if (userIdentityProblems({ email }).length) throw invalidValue(`"${email}" is not an email address`);
  return {
    username,
    email,
    firstName: str(n.givenname, 'name.givenName', 200) ?? '',
    lastName: str(n.familyname, 'name.familyName', 200) ?? '',
    active: bool(r.active, 'active'),
    externalId: str(r.externalid, 'externalId', 256) ?? null,
    password: str(r.password, 'password', MAX_PASSWORD_LENGTH),
  };
}

/** The user as the PATCH engine sees it: lower-cased names, only what we store. */
function patchable(u: User): Obj {
  return {
    id: u.id,
    username: u.username,
    name: { givenname: u.firstName, familyname: u.lastName },
    emails: [{ value: u.email, type: 'work', primary: true }],
    active: u.state !== 'inactive',
    ...(u.externalId != null ? { externalid: u.externalId } : {}),
  };
}

/** The tenant's password policy (users/password-policy.ts), refused as a SCIM invalidValue. */
async function checkPassword(tx: Tx, tenantId: string, password: string) {
  const violations = passwordViolations(policyOf(await tx.tenant.findUniqueOrThrow({ where: { id: tenantId } })), password);
  if (violations.length) throw invalidValue(`The password ${violations.join(', ')}`);
}

/** The tenant's identity rule (users/identity.ts), refused as SCIM uniqueness conflicts. */
async function assertUnique(tx: Tx, tenantId: string, f: UserFields, selfId?: string) {
  const [clash] = await identityClashes(tx, tenantId, { username: f.username, email: f.email }, selfId ? { kind: 'user', id: selfId } : undefined);
  if (!clash) return;
  if (clash.field === 'email') throw uniqueness(`email "${f.email}" is already used by another user`);
  throw uniqueness(
    clash.holder === 'serviceAccount' ? `userName "${f.username}" is already taken by a service account` : `userName "${f.username}" is already taken`,
  );
}

async function columns(ctx: ScimContext, tx: Tx, f: UserFields, current?: User) {
  let passwordHash: string | undefined;
  if (f.password !== undefined) {
    await checkPassword(tx, ctx.tenantId, f.password);
    passwordHash = await hashPassword(f.password, ctx.argon);
  }
  const active = f.active ?? (current ? current.state !== 'inactive' : true);
  // Deactivation is 'inactive'; reactivating restores 'active' but never unlocks a locked account.
  const state = !active ? 'inactive' : current && current.state !== 'inactive' ? current.state : 'active';
  return {
    username: f.username,
    email: f.email,
    firstName: f.firstName,
    lastName: f.lastName,
    externalId: f.externalId,
    state,
    ...(passwordHash ? { passwordHash, failedLogins: 0 } : {}),
  };
}

function changedFields(before: User, after: Record<string, unknown>): string[] {
  return Object.keys(after)
    .filter((k) => k !== 'passwordHash' && k !== 'failedLogins' && (before as Record<string, unknown>)[k] !== after[k])
    .concat('passwordHash' in after ? ['password'] : []);
}

async function findRow(db: Pick<Prisma, 'user'>, tenantId: string, id: string): Promise<User> {
  const u = isUuid(id) ? await db.user.findUnique({ where: { tenantId_id: { tenantId, id: id.toLowerCase() } } }) : null;
  if (!u) throw scimNotFound('User');
  return u;
}

async function groupsOf(db: Pick<Prisma, 'groupMembership'>, tenantId: string, userIds: string[]) {
  const rows = await db.groupMembership.findMany({
    where: { tenantId, userId: { in: userIds } },
    select: { userId: true, group: { select: { id: true, name: true } } },
    orderBy: { createdAt: 'asc' },
  });
  const out = new Map<string, { id: string; name: string }[]>(userIds.map((id) => [id, []]));
  for (const r of rows) out.get(r.userId)!.push(r.group);
  return out;
}

export async function renderUsers(ctx: ScimContext, rows: User[], p: Projection): Promise<Obj[]> {
  const groups = wants(p, 'groups')
    ? await groupsOf(
        ctx.prisma,
        ctx.tenantId,
        rows.map((r) => r.id),
      )
    : undefined;
  return rows.map((u) => project(renderUser(ctx.base, u, groups?.get(u.id)), p));
}

export async function getUser(ctx: ScimContext, id: string) {
  return findRow(ctx.prisma, ctx.tenantId, id);
}

export interface ListQuery {
  filter?: string;
  startIndex?: number;
  count?: number;
  sortBy?: string;
  sortOrder?: string;
}

export const MAX_COUNT = 1000;

export function page(q: ListQuery) {
  const startIndex = Math.max(1, Math.floor(q.startIndex ?? 1));
  const count = Math.min(MAX_COUNT, Math.max(0, Math.floor(q.count ?? 100)));
  return { startIndex, count };
}

export async function listUsers(ctx: ScimContext, q: ListQuery, p: Projection) {
  const where = { tenantId: ctx.tenantId, ...(q.filter ? { AND: [await userWhere(ctx.prisma, parseFilter(q.filter))] } : {}) };
  const order = orderBy(USER_ATTRIBUTES, q.sortBy, q.sortOrder, (s) => parseAttrName(s, invalidValue));
  const { startIndex, count } = page(q);
  const [total, rows] = await Promise.all([
    ctx.prisma.user.count({ where }),
    count === 0 ? Promise.resolve([]) : ctx.prisma.user.findMany({ where, orderBy: order, skip: startIndex - 1, take: count }),
  ]);
  return listResponse(total, startIndex, await renderUsers(ctx, rows, p));
}

function resourceBody(body: unknown): Obj {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidSyntax('The request body is not a JSON object');
  const b = lowerKeys(body as Obj);
  const schemas = b.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === USER_SCHEMA.toLowerCase())) {
    throw invalidSyntax(`"schemas" must contain ${USER_SCHEMA}`);
  }
  const out: Obj = {};
  for (const [k, v] of Object.entries(b)) out[k] = normalizeValue(v);
  return out;
}

export async function createUser(ctx: ScimContext, body: unknown): Promise<User> {
  const f = fieldsOf(resourceBody(body));
  return ctx.prisma.$transaction(async (tx) => {
    // The password policy first, then the identity rule, in REST's order.
    const data = await columns(ctx, tx, f);
    await assertUnique(tx, ctx.tenantId, f);
    const u = await tx.user.create({ data: { tenantId: ctx.tenantId, ...data } });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'user.created', targetType: 'user', targetId: u.id, details: { via: 'scim', username: u.username } },
      ctx.requestId,
    );
    return u;
  });
}

async function update(ctx: ScimContext, id: string, ifMatch: string | undefined, next: (current: User) => UserFields, action: string): Promise<User> {
  const existing = await findRow(ctx.prisma, ctx.tenantId, id);
  return ctx.prisma.$transaction(async (tx) => {
    await sqlLock.user(tx, ctx.tenantId, existing.id);
    const current = await findRow(tx, ctx.tenantId, existing.id);
    checkIfMatch(ifMatch, current);
    await assertMayActOn(tx, ctx.principal, ctx.tenantId, { kind: 'user', id: current.id });
    const f = next(current);
    const data = await columns(ctx, tx, f, current);
    await assertUnique(tx, ctx.tenantId, f, current.id);
    const fields = changedFields(current, data);
    if (!fields.length) return current;
    const u = await tx.user.update({ where: { tenantId_id: { tenantId: ctx.tenantId, id: current.id } }, data: { ...data, updatedAt: nextVersion(current) } });
    if ('passwordHash' in data) await passwordWasSet(tx, ctx.tenantId, u.id);
    await audit(tx, ctx.principal, { tenantId: ctx.tenantId, action, targetType: 'user', targetId: u.id, details: { via: 'scim', fields } }, ctx.requestId);
    return u;
  });
}

export function replaceUser(ctx: ScimContext, id: string, body: unknown, ifMatch?: string) {
  const r = resourceBody(body);
  if (r.id !== undefined && String(r.id).toLowerCase() !== id.toLowerCase() && isUuid(id)) throw invalidValue('"id" does not match the URL');
  return update(ctx, id, ifMatch, () => fieldsOf(r), 'user.updated');
}

export function patchUser(ctx: ScimContext, id: string, body: unknown, ifMatch?: string) {
  const ops = parsePatchRequest(body);
  return update(
    ctx,
    id,
    ifMatch,
    (current) => {
      const patched = applyPatch(USER_SHAPE, patchable(current), ops);
      return fieldsOf(patched);
    },
    'user.updated',
  );
}

export async function deleteUser(ctx: ScimContext, id: string, ifMatch?: string) {
  const existing = await findRow(ctx.prisma, ctx.tenantId, id);
  await ctx.prisma.$transaction(async (tx) => {
    await sqlLock.user(tx, ctx.tenantId, existing.id);
    const current = await findRow(tx, ctx.tenantId, existing.id);
    checkIfMatch(ifMatch, current);
    await assertMayActOn(tx, ctx.principal, ctx.tenantId, { kind: 'user', id: current.id });
    // Groups the user leaves change too: their versions move.
    const groupIds = (await tx.groupMembership.findMany({ where: { tenantId: ctx.tenantId, userId: current.id }, select: { groupId: true } })).map(
      (m) => m.groupId,
    );
    await tx.user.delete({ where: { tenantId_id: { tenantId: ctx.tenantId, id: current.id } } });
    if (groupIds.length) await tx.userGroup.updateMany({ where: { tenantId: ctx.tenantId, id: { in: groupIds } }, data: { updatedAt: new Date() } });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'user.deleted', targetType: 'user', targetId: current.id, details: { via: 'scim', username: current.username } },
      ctx.requestId,
    );
  });
}
