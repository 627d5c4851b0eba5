-- The Continue of the recovery-codes page after a login-time enrolment, each used once.
CREATE TABLE "UsedLoginStep" (
    "jti" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "UsedLoginStep_pkey" PRIMARY KEY ("jti")
);

CREATE INDEX "UsedLoginStep_expiresAt_idx" ON "UsedLoginStep"("expiresAt");
