-- DPoP (RFC 9449): the key an opaque access token or a refresh token is bound to, and the jti
-- of every proof until it could no longer be accepted, so that none is used twice.

-- AlterTable
ALTER TABLE "OAuthToken" ADD COLUMN "dpopJkt" TEXT;

-- CreateTable
CREATE TABLE "UsedDpopProof" (
    "jkt" TEXT NOT NULL,
    "jti" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "UsedDpopProof_pkey" PRIMARY KEY ("jkt","jti")
);

-- CreateIndex
CREATE INDEX "UsedDpopProof_expiresAt_idx" ON "UsedDpopProof"("expiresAt");
