import type { Prisma as P, User } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn, assertMayConfer, holdsRole, type Actor } from '../principals/policy.js';
import { isBuiltinRole } from '../principals/principal.js';
import type { Prisma } from '../platform/db.js';
import { AppError, type ErrorItem, notFound, unprocessable, validationFailed } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import type { UserCountCache } from './count-cache.js';
import { searchUserRows, userRow } from './search.js';
import { userAttributes as viewAttributes, type UserView } from './view.js';
import { hashPassword, type Argon2Params } from '../platform/passwords.js';
import { resolveRoleName } from '../roles/assign.js';
import { createSetPasswordToken } from './invitations.js';
import { clearLoginThrottle } from './lockout.js';
import { sendInvitation } from './mailer.js';
import { identityClashes, userIdentityProblems } from './identity.js';
import { assertPasswordComplies, policyOf } from './password-policy.js';
import type { UserCreate, UserSearch, UserUpdate } from './schemas.js';

type Tx = P.TransactionClient;
export type UserRow = User & { roles: { roleName: string }[] };

const withRoles = { roles: { select: { roleName: true }, orderBy: { roleName: 'asc' as const } } };

/** Attributes of a user resource, from a Prisma row with its assignments or from a view. */
export function userAttributes(u: UserRow | UserView) {
  return viewAttributes({ ...u, roles: (u.roles as (string | { roleName: string })[]).map((r) => (typeof r === 'string' ? r : r.roleName)) });
}

/** GET of one user: a single statement, as it is the most frequent read. */
export async function getUser(prisma: Prisma, tenantId: string, id: string): Promise<UserView> {
  const user = isUuid(id) ? await userRow(prisma, tenantId, id) : undefined;
  if (!user) throw notFound('User');
  return user;
}

export async function findUser(prisma: Prisma | Tx, tenantId: string, id: string): Promise<UserRow> {
  const user = isUuid(id) ? await prisma.user.findUnique({ where: { tenantId_id: { tenantId, id } }, include: withRoles }) : null;
  if (!user) throw notFound('User');
  return user;
}

/** The tenant's identity rule (./identity.ts), refused as JSON:API conflicts. */
async function assertIdentityFree(db: Tx, tenantId: string, input: { username?: string; email?: string }, exceptId?: string) {
  const clashes = await identityClashes(db, tenantId, input, exceptId ? { kind: 'user', id: exceptId } : undefined);
  const items: ErrorItem[] = clashes.map((c) => ({
    status: '409',
    code: 'conflict',
    title: 'Conflict',
    detail: c.field === 'username' ? `The username "${c.value}" is already taken` : `The email "${c.value}" is already in use`,
    source: { pointer: `/data/attributes/${c.field}` },
  }));
  if (items.length) throw new AppError(409, 'conflict', 'Conflict', items[0]!.detail, undefined, items);
}

/** Resolves role names to assign, refusing unknown ones (400) and those the caller cannot grant (403). */
async function resolveGrantable(
  ctx: Pick<ServiceContext<Actor>, 'principal' | 'tenantId'>,
  db: Tx,
  names: string[],
  pointer: (i: number) => string,
): Promise<string[]> {
  const out: string[] = [];
  const unknown: ErrorItem[] = [];
  for (const [i, name] of names.entries()) {
    const resolved = await resolveRoleName(db, ctx.tenantId, name);
    if (!resolved) {
      unknown.push({ status: '400', code: 'unknown_role', title: 'Unknown role', detail: `No role named "${name}"`, source: { pointer: pointer(i) } });
      continue;
    }
    assertMayConfer(ctx.principal, ctx.tenantId, [resolved]);
    out.push(resolved);
  }
  if (unknown.length) throw validationFailed(unknown);
  return [...new Set(out)];
}

export async function searchUsers(prisma: Prisma, tenantId: string, criteria: UserSearch, skip: number, take: number, counts?: UserCountCache) {
  const key = counts?.key(tenantId, criteria);
  const result = await searchUserRows(prisma, tenantId, criteria, skip, take, counts?.get(key));
  counts?.set(key, result.total);
  return result;
}

export interface InvitationOptions {
  /** The set-password link that carries a one-time token (the login pages own its path). */
  setPasswordLink: (token: string) => string;
  ttlMs: number;
  smtpUrl?: string;
  smtpFrom: string;
}

export interface CreatedUser {
  user: UserRow;
  /** Only when the invitation could not be mailed: the one-time link, shown once. */
  setPasswordUrl?: string;
  invitation?: 'mailed' | 'link' | 'mail_failed';
  mailError?: string;
}

