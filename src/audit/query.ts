import type { Prisma as P } from '../generated/prisma/client.js';
import type { Prisma } from '../platform/db.js';
import { badRequest, forbidden } from '../platform/errors.js';
import { isAdminOf, isSkylightAdmin, type Principal } from '../principals/principal.js';
import type { AuditFilter } from './schemas.js';

/** The feature role that lets a principal read its tenant's audit log (docs/roles.md). */
const AUDIT_VIEW = 'audit-view';

export interface AuditReadContext {
  prisma: Prisma;
  principal: Principal;
  /** The tenant the request acts on (the caller's, or the one X-Forwarded-Tenant-Id names). */
  tenantId: string;
}

async function holdsAuditView(prisma: Prisma, p: Principal, tenantId: string): Promise<boolean> {
  if (isAdminOf(p, tenantId)) return true;
  if (p.tenantId !== tenantId || !p.roles.length) return false;
  const roles = await prisma.customRole.count({ where: { tenantId, name: { in: p.roles }, featureRoles: { has: AUDIT_VIEW } } });
  return roles > 0;
}

/**
 * Which tenant's events the caller reads: its own (audit-view or tenant-admin), or, for a
 * skylight-admin, the one it names (filter or X-Forwarded-Tenant-Id) or every tenant.
 */
async function tenantScope(ctx: AuditReadContext, filter: AuditFilter): Promise<string | undefined> {
  const { principal: p } = ctx;
  if (isSkylightAdmin(p)) return filter.tenantId ?? (ctx.tenantId !== p.tenantId ? ctx.tenantId : undefined);
  if (filter.tenantId && filter.tenantId !== ctx.tenantId) throw forbidden('Only a skylight-admin reads the audit log of another tenant');
  if (!(await holdsAuditView(ctx.prisma, p, ctx.tenantId))) throw forbidden(`Reading the audit log requires the ${AUDIT_VIEW} feature role or tenant-admin`);
  return ctx.tenantId;
}

function whereOf(filter: AuditFilter, tenantId: string | undefined): P.AuditEventWhereInput {
  const from = filter.from ? new Date(filter.from) : undefined;
  const to = filter.to ? new Date(filter.to) : undefined;
  if (from && to && from > to) throw badRequest('`from` is after `to`');
  const action = filter.action?.endsWith('*') ? { startsWith: filter.action.slice(0, -1) } : filter.action;
  return {
    ...(tenantId ? { tenantId } : {}),
    ...(filter.actorKind ? { actorKind: filter.actorKind } : {}),
    ...(filter.actorId ? { actorId: filter.actorId } : {}),
    ...(filter.targetType ? { targetType: filter.targetType } : {}),
    ...(filter.targetId ? { targetId: filter.targetId } : {}),
    ...(action ? { action } : {}),
    ...(filter.outcome ? { outcome: filter.outcome } : {}),
    ...(filter.requestId ? { requestId: filter.requestId } : {}),
    ...(from || to ? { createdAt: { ...(from ? { gte: from } : {}), ...(to ? { lt: to } : {}) } } : {}),
  };
}

/**
 * One page of audit events, newest first, and the total. The (tenantId, createdAt) index
 * serves a tenant's time range in order, so a page costs the same at any depth of history;
 * the actor and target filters have indexes of their own.
 */
export async function listAuditEvents(ctx: AuditReadContext, filter: AuditFilter, skip: number, take: number) {
  const where = whereOf(filter, await tenantScope(ctx, filter));
  const [total, rows] = await Promise.all([
    ctx.prisma.auditEvent.count({ where }),
    ctx.prisma.auditEvent.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], skip, take }),
  ]);
  return { total, rows };
}

export function auditEventAttributes(e: Awaited<ReturnType<typeof listAuditEvents>>['rows'][number]) {
  return {
    tenantId: e.tenantId,
    createdAt: e.createdAt.toISOString(),
    actorKind: e.actorKind,
    actorId: e.actorId,
    actorName: e.actorName,
    clientAddress: e.clientAddress,
    action: e.action,
    targetType: e.targetType,
    targetId: e.targetId,
    outcome: e.outcome === 'failure' ? ('failure' as const) : ('success' as const),
    requestId: e.requestId,
    details: (e.details ?? {}) as Record<string, unknown>,
  };
}
