-- CreateTable
CREATE TABLE "ServiceAccountKey" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "serviceAccountId" UUID NOT NULL,
    "keyType" TEXT NOT NULL,
    "algorithm" TEXT NOT NULL,
    "publicKeyPem" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ServiceAccountKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UsedAssertion" (
    "tenantId" UUID NOT NULL,
    "serviceAccountId" UUID NOT NULL,
    "jti" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "UsedAssertion_pkey" PRIMARY KEY ("tenantId","serviceAccountId","jti")
);

-- CreateIndex
CREATE INDEX "ServiceAccountKey_tenantId_serviceAccountId_idx" ON "ServiceAccountKey"("tenantId", "serviceAccountId");

-- CreateIndex
CREATE UNIQUE INDEX "ServiceAccountKey_tenantId_id_key" ON "ServiceAccountKey"("tenantId", "id");

-- CreateIndex
CREATE INDEX "UsedAssertion_expiresAt_idx" ON "UsedAssertion"("expiresAt");

-- AddForeignKey
ALTER TABLE "ServiceAccountKey" ADD CONSTRAINT "ServiceAccountKey_tenantId_serviceAccountId_fkey" FOREIGN KEY ("tenantId", "serviceAccountId") REFERENCES "ServiceAccount"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UsedAssertion" ADD CONSTRAINT "UsedAssertion_tenantId_serviceAccountId_fkey" FOREIGN KEY ("tenantId", "serviceAccountId") REFERENCES "ServiceAccount"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

