import type { FastifyRequest } from 'fastify';
import type { Prisma } from '../platform/db.js';
import type { Principal } from './principal.js';

/** What a service needs to act for a caller: the database, who calls, and the tenant acted on. */
export interface ServiceContext {
  prisma: Prisma;
  principal: Principal;
  tenantId: string;
  requestId: string;
}

export function contextOf(request: FastifyRequest): ServiceContext {
  if (!request.principal || !request.tenantId) throw new Error('contextOf() on a route without authentication');
  return { prisma: request.server.db.prisma, principal: request.principal, tenantId: request.tenantId, requestId: request.id };
}