export async function createUser(ctx: ServiceContext, input: UserCreate, argon2: Argon2Params, inv: InvitationOptions): Promise<CreatedUser> {
  const tenant = await ctx.prisma.tenant.findUniqueOrThrow({ where: { id: ctx.tenantId } });
  if (input.password !== undefined) assertPasswordComplies(policyOf(tenant), input.password);
  const passwordHash = input.password !== undefined ? await hashPassword(input.password, argon2) : null;
  const state = input.state ?? (passwordHash ? 'active' : 'initial');

  const { user, token } = await ctx.prisma.$transaction((tx) => createUserIn(tx, ctx, input, { passwordHash, state, invitationTtlMs: inv.ttlMs }));

  if (!token) return { user };
  const url = inv.setPasswordLink(token.token);
  if (!inv.smtpUrl) return { user, setPasswordUrl: url, invitation: 'link' };
  try {
    await sendInvitation(inv.smtpUrl, inv.smtpFrom, { to: user.email, username: user.username, tenantName: tenant.name, url, expiresAt: token.expiresAt });
    return { user, invitation: 'mailed' };
  } catch (e) {
    // The user exists; an admin can retry by setting a password or recreating the invitation.
    return { user, invitation: 'mail_failed', mailError: (e as Error).message };
  }
}

/**
 * createUser inside the caller's transaction, for writers that create a user with other
 * rows at once (the first start's bootstrap): roles the caller may confer, the tenant's
 * identity rule, an invitation when there is no password, the audit. The caller has
 * checked the password against the tenant's policy and hashed it.
 */
export async function createUserIn(
  tx: Tx,
  ctx: Omit<ServiceContext<Actor>, 'prisma'>,
  input: UserCreate,
  /** `invite: false`: no set-password invitation, for users who sign in through an identity provider only. */
  opts: { passwordHash: string | null; state: string; invitationTtlMs: number; invite?: boolean },
) {
  const { passwordHash, state } = opts;
  // REST's schema is narrower; writers of names another system chose are held to these bounds.
  const syntax = userIdentityProblems(input);
  if (syntax.length)
    throw validationFailed(
      syntax.map((p) => ({
        status: '400',
        code: 'invalid_value',
        title: 'Invalid value',
        detail: `${p.field} ${p.message}`,
        source: { pointer: `/data/attributes/${p.field}` },
      })),
    );
  const roles = await resolveGrantable(ctx, tx, input.roles ?? [], (i) => `/data/attributes/roles/${i}`);
  await assertIdentityFree(tx, ctx.tenantId, input);
  const created = await tx.user.create({
    data: {
      tenantId: ctx.tenantId,
      username: input.username,
      email: input.email,
      firstName: input.firstName ?? '',
      lastName: input.lastName ?? '',
      state,
      passwordHash,
      roles: { create: roles.map((roleName) => ({ roleName })) },
    },
    include: withRoles,
  });
  const token = passwordHash || opts.invite === false ? undefined : await createSetPasswordToken(tx, ctx.tenantId, created.id, opts.invitationTtlMs);
  await audit(
    tx,
    ctx.principal,
    {
      tenantId: ctx.tenantId,
      action: 'user.created',
      targetType: 'user',
      targetId: created.id,
      details: { username: created.username, roles, invited: Boolean(token) },
    },
    ctx.requestId,
  );
  return { user: created, token };
}

export async function updateUser(ctx: ServiceContext, id: string, input: UserUpdate, argon2: Argon2Params): Promise<UserRow> {
  const current = await findUser(ctx.prisma, ctx.tenantId, id);
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id: current.id });
  let passwordHash: string | undefined;
  if (input.password !== undefined) {
    const tenant = await ctx.prisma.tenant.findUniqueOrThrow({ where: { id: ctx.tenantId } });
    assertPasswordComplies(policyOf(tenant), input.password);
    passwordHash = await hashPassword(input.password, argon2);
  }
  const canLogIn = Boolean(passwordHash ?? current.passwordHash ?? current.idpId);
  if (input.state === 'active' && !canLogIn) {
    throw unprocessable('A user without a password or identity provider cannot be active; set a password', '/data/attributes/state');
  }
  let state = input.state;
  if (!state && passwordHash && current.state === 'initial') state = 'active';
  // Also when already active: an admin's "unlock" clears the login throttling too.
  const unlock = state === 'active';

  return ctx.prisma.$transaction(async (tx) => {
    const changes: { username?: string; email?: string } = {};
    if (input.username !== undefined && input.username !== current.username) changes.username = input.username;
    if (input.email !== undefined && input.email !== current.email) changes.email = input.email;
    await assertIdentityFree(tx, ctx.tenantId, changes, id);
    const user = await tx.user.update({
      where: { tenantId_id: { tenantId: ctx.tenantId, id } },
      data: {
        username: input.username,
        email: input.email,
        firstName: input.firstName,
        lastName: input.lastName,
        state,
        passwordHash,
        failedLogins: unlock || passwordHash ? 0 : undefined,
        // Any state an admin sets ends a temporary lockout; "locked" then lasts until an admin unlocks.
        lockedUntil: state ? null : undefined,
      },
      include: withRoles,
    });
    if (passwordHash) await passwordWasSet(tx, ctx.tenantId, id);
    else if (unlock) await clearLoginThrottle(tx, ctx.tenantId, id);
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'user.updated',
        targetType: 'user',
        targetId: id,
        details: { fields: Object.keys(input), ...(state && state !== current.state ? { state: { from: current.state, to: state } } : {}) },
      },
      ctx.requestId,
    );
    return user;
  });
}

