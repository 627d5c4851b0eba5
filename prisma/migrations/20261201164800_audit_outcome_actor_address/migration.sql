-- The audit log becomes readable (GET /api/v3/audit-events) and records logins and token
-- issuance: who acted (by name, so the record survives the actor), from where, and whether
-- it succeeded. Indexes serve the API's filters and the retention purge (docs/audit.md).

-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN     "actorName" TEXT,
ADD COLUMN     "clientAddress" TEXT,
ADD COLUMN     "outcome" TEXT NOT NULL DEFAULT 'success';

-- CreateIndex
CREATE INDEX "AuditEvent_tenantId_actorId_createdAt_idx" ON "AuditEvent"("tenantId", "actorId", "createdAt");

-- CreateIndex
CREATE INDEX "AuditEvent_tenantId_targetId_createdAt_idx" ON "AuditEvent"("tenantId", "targetId", "createdAt");

-- CreateIndex
CREATE INDEX "AuditEvent_createdAt_idx" ON "AuditEvent"("createdAt");
