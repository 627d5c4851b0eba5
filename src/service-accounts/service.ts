import type { ServiceAccount } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import { generatePat, hashPat } from '../principals/pat.js';
import { SKYLIGHT_ADMIN, TENANT_ADMIN } from '../principals/principal.js';
import type { Prisma } from '../platform/db.js';
import { AppError, badRequest, conflict, notFound, type ErrorItem } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { assertMayActOnRoles, assertMayConfer, type Actor } from '../principals/policy.js';
import { identityClashes } from '../users/identity.js';
import { requireAdminOrSelf, resolveAccountId } from './access.js';
import type { ServiceAccountCreate, ServiceAccountSearch } from './schemas.js';
import { resolveRoleName } from '../roles/assign.js';

type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];
type AccountRow = ServiceAccount & { roles: { roleName: string }[] };

export function serviceAccountAttributes(sa: AccountRow) {
  return {
    name: sa.name,
    username: sa.username,
    description: sa.description,
    accessTokenType: sa.accessTokenType as 'Bearer' | 'Jwt',
    roles: sa.roles.map((r) => r.roleName).sort(),
    createdAt: sa.createdAt.toISOString(),
    updatedAt: sa.updatedAt.toISOString(),
  };
}

async function findAccount(db: Prisma | Tx, tenantId: string, id: string): Promise<AccountRow> {
  const sa = await db.serviceAccount.findUnique({ where: { tenantId_id: { tenantId, id } }, include: { roles: { select: { roleName: true } } } });
  if (!sa) throw notFound('Service account');
  return sa;
}

/** Loads the account a path names, after checking the caller is an admin of the tenant or the account itself. */
export async function accountForSelfService(ctx: ServiceContext, machineUserId: string): Promise<AccountRow> {
  const id = resolveAccountId(ctx, machineUserId);
  requireAdminOrSelf(ctx, id);
  return findAccount(ctx.prisma, ctx.tenantId, id);
}

export async function getServiceAccount(ctx: ServiceContext, machineUserId: string): Promise<AccountRow> {
  return accountForSelfService(ctx, machineUserId);
}

/**
 * Role names as stored: built-in names exactly, custom roles of the tenant by name
 * (case-insensitive). Every one must be grantable by the caller.
 */
const refuseRole = (detail: string, source: ErrorItem['source']) => new AppError(422, 'unprocessable', 'Unprocessable entity', detail, source);

async function resolveRoles(
  tx: Tx,
  ctx: Pick<ServiceContext<Actor>, 'principal' | 'tenantId'>,
  names: string[],
  source: (i: number) => ErrorItem['source'],
): Promise<string[]> {
  const out = new Set<string>();
  const operator = await tx.tenant.findUnique({ where: { id: ctx.tenantId }, select: { isOperator: true } });
  for (const [i, name] of names.entries()) {
    const stored = await resolveRoleName(tx, ctx.tenantId, name);
    if (!stored) throw refuseRole(`Unknown role "${name}"`, source(i));
    assertMayConfer(ctx.principal, ctx.tenantId, [stored]);
    if (stored === SKYLIGHT_ADMIN && !operator?.isOperator) throw refuseRole(`"${SKYLIGHT_ADMIN}" exists only in the operator tenant`, source(i));
    out.add(stored);
  }
  return [...out];
}

/** The tenant's identity rule (users/identity.ts): users and service accounts share one login namespace. */
export async function assertUsernameFree(tx: Tx, tenantId: string, username: string) {
  if ((await identityClashes(tx, tenantId, { username })).length) throw conflict(`Username "${username}" is already in use`, '/username');
}

export interface CreatedAccount {
  account: AccountRow;
  pat?: { id: string; token: string; expiresAt: Date };
}

export async function createServiceAccount(
  ctx: ServiceContext,
  input: ServiceAccountCreate,
  opts: { withPAT: boolean; queryRoles?: string[] },
): Promise<CreatedAccount> {
  if (opts.withPAT && !input.expirationDate) throw badRequest('withPAT=true requires expirationDate', '/expirationDate');
  return ctx.prisma.$transaction(async (tx) => {
    const account = await createServiceAccountIn(tx, ctx, input, opts.queryRoles ?? []);
    let pat: CreatedAccount['pat'];
    if (opts.withPAT) pat = await insertPat(tx, ctx, account.id, input.expirationDate!);
    return { account, pat };
  });
}

/**
 * createServiceAccount inside the caller's transaction (the first start's bootstrap creates
 * the operator account with the operator tenant): roles the caller may confer, tenant-admin
 * when none is named, the tenant's identity rule, the audit.
 */
export async function createServiceAccountIn(tx: Tx, ctx: Omit<ServiceContext<Actor>, 'prisma'>, input: ServiceAccountCreate, fromQuery: string[] = []) {
  const fromBody = input.roles ?? [];
  let roles: string[];
  if (!fromQuery.length && !fromBody.length) roles = await resolveRoles(tx, ctx, [TENANT_ADMIN], () => ({ pointer: '/roles' }));
  else {
    roles = [
      ...(await resolveRoles(tx, ctx, fromQuery, () => ({ parameter: 'roles' }))),
      ...(await resolveRoles(tx, ctx, fromBody, (i) => ({ pointer: `/roles/${i}` }))),
    ];
    roles = [...new Set(roles)];
  }
  await assertUsernameFree(tx, ctx.tenantId, input.username);
  const account = await tx.serviceAccount.create({
    data: {
      tenantId: ctx.tenantId,
      name: input.name,
      username: input.username,
      description: input.description,
      accessTokenType: input.accessTokenType,
      roles: { create: roles.map((roleName) => ({ roleName })) },
    },
    include: { roles: { select: { roleName: true } } },
  });
  await audit(
    tx,
    ctx.principal,
    {
      tenantId: ctx.tenantId,
      action: 'serviceaccount.created',
      targetType: 'serviceaccount',
      targetId: account.id,
      details: { username: account.username, roles, accessTokenType: account.accessTokenType },
    },
    ctx.requestId,
  );
  return account;
}

