import { z } from 'zod';
import { isUuid } from '../platform/ids.js';

const uuid = z.string().refine(isUuid, 'must be a UUID');
const instant = z.iso.datetime({ offset: true }).describe('RFC 3339 date-time, e.g. 2026-12-01T00:00:00Z');

/** The criteria of the audit log's list (query parameters) and search (body); they combine with AND. */
export const auditFilter = z.strictObject({
  tenantId: uuid.optional().describe('skylight-admin only: one tenant (without it, and without X-Forwarded-Tenant-Id, every tenant)'),
  actorKind: z.string().max(50).optional().describe('exact: user, serviceaccount, system, client...'),
  actorId: z.string().max(200).optional().describe('exact'),
  targetType: z.string().max(50).optional().describe('exact: user, serviceaccount, application, token...'),
  targetId: z.string().max(200).optional().describe('exact'),
  action: z
    .string()
    .max(100)
    .regex(/^[A-Za-z0-9_.-]+\*?$/, 'letters, digits, . _ - and an optional trailing *')
    .optional()
    .describe('exact, or a prefix ending in `*` (`login.*`)'),
  outcome: z.enum(['success', 'failure']).optional(),
  from: instant.optional().describe('inclusive'),
  to: instant.optional().describe('exclusive'),
  requestId: z.string().max(64).optional().describe('exact: the X-Request-Id of the request that caused the event'),
});
export type AuditFilter = z.output<typeof auditFilter>;

export const auditSearch = z.object({ data: auditFilter.default({}) });

export const auditEventAttributes = z.object({
  tenantId: z.string().nullable().describe('null for deployment-wide events (server start, operator actions)'),
  createdAt: z.string(),
  actorKind: z.string(),
  actorId: z.string().nullable(),
  actorName: z.string().nullable().describe('username or client id at the time'),
  clientAddress: z.string().nullable(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  outcome: z.enum(['success', 'failure']),
  requestId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
