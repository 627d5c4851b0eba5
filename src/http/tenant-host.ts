import type { FastifyRequest } from 'fastify';
import { subdomainOf } from '../tenants/identity.js';
import { activeTenantBySubdomain } from '../tenants/lookup.js';

/** The active tenant named by the request's Host subdomain ({subdomain}.{BASE_DOMAIN}), if any. */
export async function tenantFromHost(request: FastifyRequest): Promise<{ id: string; name: string } | undefined> {
  const sub = subdomainOf(request.hostname, request.server.config.BASE_DOMAIN);
  if (!sub) return undefined;
  return activeTenantBySubdomain(request.server.db.prisma, sub);
}
