-- The audit list orders by (createdAt, id): with the id in the tenant's time index, a page's
-- ids are read from the index alone (deep pages included) before the page's rows are.

-- DropIndex
DROP INDEX "AuditEvent_tenantId_createdAt_idx";

-- CreateIndex
CREATE INDEX "AuditEvent_tenantId_createdAt_id_idx" ON "AuditEvent"("tenantId", "createdAt", "id");
