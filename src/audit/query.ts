import type { Prisma } from '../platform/db.js';
import { badRequest, forbidden } from '../platform/errors.js';
import { likeLiteral } from '../platform/ids.js';
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

/** The SQL condition of the filter, every value a bind parameter. */
function whereOf(filter: AuditFilter, tenantId: string | undefined, p: (v: unknown) => string): string {
  const from = filter.from ? new Date(filter.from) : undefined;
  const to = filter.to ? new Date(filter.to) : undefined;
  if (from && to && from > to) throw badRequest('`from` is after `to`');
  const where: string[] = [];
  if (tenantId) where.push(`e."tenantId" = ${p(tenantId)}::uuid`);
  for (const col of ['actorKind', 'actorId', 'targetType', 'targetId', 'outcome', 'requestId'] as const) {
    const v = filter[col];
    if (v) where.push(`e."${col}" = ${p(v)}`);
  }
  if (filter.action?.endsWith('*')) where.push(`e."action" LIKE ${p(`${likeLiteral(filter.action.slice(0, -1))}%`)}`);
  else if (filter.action) where.push(`e."action" = ${p(filter.action)}`);
  if (from) where.push(`e."createdAt" >= ${p(from)}::timestamptz`);
  if (to) where.push(`e."createdAt" < ${p(to)}::timestamptz`);
  return where.length ? where.join(' AND ') : 'true';
}

interface Row {
  id: string;
  tenantId: string | null;
  createdAt: string;
  actorKind: string;
  actorId: string | null;
  actorName: string | null;
  clientAddress: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  outcome: string;
  requestId: string | null;
  details: Record<string, unknown> | null;
}

/**
 * Counting stops here: a count reads every match, and a wide range of a busy tenant has
 * millions. Past it, the total is a lower bound (the list says so) and paging goes on.
 * A thousand, not more: a reader of "1,000+" narrows the range, and counting ten times as
 * far was most of what a day of a busy tenant cost beyond its page (docs/audit.md, Speed).
 */
export const AUDIT_COUNT_CAP = 1_000;

/**
 * One page of audit events, newest first, and the total, in one statement. The
 * (tenantId, createdAt, id) index holds a tenant's time range in the list's order: the
 * page's ids are cut from it alone (an index-only scan, so a deep page skips index
 * entries, not rows) before its rows are read, and the count reads it without rows. The
 * actor and target filters have indexes of their own.
 */
export async function listAuditEvents(
  ctx: AuditReadContext,
  filter: AuditFilter,
  skip: number,
  take: number,
): Promise<{ total: number; exact: boolean; rows: Row[] }> {
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const where = whereOf(filter, await tenantScope(ctx, filter), p);
  const sql = `WITH page AS (
        SELECT e."id", e."createdAt" FROM "AuditEvent" e WHERE ${where} ORDER BY e."createdAt" DESC, e."id" DESC OFFSET ${p(skip)} LIMIT ${p(take)})
      SELECT (SELECT count(*)::int FROM (SELECT 1 FROM "AuditEvent" e WHERE ${where} LIMIT ${AUDIT_COUNT_CAP + 1}) matches) AS total,
      (SELECT coalesce(json_agg(r ORDER BY r."createdAt" DESC, r."id" DESC), '[]'::json) FROM (
        SELECT e."id", e."tenantId", e."createdAt", e."actorKind", e."actorId", e."actorName", e."clientAddress", e."action",
               e."targetType", e."targetId", e."outcome", e."requestId", e."details"
        FROM page JOIN "AuditEvent" e ON e."id" = page."id") r) AS rows`;
  const [result] = await ctx.prisma.$queryRawUnsafe<{ total: number; rows: Row[] }[]>(sql, ...params);
  const counted = result?.total ?? 0;
  return { total: Math.min(counted, AUDIT_COUNT_CAP), exact: counted <= AUDIT_COUNT_CAP, rows: result?.rows ?? [] };
}

export function auditEventAttributes(e: Row) {
  return {
    tenantId: e.tenantId,
    createdAt: new Date(e.createdAt).toISOString(),
    actorKind: e.actorKind,
    actorId: e.actorId,
    actorName: e.actorName,
    clientAddress: e.clientAddress,
    action: e.action,
    targetType: e.targetType,
    targetId: e.targetId,
    outcome: e.outcome === 'failure' ? ('failure' as const) : ('success' as const),
    requestId: e.requestId,
    details: e.details ?? {},
  };
}
