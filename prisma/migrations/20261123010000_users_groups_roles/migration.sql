-- Trigram indexes for case-insensitive substring search (ILIKE) on users and groups.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- CreateTable
CREATE TABLE "SetPasswordToken" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "usedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SetPasswordToken_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SetPasswordToken_tokenHash_key" ON "SetPasswordToken"("tokenHash");

-- CreateIndex
CREATE INDEX "SetPasswordToken_tenantId_userId_idx" ON "SetPasswordToken"("tenantId", "userId");

-- CreateIndex
CREATE UNIQUE INDEX "SetPasswordToken_tenantId_id_key" ON "SetPasswordToken"("tenantId", "id");

-- CreateIndex
CREATE INDEX "User_username_trgm_idx" ON "User" USING GIN ("username" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "User_email_trgm_idx" ON "User" USING GIN ("email" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "User_firstName_trgm_idx" ON "User" USING GIN ("firstName" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "User_lastName_trgm_idx" ON "User" USING GIN ("lastName" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "User_tenantId_state_idx" ON "User"("tenantId", "state");

-- CreateIndex
CREATE INDEX "UserGroup_name_trgm_idx" ON "UserGroup" USING GIN ("name" gin_trgm_ops);

-- AddForeignKey
ALTER TABLE "SetPasswordToken" ADD CONSTRAINT "SetPasswordToken_tenantId_userId_fkey" FOREIGN KEY ("tenantId", "userId") REFERENCES "User"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The feature-role catalogue custom roles are built from (docs/roles.md).
INSERT INTO "FeatureRole" ("name", "category", "description") VALUES
  ('dashboards-view', 'Dashboards', 'View dashboards and their cards'),
  ('dashboards-edit', 'Dashboards', 'Create, edit, share and delete dashboards'),
  ('reports-view', 'Reports', 'View and download generated reports'),
  ('reports-manage', 'Reports', 'Create, schedule and delete reports'),
  ('alerts-view', 'Alerting', 'View active and historical alerts'),
  ('alerts-manage', 'Alerting', 'Create and edit alert policies, acknowledge and clear alerts'),
  ('sessions-view', 'Monitored objects', 'View monitored sessions, test sessions and their metrics'),
  ('sessions-manage', 'Monitored objects', 'Create, edit and delete monitored sessions and test sessions'),
  ('metadata-manage', 'Monitored objects', 'Edit metadata and metadata mappings of monitored objects'),
  ('thresholds-manage', 'Service levels', 'Create and edit threshold profiles and SLA definitions'),
  ('topology-view', 'Topology', 'View network topology, paths and hop-by-hop analytics'),
  ('data-explore', 'Analytics', 'Run ad-hoc queries in the data explorer'),
  ('data-export', 'Analytics', 'Export metrics and raw measurements (CSV, API)'),
  ('agents-manage', 'Sensors', 'Register, configure and retire sensor agents and their orchestration'),
  ('integrations-manage', 'Integrations', 'Configure data ingestion, webhooks and notification channels'),
  ('audit-view', 'Administration', 'Read the tenant''s audit log')
ON CONFLICT ("name") DO NOTHING;
