import type { ServiceContext } from '../principals/context.js';
import { isAdminOf } from '../principals/principal.js';
import { forbidden, notFound } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';

export const SELF = 'self';

/**
 * The account id a path names: `self` is the calling service account. A caller that is
 * not a service account of this tenant has no `self` account, so it is simply absent.
 */
export function resolveAccountId(ctx: ServiceContext, machineUserId: string): string {
  const p = ctx.principal;
  if (machineUserId === SELF) {
    if (p.kind !== 'serviceaccount' || p.tenantId !== ctx.tenantId) throw notFound('Service account');
    return p.subjectId;
  }
  if (!isUuid(machineUserId)) throw notFound('Service account');
  return machineUserId.toLowerCase();
}

export const isSelf = (ctx: ServiceContext, accountId: string) =>
  ctx.principal.kind === 'serviceaccount' && ctx.principal.subjectId === accountId && ctx.principal.tenantId === ctx.tenantId;

/** "admin, or self": checked before any lookup so non-admins learn nothing about other accounts. */
export function requireAdminOrSelf(ctx: ServiceContext, accountId: string) {
  if (!isSelf(ctx, accountId) && !isAdminOf(ctx.principal, ctx.tenantId)) throw forbidden('This operation requires the tenant-admin role');
}
