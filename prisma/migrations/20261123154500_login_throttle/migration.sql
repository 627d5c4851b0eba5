-- Login throttling instead of a permanent lockout (src/users/lockout.ts). A user locked
-- after too many failed logins is locked until "lockedUntil" (then unlocked by itself);
-- a lock without it is an admin's. Failures are also counted per client address, so that
-- one address at its limit is refused without locking the user out everywhere else.

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "lockedUntil" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "LoginThrottle" (
    "tenantId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "address" TEXT NOT NULL,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "lastFailureAt" TIMESTAMPTZ(3),
    "lockedUntil" TIMESTAMPTZ(3),
    "lastSuccessAt" TIMESTAMPTZ(3),

    CONSTRAINT "LoginThrottle_pkey" PRIMARY KEY ("tenantId","userId","address")
);

-- CreateIndex
CREATE INDEX "User_lockedUntil_idx" ON "User"("lockedUntil");

-- AddForeignKey
ALTER TABLE "LoginThrottle" ADD CONSTRAINT "LoginThrottle_tenantId_userId_fkey" FOREIGN KEY ("tenantId", "userId") REFERENCES "User"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;
