import type { Prisma } from '../platform/db.js';
import type { Principal } from './principal.js';

/** What a service needs to act for a caller: the database, who calls, and the tenant acted on. */
export interface ServiceContext {
  prisma: Prisma;
  principal: Principal;
  tenantId: string;
  requestId: string;
}
