import type { FastifyRequest } from 'fastify';
import { subdomainOf } from '../tenants/identity.js';
import { activeTenantBySubdomain } from '../tenants/lookup.js';

/** The active tenant named by the request's Host subdomain ({subdomain}.{BASE_DOMAIN}), if any. */
export async function tenantFromHost(request: FastifyRequest): Promise<{ id: string; name: string } | undefined> {
  const sub = subdomainOf(request.hostname, request.server.config.BASE_DOMAIN);
  if (!sub) return undefined;
  return activeTenantBySubdomain(request.server.db.prisma, sub);
}

/**
 * The origin the hosted login of `tenantId` is served from for this request: the tenant's own
 * host ({subdomain}.{BASE_DOMAIN}, with the scheme and port of PUBLIC_URL) when the request came
 * in on it, else the origin of PUBLIC_URL. What a login hands to the browser or to another party
 * (a passkey's relying party, an IdP's redirect URI) names this origin, so that the browser
 * stays on one host, with its cookies, from the first page to the last.
 */
export async function hostedOriginOf(request: FastifyRequest, tenantId: string): Promise<URL> {
  const pub = new URL(request.server.config.PUBLIC_URL);
  if ((await tenantFromHost(request))?.id !== tenantId) return new URL(pub.origin);
  return new URL(`${pub.protocol}//${request.hostname}${pub.port ? `:${pub.port}` : ''}`);
}
