import type { FastifyRequest } from 'fastify';
import type { ServiceContext } from '../principals/context.js';

/**
 * The one context builder of the HTTP layer: what a service needs to act for the
 * authenticated caller of this request. Routes that need more (SCIM's base URL, export's
 * settings) add to it.
 */
export function contextOf(request: FastifyRequest): ServiceContext {
  if (!request.principal || !request.tenantId) throw new Error('contextOf() on a route without authentication');
  return { prisma: request.server.db.prisma, principal: request.principal, tenantId: request.tenantId, requestId: request.id };
}
