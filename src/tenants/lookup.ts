import type { Prisma } from '../platform/db.js';

/** The active tenant a subdomain names, if any (hosted login and authorize find the tenant from the Host). */
export async function activeTenantBySubdomain(prisma: Prisma, subdomain: string): Promise<{ id: string; name: string } | undefined> {
  const identity = await prisma.tenantIdentity.findUnique({ where: { subdomain }, include: { tenant: { select: { id: true, name: true, state: true } } } });
  return identity && identity.tenant.state === 'active' ? { id: identity.tenant.id, name: identity.tenant.name } : undefined;
}

/** Whether a tenant with this id exists (in any state). */
export async function tenantExists(prisma: Prisma, id: string): Promise<boolean> {
  return (await prisma.tenant.findUnique({ where: { id }, select: { id: true } })) !== null;
}
