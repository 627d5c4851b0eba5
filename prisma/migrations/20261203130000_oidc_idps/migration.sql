-- External OpenID Connect IdPs beside the SAML ones, email-domain routing and just-in-time
-- users: SAML-only columns become optional, OIDC and routing columns are added, and a
-- user's link remembers the subject its IdP asserts.

-- AlterTable
ALTER TABLE "IdentityProvider" ALTER COLUMN "entityId" DROP NOT NULL,
ALTER COLUMN "metadataXml" DROP NOT NULL,
ALTER COLUMN "ssoRedirectUrl" DROP NOT NULL,
ALTER COLUMN "signingCerts" SET DEFAULT ARRAY[]::TEXT[],
ALTER COLUMN "nameIdFormats" SET DEFAULT ARRAY[]::TEXT[],
ALTER COLUMN "spPrivateKeyEnc" DROP NOT NULL,
ALTER COLUMN "spCertificate" DROP NOT NULL,
ADD COLUMN     "issuer" TEXT,
ADD COLUMN     "clientId" TEXT,
ADD COLUMN     "clientSecretEnc" TEXT,
ADD COLUMN     "scopes" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "domains" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "jitProvisioning" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "jitRoles" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "autoLinkByEmail" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "idpSubject" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "User_tenantId_idpId_idpSubject_key" ON "User"("tenantId", "idpId", "idpSubject");
