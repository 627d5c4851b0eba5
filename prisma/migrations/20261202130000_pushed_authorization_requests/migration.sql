-- Pushed authorization requests (RFC 9126): each stored until it is used once or expires,
-- and the per-application flag that makes them mandatory.

-- AlterTable
ALTER TABLE "Application" ADD COLUMN "requirePushedAuthorizationRequests" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "PushedAuthorizationRequest" (
    "tenantId" UUID NOT NULL,
    "requestHash" TEXT NOT NULL,
    "applicationId" UUID NOT NULL,
    "params" JSONB NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "PushedAuthorizationRequest_pkey" PRIMARY KEY ("tenantId","requestHash")
);

-- CreateIndex
CREATE INDEX "PushedAuthorizationRequest_expiresAt_idx" ON "PushedAuthorizationRequest"("expiresAt");

-- AddForeignKey
ALTER TABLE "PushedAuthorizationRequest" ADD CONSTRAINT "PushedAuthorizationRequest_tenantId_applicationId_fkey" FOREIGN KEY ("tenantId", "applicationId") REFERENCES "Application"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;
