-- CreateTable
CREATE TABLE "PkiAuthority" (
    "id" TEXT NOT NULL,
    "imported" BOOLEAN NOT NULL DEFAULT false,
    "certDer" BYTEA NOT NULL,
    "keyEnc" BYTEA,
    "ocspCertDer" BYTEA NOT NULL,
    "ocspKeyEnc" BYTEA NOT NULL,
    "crlNumber" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "PkiAuthority_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ClientCertificate" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "serial" BIGINT NOT NULL,
    "serviceAccountId" UUID NOT NULL,
    "issuerId" TEXT NOT NULL,
    "subjectCn" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "notBefore" TIMESTAMPTZ(3) NOT NULL,
    "notAfter" TIMESTAMPTZ(3) NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'good',
    "revokedAt" TIMESTAMPTZ(3),
    "revocationReason" TEXT,
    "der" BYTEA NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ClientCertificate_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ClientCertificate_serial_idx" ON "ClientCertificate"("serial");

-- CreateIndex
CREATE INDEX "ClientCertificate_tenantId_createdAt_idx" ON "ClientCertificate"("tenantId", "createdAt");

-- CreateIndex
CREATE INDEX "ClientCertificate_tenantId_serviceAccountId_idx" ON "ClientCertificate"("tenantId", "serviceAccountId");

-- CreateIndex
CREATE UNIQUE INDEX "ClientCertificate_tenantId_id_key" ON "ClientCertificate"("tenantId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "ClientCertificate_tenantId_serial_key" ON "ClientCertificate"("tenantId", "serial");

-- AddForeignKey
ALTER TABLE "ClientCertificate" ADD CONSTRAINT "ClientCertificate_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ClientCertificate" ADD CONSTRAINT "ClientCertificate_tenantId_serviceAccountId_fkey" FOREIGN KEY ("tenantId", "serviceAccountId") REFERENCES "ServiceAccount"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

