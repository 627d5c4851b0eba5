import type { Tenant, TenantIdentity } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import type { Actor } from '../principals/policy.js';
import type { Prisma } from '../platform/db.js';
import type { Prisma as P } from '../generated/prisma/client.js';

type Tx = P.TransactionClient;
import { conflict, notFound, unprocessable } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import type { TenantCreate, TenantUpdate } from './schemas.js';
import { createAnalyticsUiApplication, syncAnalyticsUiSubdomain, type DefaultApplicationConfig } from '../oauth/applications.js';

type TenantRow = Tenant & { identity: TenantIdentity | null };

export function tenantAttributes(t: TenantRow) {
  return {
    name: t.name,
    subdomain: t.identity?.subdomain ?? null,
    state: t.state as 'active' | 'disabled',
    isOperator: t.isOperator,
    branding: t.branding as Record<string, string>,
    termsRequired: t.termsRequired,
    passwordPolicy: {
      minLength: t.pwMinLength,
      requireUpper: t.pwRequireUpper,
      requireLower: t.pwRequireLower,
      requireDigit: t.pwRequireDigit,
      requireSymbol: t.pwRequireSymbol,
    },
    lockoutPolicy: { maxAttempts: t.lockoutMaxAttempts },
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
}

function policyColumns(input: TenantUpdate) {
  const p = input.passwordPolicy ?? {};
  return {
    pwMinLength: p.minLength,
    pwRequireUpper: p.requireUpper,
    pwRequireLower: p.requireLower,
    pwRequireDigit: p.requireDigit,
    pwRequireSymbol: p.requireSymbol,
    lockoutMaxAttempts: input.lockoutPolicy?.maxAttempts,
  };
}

async function assertSubdomainFree(prisma: Pick<Prisma, 'tenantIdentity'>, subdomain: string, tenantId?: string) {
  const owner = await prisma.tenantIdentity.findUnique({ where: { subdomain } });
  if (owner && owner.tenantId !== tenantId) throw conflict(`Subdomain "${subdomain}" is already in use`, '/data/attributes/subdomain');
}

export async function findTenant(prisma: Prisma, id: string): Promise<TenantRow> {
  const t = isUuid(id) ? await prisma.tenant.findUnique({ where: { id }, include: { identity: true } }) : null;
  if (!t) throw notFound('Tenant');
  return t;
}

export async function listTenants(prisma: Prisma, skip: number, take: number) {
  const [total, rows] = await Promise.all([
    prisma.tenant.count(),
    prisma.tenant.findMany({ skip, take, orderBy: { createdAt: 'asc' }, include: { identity: true } }),
  ]);
  return { total, rows };
}

/** Who creates a tenant: a caller of the API, or the system (the CLI). */
export type TenantCreator = Pick<ServiceContext, 'prisma'> & { principal: Actor; requestId?: string };

/**
 * The one way to create a tenant (POST /api/v3/tenants and the CLI's create-tenant).
 * `input` is what `tenantCreate` (./schemas.ts) parsed; `config` shapes the AnalyticsUI
 * application every tenant is created with; `via` names a non-HTTP entry point in the audit.
 */
export async function createTenant(ctx: TenantCreator, input: TenantCreate, config: DefaultApplicationConfig, via?: string): Promise<TenantRow> {
  return ctx.prisma.$transaction((tx) => createTenantIn(tx, ctx, input, config, { via }));
}

/** createTenant inside the caller's transaction. Only the first start's bootstrap creates the operator tenant. */
export async function createTenantIn(
  tx: Tx,
  ctx: Omit<TenantCreator, 'prisma'>,
  input: TenantCreate,
  config: DefaultApplicationConfig,
  { via, isOperator }: { via?: string; isOperator?: boolean } = {},
): Promise<TenantRow> {
  if (input.subdomain) await assertSubdomainFree(tx, input.subdomain);
  const tenant = await tx.tenant.create({
    data: {
      isOperator,
      name: input.name,
      state: input.state,
      branding: input.branding,
      termsRequired: input.termsRequired,
      ...policyColumns(input),
      identity: input.subdomain ? { create: { subdomain: input.subdomain, name: input.name } } : undefined,
    },
    include: { identity: true },
  });
  await createAnalyticsUiApplication(tx, tenant.id, input.subdomain, config);
  await audit(
    tx,
    ctx.principal,
    { tenantId: tenant.id, action: 'tenant.created', targetType: 'tenant', targetId: tenant.id, ...(via ? { details: { via } } : {}) },
    ctx.requestId,
  );
  return tenant;
}

export async function updateTenant(ctx: ServiceContext, id: string, input: TenantUpdate, config: DefaultApplicationConfig): Promise<TenantRow> {
  const current = await findTenant(ctx.prisma, id);
  if (current.isOperator && input.state === 'disabled') throw unprocessable('The operator tenant cannot be disabled', '/data/attributes/state');
  return ctx.prisma.$transaction(async (tx) => {
    if (input.subdomain) await assertSubdomainFree(tx, input.subdomain, id);
    const name = input.name ?? current.name;
    const identity =
      input.subdomain === null
        ? current.identity
          ? { delete: true }
          : undefined
        : input.subdomain
          ? { upsert: { create: { subdomain: input.subdomain, name }, update: { subdomain: input.subdomain } } }
          : undefined;
    const tenant = await tx.tenant.update({
      where: { id },
      data: {
        name: input.name,
        state: input.state,
        branding: input.branding,
        termsRequired: input.termsRequired,
        ...policyColumns(input),
        identity,
      },
      include: { identity: true },
    });
    await syncAnalyticsUiSubdomain(tx, id, current.identity?.subdomain, tenant.identity?.subdomain, config);
    await audit(
      tx,
      ctx.principal,
      { tenantId: id, action: 'tenant.updated', targetType: 'tenant', targetId: id, details: { fields: Object.keys(input) } },
      ctx.requestId,
    );
    return tenant;
  });
}

export async function deleteTenant(ctx: ServiceContext, id: string) {
  const current = await findTenant(ctx.prisma, id);
  if (current.isOperator) throw unprocessable('The operator tenant cannot be deleted');
  await ctx.prisma.$transaction(async (tx) => {
    await tx.tenant.delete({ where: { id } });
    await audit(
      tx,
      ctx.principal,
      { tenantId: null, action: 'tenant.deleted', targetType: 'tenant', targetId: id, details: { name: current.name } },
      ctx.requestId,
    );
  });
}
