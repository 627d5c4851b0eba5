import type { FastifyRequest } from 'fastify';
import type { RelyingParty } from '../users/passkeys.js';
import { hostedOriginOf } from './tenant-host.js';

/**
 * The WebAuthn relying party of a page: its ID is the host name the browser shows, the
 * tenant's own host ({subdomain}.{BASE_DOMAIN}) when the page is served there, else the
 * host of PUBLIC_URL; the answer must come from that host's origin. A passkey belongs to the
 * host it was added on (browsers offer it only there).
 */
export async function relyingPartyFor(request: FastifyRequest, tenantId: string): Promise<RelyingParty> {
  const tenant = await request.server.db.prisma.tenant.findUnique({ where: { id: tenantId }, select: { name: true } });
  const origin = await hostedOriginOf(request, tenantId);
  return { id: origin.hostname, name: tenant?.name ?? new URL(request.server.config.PUBLIC_URL).hostname, origins: [origin.origin] };
}
