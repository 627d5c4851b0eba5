-- private_key_jwt client authentication (RFC 7523 §2.2): the application's public keys, and
-- the jti of each client assertion until it expires, so that none is used twice.

-- AlterTable
ALTER TABLE "Application" ADD COLUMN "jwks" JSONB;

-- CreateTable
CREATE TABLE "UsedClientAssertion" (
    "tenantId" UUID NOT NULL,
    "applicationId" UUID NOT NULL,
    "jti" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "UsedClientAssertion_pkey" PRIMARY KEY ("tenantId","applicationId","jti")
);

-- CreateIndex
CREATE INDEX "UsedClientAssertion_expiresAt_idx" ON "UsedClientAssertion"("expiresAt");

-- AddForeignKey
ALTER TABLE "UsedClientAssertion" ADD CONSTRAINT "UsedClientAssertion_tenantId_applicationId_fkey" FOREIGN KEY ("tenantId", "applicationId") REFERENCES "Application"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;
