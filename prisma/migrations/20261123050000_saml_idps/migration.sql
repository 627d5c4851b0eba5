-- CreateTable
CREATE TABLE "IdentityProvider" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL DEFAULT 'saml',
    "state" TEXT NOT NULL DEFAULT 'active',
    "isDefault" BOOLEAN NOT NULL DEFAULT false,
    "entityId" TEXT NOT NULL,
    "metadataUrl" TEXT,
    "metadataXml" TEXT NOT NULL,
    "ssoRedirectUrl" TEXT NOT NULL,
    "ssoPostUrl" TEXT,
    "signingCerts" TEXT[],
    "nameIdFormats" TEXT[],
    "validUntil" TIMESTAMPTZ(3),
    "spPrivateKeyEnc" TEXT NOT NULL,
    "spCertificate" TEXT NOT NULL,
    "disabledAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "IdentityProvider_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SamlRequest" (
    "id" TEXT NOT NULL,
    "tenantId" UUID NOT NULL,
    "idpId" UUID NOT NULL,
    "relayState" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SamlRequest_pkey" PRIMARY KEY ("tenantId","id")
);

-- CreateTable
CREATE TABLE "SamlAssertionUse" (
    "tenantId" UUID NOT NULL,
    "idpId" UUID NOT NULL,
    "assertionId" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SamlAssertionUse_pkey" PRIMARY KEY ("tenantId","idpId","assertionId")
);

-- CreateIndex
CREATE INDEX "IdentityProvider_tenantId_state_idx" ON "IdentityProvider"("tenantId", "state");

-- CreateIndex
CREATE UNIQUE INDEX "IdentityProvider_tenantId_id_key" ON "IdentityProvider"("tenantId", "id");

-- CreateIndex
CREATE INDEX "SamlRequest_expiresAt_idx" ON "SamlRequest"("expiresAt");

-- CreateIndex
CREATE INDEX "SamlAssertionUse_expiresAt_idx" ON "SamlAssertionUse"("expiresAt");

-- AddForeignKey
ALTER TABLE "User" ADD CONSTRAINT "User_tenantId_idpId_fkey" FOREIGN KEY ("tenantId", "idpId") REFERENCES "IdentityProvider"("tenantId", "id") ON DELETE NO ACTION ON UPDATE NO ACTION;

-- AddForeignKey
ALTER TABLE "IdentityProvider" ADD CONSTRAINT "IdentityProvider_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SamlRequest" ADD CONSTRAINT "SamlRequest_tenantId_idpId_fkey" FOREIGN KEY ("tenantId", "idpId") REFERENCES "IdentityProvider"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SamlAssertionUse" ADD CONSTRAINT "SamlAssertionUse_tenantId_idpId_fkey" FOREIGN KEY ("tenantId", "idpId") REFERENCES "IdentityProvider"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