export async function deleteServiceAccount(ctx: ServiceContext, machineUserId: string) {
  const id = resolveAccountId(ctx, machineUserId);
  await ctx.prisma.$transaction(async (tx) => {
    const sa = await findAccount(tx, ctx.tenantId, id);
    assertMayActOnRoles(
      ctx.principal,
      ctx.tenantId,
      sa.roles.map((r) => r.roleName),
      'serviceaccount',
    );
    const [pats, keys] = await Promise.all([
      tx.personalAccessToken.count({ where: { tenantId: ctx.tenantId, serviceAccountId: id } }),
      tx.serviceAccountKey.count({ where: { tenantId: ctx.tenantId, serviceAccountId: id } }),
    ]);
    // PATs, keys, used assertions and role assignments go with it through their cascading foreign keys.
    await tx.serviceAccount.delete({ where: { tenantId_id: { tenantId: ctx.tenantId, id } } });
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'serviceaccount.deleted',
        targetType: 'serviceaccount',
        targetId: id,
        details: { username: sa.username, revokedPats: pats, revokedKeys: keys },
      },
      ctx.requestId,
    );
  });
}

export async function searchServiceAccounts(ctx: ServiceContext, criteria: ServiceAccountSearch, skip: number, take: number) {
  const where = {
    tenantId: ctx.tenantId,
    ...(criteria.name ? { name: { contains: criteria.name, mode: 'insensitive' as const } } : {}),
    ...(criteria.username ? { username: { contains: criteria.username, mode: 'insensitive' as const } } : {}),
    ...(criteria.role ? { roles: { some: { roleName: { equals: criteria.role, mode: 'insensitive' as const } } } } : {}),
  };
  const [total, rows] = await Promise.all([
    ctx.prisma.serviceAccount.count({ where }),
    ctx.prisma.serviceAccount.findMany({
      where,
      skip,
      take,
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      include: { roles: { select: { roleName: true } } },
    }),
  ]);
  return { total, rows };
}

// --- personal access tokens ---

/** A PAT for the account; `token` only when the operator chose it (BOOTSTRAP_ADMIN_PAT). */
export async function insertPat(tx: Tx, ctx: Omit<ServiceContext<Actor>, 'prisma'>, accountId: string, expiresAt: Date, token = generatePat()) {
  const row = await tx.personalAccessToken.create({
    data: { tenantId: ctx.tenantId, serviceAccountId: accountId, tokenHash: hashPat(token), expiresAt },
  });
  await audit(
    tx,
    ctx.principal,
    {
      tenantId: ctx.tenantId,
      action: 'serviceaccount.pat.created',
      targetType: 'pat',
      targetId: row.id,
      details: { serviceAccountId: accountId, expiresAt: expiresAt.toISOString() },
    },
    ctx.requestId,
  );
  return { id: row.id, token, expiresAt };
}

export async function createPat(ctx: ServiceContext, machineUserId: string, expiresAt: Date) {
  const sa = await accountForSelfService(ctx, machineUserId);
  assertMayActOnRoles(
    ctx.principal,
    ctx.tenantId,
    sa.roles.map((r) => r.roleName),
    'serviceaccount',
  );
  const pat = await ctx.prisma.$transaction((tx) => insertPat(tx, ctx, sa.id, expiresAt));
  return { credentialId: pat.id, expirationDate: pat.expiresAt.toISOString(), machineUserId: sa.id, pat: pat.token };
}

export async function deletePat(ctx: ServiceContext, machineUserId: string, credentialId: string) {
  const sa = await accountForSelfService(ctx, machineUserId);
  assertMayActOnRoles(
    ctx.principal,
    ctx.tenantId,
    sa.roles.map((r) => r.roleName),
    'serviceaccount',
  );
  if (!isUuid(credentialId)) throw notFound('Personal access token');
  await ctx.prisma.$transaction(async (tx) => {
    const { count } = await tx.personalAccessToken.deleteMany({ where: { tenantId: ctx.tenantId, serviceAccountId: sa.id, id: credentialId.toLowerCase() } });
    if (!count) throw notFound('Personal access token');
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'serviceaccount.pat.deleted',
        targetType: 'pat',
        targetId: credentialId.toLowerCase(),
        details: { serviceAccountId: sa.id },
      },
      ctx.requestId,
    );
  });
}

export async function listPats(ctx: ServiceContext, machineUserId: string, skip: number, take: number) {
  const sa = await accountForSelfService(ctx, machineUserId);
  const where = { tenantId: ctx.tenantId, serviceAccountId: sa.id };
  const [total, rows] = await Promise.all([
    ctx.prisma.personalAccessToken.count({ where }),
    ctx.prisma.personalAccessToken.findMany({
      where,
      skip,
      take,
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      select: { id: true, serviceAccountId: true, expiresAt: true, lastUsedAt: true, createdAt: true },
    }),
  ]);
  return {
    total,
    rows: rows.map((p) => ({
      credentialId: p.id,
      machineUserId: p.serviceAccountId,
      expirationDate: p.expiresAt.toISOString(),
      lastUsedAt: p.lastUsedAt?.toISOString() ?? null,
      createdAt: p.createdAt.toISOString(),
    })),
  };
}
