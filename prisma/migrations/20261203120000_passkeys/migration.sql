-- Passkeys (WebAuthn credentials) as a second factor and for passwordless login, with the
-- challenges of their ceremonies kept in the database so that any instance can check them.
-- A session's methods (amr) now reach the validate routes' headers, so changing them (a
-- step-up) must evict the cached session like ending it does.

-- CreateTable
CREATE TABLE "Passkey" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "credentialId" TEXT NOT NULL,
    "publicKey" BYTEA NOT NULL,
    "counter" BIGINT NOT NULL DEFAULT 0,
    "transports" TEXT[],
    "name" TEXT NOT NULL,
    "aaguid" TEXT NOT NULL,
    "backupEligible" BOOLEAN NOT NULL DEFAULT false,
    "backedUp" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Passkey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebAuthnChallenge" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "userId" UUID,
    "purpose" TEXT NOT NULL,
    "challenge" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebAuthnChallenge_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Passkey_tenantId_userId_idx" ON "Passkey"("tenantId", "userId");

-- CreateIndex
CREATE UNIQUE INDEX "Passkey_tenantId_id_key" ON "Passkey"("tenantId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "Passkey_tenantId_credentialId_key" ON "Passkey"("tenantId", "credentialId");

-- CreateIndex
CREATE INDEX "WebAuthnChallenge_expiresAt_idx" ON "WebAuthnChallenge"("expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "WebAuthnChallenge_tenantId_id_key" ON "WebAuthnChallenge"("tenantId", "id");

-- AddForeignKey
ALTER TABLE "Passkey" ADD CONSTRAINT "Passkey_tenantId_userId_fkey" FOREIGN KEY ("tenantId", "userId") REFERENCES "User"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebAuthnChallenge" ADD CONSTRAINT "WebAuthnChallenge_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A step-up changes a session's amr and secondFactorAt: evict it from the credential caches.
DROP TRIGGER IF EXISTS "BrowserSession_invalidate" ON "BrowserSession";
CREATE TRIGGER "BrowserSession_invalidate" AFTER UPDATE OF "endedAt", "expiresAt", "amr", "secondFactorAt" OR DELETE ON "BrowserSession"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_credential();
