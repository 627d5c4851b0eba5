import type { Prisma } from '../platform/db.js';
import type { Principal } from '../principals/principal.js';
import { clientAddressOf, type AuditOrigin } from './origin.js';

/**
 * Who acted: an authenticated principal, the operator at the console ('system'), or a
 * party that is not (yet) a principal, such as a user whose login failed.
 */
export type AuditActor = Principal | 'system' | { kind: string; id: string | null; name?: string | null };

export interface AuditEntry {
  tenantId: string | null;
  action: string;
  targetType: string;
  targetId?: string | null;
  /** Refused attempts (a wrong password, a denied grant) are recorded as failures. */
  outcome?: 'success' | 'failure';
  /** Never a secret: callers pass identifiers and changed field names, not values of credentials. */
  details?: Record<string, unknown>;
}

type Writer = Pick<Prisma, 'auditEvent'>;

function actorOf(actor: AuditActor): { kind: string; id: string | null; name: string | null } {
  if (actor === 'system') return { kind: 'system', id: null, name: null };
  if ('subjectId' in actor) return { kind: actor.kind, id: actor.subjectId, name: actor.username };
  return { kind: actor.kind, id: actor.id, name: actor.name ?? null };
}

/**
 * Writes one audit event. `origin`: the request's id and the caller's address, or the id
 * alone, whose address the HTTP layer registered (./origin.ts).
 */
export async function audit(db: Writer, actor: AuditActor, entry: AuditEntry, origin?: string | AuditOrigin) {
  const who = actorOf(actor);
  const requestId = typeof origin === 'string' ? origin : origin?.requestId;
  const clientAddress = typeof origin === 'string' ? clientAddressOf(origin) : origin?.clientAddress;
  await db.auditEvent.create({
    data: {
      tenantId: entry.tenantId,
      actorKind: who.kind,
      actorId: who.id,
      actorName: who.name,
      clientAddress: clientAddress ?? null,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId ?? null,
      outcome: entry.outcome ?? 'success',
      details: (entry.details ?? {}) as object,
      requestId: requestId ?? null,
    },
  });
}
