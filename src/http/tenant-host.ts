import type { FastifyRequest } from 'fastify';
import { subdomainOf } from '../tenants/identity.js';

/** The active tenant named by the request's Host subdomain ({subdomain}.{BASE_DOMAIN}), if any. */
export async function tenantFromHost(request: FastifyRequest): Promise<{ id: string; name: string } | undefined> {
  const sub = subdomainOf(request.hostname, request.server.config.BASE_DOMAIN);
  if (!sub) return undefined;
  const identity = await request.server.db.prisma.tenantIdentity.findUnique({ where: { subdomain: sub }, include: { tenant: { select: { id: true, name: true, state: true } } } });
  return identity && identity.tenant.state === 'active' ? { id: identity.tenant.id, name: identity.tenant.name } : undefined;
}
