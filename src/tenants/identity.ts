import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import type { Prisma } from '../platform/db.js';
import { conflict, notFound } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { syncAnalyticsUiSubdomain, type DefaultApplicationConfig } from '../oauth/applications.js';

export interface TenantIdentityInput {
  tenantId: string;
  subdomain: string;
  name: string;
  extra: Record<string, unknown>;
}

/** The subdomain of `host` under `baseDomain`, e.g. "acme" for acme.example.com; undefined otherwise. */
export function subdomainOf(host: string, baseDomain: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  const suffix = '.' + baseDomain.toLowerCase();
  if (!h.endsWith(suffix)) return undefined;
  const label = h.slice(0, -suffix.length);
  return label && !label.includes('.') ? label : undefined;
}

export async function tenantInfo(prisma: Prisma, subdomain: string) {
  const identity = await prisma.tenantIdentity.findUnique({ where: { subdomain }, include: { tenant: true } });
  if (!identity || identity.tenant.state !== 'active') throw notFound('Tenant');
  return identityDocument(identity, identity.tenant);
}

function identityDocument(
  identity: { tenantId: string; subdomain: string; name: string; attributes: unknown },
  tenant: { branding: unknown; termsRequired: boolean },
) {
  return {
    data: {
      type: 'tenantInfo' as const,
      id: identity.tenantId,
      attributes: {
        ...(identity.attributes as Record<string, unknown>),
        tenantId: identity.tenantId,
        subdomain: identity.subdomain,
        name: identity.name,
        branding: tenant.branding as Record<string, string>,
        termsRequired: tenant.termsRequired,
      },
    },
  };
}

export async function putTenantIdentity(ctx: ServiceContext, input: TenantIdentityInput, config: DefaultApplicationConfig) {
  return ctx.prisma.$transaction(async (tx) => {
    const tenant = isUuid(input.tenantId) ? await tx.tenant.findUnique({ where: { id: input.tenantId } }) : null;
    if (!tenant) throw notFound('Tenant');
    const owner = await tx.tenantIdentity.findUnique({ where: { subdomain: input.subdomain } });
    if (owner && owner.tenantId !== input.tenantId) {
      throw conflict(`Subdomain "${input.subdomain}" belongs to another tenant`, '/data/attributes/subdomain');
    }
    const previous = await tx.tenantIdentity.findUnique({ where: { tenantId: input.tenantId }, select: { subdomain: true } });
    const data = { subdomain: input.subdomain, name: input.name, attributes: input.extra as object };
    const identity = await tx.tenantIdentity.upsert({
      where: { tenantId: input.tenantId },
      create: { tenantId: input.tenantId, ...data },
      update: data,
    });
    await syncAnalyticsUiSubdomain(tx, input.tenantId, previous?.subdomain, input.subdomain, config);
    await audit(
      tx,
      ctx.principal,
      { tenantId: input.tenantId, action: 'tenant.identity.set', targetType: 'tenantIdentity', targetId: input.subdomain },
      ctx.requestId,
    );
    return identityDocument(identity, tenant);
  });
}

export async function deleteTenantIdentity(ctx: ServiceContext, subdomain: string, config: DefaultApplicationConfig) {
  await ctx.prisma.$transaction(async (tx) => {
    const identity = await tx.tenantIdentity.findUnique({ where: { subdomain } });
    if (!identity) throw notFound('Tenant identity');
    await tx.tenantIdentity.delete({ where: { subdomain } });
    await syncAnalyticsUiSubdomain(tx, identity.tenantId, subdomain, null, config);
    await audit(
      tx,
      ctx.principal,
      { tenantId: identity.tenantId, action: 'tenant.identity.deleted', targetType: 'tenantIdentity', targetId: subdomain },
      ctx.requestId,
    );
  });
}
