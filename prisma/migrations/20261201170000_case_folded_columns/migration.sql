-- Case-insensitive uniqueness and search come from the database: the lower-cased copies
-- of usernames, emails and names become stored generated columns, so no entry point can
-- write a copy that disagrees with the name (they were written by hand at every site).
-- Lookups fold their argument as lower() does (src/platform/case-fold.ts).

DROP TRIGGER "User_invalidate_list" ON "User";

ALTER TABLE "User" DROP COLUMN "usernameLower", DROP COLUMN "emailLower";
ALTER TABLE "User"
  ADD COLUMN "usernameLower" TEXT NOT NULL GENERATED ALWAYS AS (lower("username")) STORED,
  ADD COLUMN "emailLower" TEXT NOT NULL GENERATED ALWAYS AS (lower("email")) STORED;
CREATE UNIQUE INDEX "User_tenantId_usernameLower_key" ON "User"("tenantId", "usernameLower");
CREATE UNIQUE INDEX "User_tenantId_emailLower_key" ON "User"("tenantId", "emailLower");
CREATE INDEX "User_usernameLower_trgm_idx" ON "User" USING GIN ("usernameLower" gin_trgm_ops);
CREATE INDEX "User_emailLower_trgm_idx" ON "User" USING GIN ("emailLower" gin_trgm_ops);

-- A generated column is never a target of UPDATE ... SET, so the trigger watches what it is computed from.
CREATE TRIGGER "User_invalidate_list" AFTER INSERT OR DELETE OR UPDATE OF "tenantId", "username", "email", "firstName", "lastName", state, "idpId" ON "User"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_user_list();

ALTER TABLE "UserGroup" DROP COLUMN "nameLower";
ALTER TABLE "UserGroup" ADD COLUMN "nameLower" TEXT NOT NULL GENERATED ALWAYS AS (lower("name")) STORED;
CREATE UNIQUE INDEX "UserGroup_tenantId_nameLower_key" ON "UserGroup"("tenantId", "nameLower");

ALTER TABLE "CustomRole" DROP COLUMN "nameLower";
ALTER TABLE "CustomRole" ADD COLUMN "nameLower" TEXT NOT NULL GENERATED ALWAYS AS (lower("name")) STORED;
CREATE UNIQUE INDEX "CustomRole_tenantId_nameLower_key" ON "CustomRole"("tenantId", "nameLower");

ALTER TABLE "ServiceAccount" DROP COLUMN "usernameLower";
ALTER TABLE "ServiceAccount" ADD COLUMN "usernameLower" TEXT NOT NULL GENERATED ALWAYS AS (lower("username")) STORED;
CREATE UNIQUE INDEX "ServiceAccount_tenantId_usernameLower_key" ON "ServiceAccount"("tenantId", "usernameLower");

ALTER TABLE "Application" DROP COLUMN "nameLower";
ALTER TABLE "Application" ADD COLUMN "nameLower" TEXT NOT NULL GENERATED ALWAYS AS (lower("name")) STORED;
CREATE UNIQUE INDEX "Application_tenantId_nameLower_key" ON "Application"("tenantId", "nameLower");