/**
 * What setting a user's password implies, through REST or SCIM: it supersedes any open
 * invitation (whose link would otherwise replace it) and clears the login throttling.
 */
export async function passwordWasSet(tx: Tx, tenantId: string, userId: string) {
  await tx.setPasswordToken.updateMany({ where: { tenantId, userId, usedAt: null }, data: { usedAt: new Date() } });
  await clearLoginThrottle(tx, tenantId, userId);
}

export async function deleteUser(ctx: ServiceContext, id: string) {
  const current = await findUser(ctx.prisma, ctx.tenantId, id);
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id: current.id });
  await ctx.prisma.$transaction(async (tx) => {
    // Memberships, role assignments and set-password tokens go with it (foreign keys cascade).
    await tx.user.delete({ where: { tenantId_id: { tenantId: ctx.tenantId, id } } });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'user.deleted', targetType: 'user', targetId: id, details: { username: current.username } },
      ctx.requestId,
    );
  });
}

export async function userGroups(prisma: Prisma, tenantId: string, id: string, skip: number, take: number) {
  await findUser(prisma, tenantId, id);
  const where = { tenantId, members: { some: { userId: id } } };
  const [total, rows] = await Promise.all([
    prisma.userGroup.count({ where }),
    prisma.userGroup.findMany({
      where,
      orderBy: { nameLower: 'asc' },
      skip,
      take,
      include: { roles: { select: { roleName: true }, orderBy: { roleName: 'asc' } }, _count: { select: { members: true } } },
    }),
  ]);
  return { total, rows };
}

export interface UserRole {
  name: string;
  builtIn: boolean;
  direct: boolean;
  inherited: boolean;
  inheritedFrom: { id: string; name: string }[];
}

/** Every role the user holds, own and inherited from groups, each marked with where it comes from. */
export async function userRoles(prisma: Prisma, tenantId: string, id: string): Promise<UserRole[]> {
  await findUser(prisma, tenantId, id);
  const rows = await prisma.roleAssignment.findMany({
    where: { tenantId, OR: [{ userId: id }, { group: { members: { some: { userId: id } } } }] },
    select: { roleName: true, userId: true, group: { select: { id: true, name: true } } },
  });
  const byName = new Map<string, UserRole>();
  for (const r of rows) {
    const role = byName.get(r.roleName) ?? { name: r.roleName, builtIn: isBuiltinRole(r.roleName), direct: false, inherited: false, inheritedFrom: [] };
    if (r.userId) role.direct = true;
    if (r.group) {
      role.inherited = true;
      role.inheritedFrom.push(r.group);
    }
    byName.set(r.roleName, role);
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Adds roles to a user item by item: the applicable ones are applied, the others
 * come back as errors pointing at their index. Already held roles count as applied.
 */
export async function addUserRoles(ctx: ServiceContext, id: string, names: string[]): Promise<ErrorItem[]> {
  await findUser(ctx.prisma, ctx.tenantId, id);
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id });
  return ctx.prisma.$transaction(async (tx) => {
    const errors: ErrorItem[] = [];
    const added: string[] = [];
    for (const [i, name] of names.entries()) {
      const pointer = `/data/${i}`;
      const resolved = await resolveRoleName(tx, ctx.tenantId, name);
      if (!resolved) {
        errors.push({ status: '404', code: 'not_found', title: 'Not found', detail: `No role named "${name}"`, source: { pointer } });
      } else if (!holdsRole(ctx.principal, resolved)) {
        errors.push({
          status: '403',
          code: 'forbidden',
          title: 'Forbidden',
          detail: `You cannot grant the role "${resolved}", which you do not hold`,
          source: { pointer },
        });
      } else {
        const res = await tx.roleAssignment.createMany({ data: [{ tenantId: ctx.tenantId, userId: id, roleName: resolved }], skipDuplicates: true });
        if (res.count) added.push(resolved);
      }
    }
    if (added.length) {
      await audit(
        tx,
        ctx.principal,
        { tenantId: ctx.tenantId, action: 'user.roles_added', targetType: 'user', targetId: id, details: { roles: added } },
        ctx.requestId,
      );
    }
    return errors;
  });
}

export async function removeUserRole(ctx: ServiceContext, id: string, roleName: string) {
  await findUser(ctx.prisma, ctx.tenantId, id);
  // Acting on the user covers the role: whoever may act on it holds every role it has.
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id });
  await ctx.prisma.$transaction(async (tx) => {
    const res = await tx.roleAssignment.deleteMany({ where: { tenantId: ctx.tenantId, userId: id, roleName } });
    if (res.count === 0) throw notFound('Role assignment');
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'user.role_removed', targetType: 'user', targetId: id, details: { role: roleName } },
      ctx.requestId,
    );
  });
}
