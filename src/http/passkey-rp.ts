import type { FastifyRequest } from 'fastify';
import type { RelyingParty } from '../users/passkeys.js';
import { tenantFromHost } from './tenant-host.js';

/**
 * The WebAuthn relying party of a page: its ID is the host name the browser shows, the
 * tenant's own host ({subdomain}.{BASE_DOMAIN}) when the page is served there, else the
 * host of PUBLIC_URL; the answer must come from that host's origin. A passkey belongs to the
 * host it was added on (browsers offer it only there).
 */
export async function relyingPartyFor(request: FastifyRequest, tenantId: string): Promise<RelyingParty> {
  const pub = new URL(request.server.config.PUBLIC_URL);
  const tenant = await request.server.db.prisma.tenant.findUnique({ where: { id: tenantId }, select: { name: true } });
  const name = tenant?.name ?? pub.hostname;
  const own = await tenantFromHost(request);
  if (own?.id === tenantId) {
    const port = pub.port ? `:${pub.port}` : '';
    return { id: request.hostname, name, origins: [`${pub.protocol}//${request.hostname}${port}`] };
  }
  return { id: pub.hostname, name, origins: [pub.origin] };
}
