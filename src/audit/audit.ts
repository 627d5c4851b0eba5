import type { Prisma } from '../platform/db.js';
import type { Principal } from '../principals/principal.js';

export interface AuditEntry {
  tenantId: string | null;
  action: string;
  targetType: string;
  targetId?: string | null;
  /** Never a secret: callers pass identifiers and changed field names, not values of credentials. */
  details?: Record<string, unknown>;
}

type Writer = Pick<Prisma, 'auditEvent'>;

export async function audit(db: Writer, actor: Principal | 'system', entry: AuditEntry, requestId?: string) {
  await db.auditEvent.create({
    data: {
      tenantId: entry.tenantId,
      actorKind: actor === 'system' ? 'system' : actor.kind,
      actorId: actor === 'system' ? null : actor.subjectId,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId ?? null,
      details: (entry.details ?? {}) as object,
      requestId: requestId ?? null,
    },
  });
}
