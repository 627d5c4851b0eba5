-- Standing grants. Access tokens of the client_credentials and JWT-bearer grants have no
-- authorization behind them to revoke, so they used to outlive the application or key they
-- were issued through. Now every such token names (JWT gid claim, opaque token's grantId)
-- the one long-lived grant of its client (application + service account) or of its key:
-- deleting the application, the key or the service account deletes that grant through the
-- cascading foreign keys, and "OAuthGrant_invalidate" evicts the tokens from every cache.

-- AlterTable
ALTER TABLE "OAuthGrant" ADD COLUMN     "keyId" UUID,
ADD COLUMN     "standing" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex
CREATE INDEX "OAuthGrant_tenantId_serviceAccountId_applicationId_idx" ON "OAuthGrant"("tenantId", "serviceAccountId", "applicationId");

-- CreateIndex
CREATE INDEX "OAuthGrant_tenantId_keyId_idx" ON "OAuthGrant"("tenantId", "keyId");

-- AddForeignKey
ALTER TABLE "OAuthGrant" ADD CONSTRAINT "OAuthGrant_tenantId_keyId_fkey" FOREIGN KEY ("tenantId", "keyId") REFERENCES "ServiceAccountKey"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A client_credentials client's tokens stand for the service account it is bound to: bound to
-- another account, or no longer allowed client_credentials, it loses them. Client grants are
-- those of a service account through an application (authorization_code is for users only);
-- deleting them revokes their tokens and notifies like any other grant deletion.
CREATE OR REPLACE FUNCTION oauth_end_client_grants() RETURNS trigger AS $$
BEGIN
  DELETE FROM "OAuthGrant" g
   WHERE g."tenantId" = OLD."tenantId" AND g."applicationId" = OLD.id
     AND g."userId" IS NULL AND g."serviceAccountId" IS NOT NULL
     AND (g."serviceAccountId" IS DISTINCT FROM NEW."serviceAccountId"
          OR NOT coalesce('client_credentials' = ANY (NEW."grantTypes"), false));
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "Application_end_client_grants" AFTER UPDATE OF "serviceAccountId", "grantTypes" ON "Application"
  FOR EACH ROW
  WHEN (OLD."serviceAccountId" IS DISTINCT FROM NEW."serviceAccountId" OR OLD."grantTypes" IS DISTINCT FROM NEW."grantTypes")
  EXECUTE FUNCTION oauth_end_client_grants();
