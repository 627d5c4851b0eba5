import type { Prisma } from '../platform/db.js';
import type { Actor } from './policy.js';
import type { Principal } from './principal.js';

/**
 * What a service needs to act for a caller: the database, who calls, and the tenant acted
 * on. Commands that the system also runs (the first start's bootstrap) take
 * `ServiceContext<Actor>`, where the caller may be 'system'.
 */
export interface ServiceContext<A extends Actor = Principal> {
  prisma: Prisma;
  principal: A;
  tenantId: string;
  requestId: string;
}
