-- AlterTable
ALTER TABLE "User" ADD COLUMN "mfaInitSkippedAt" TIMESTAMPTZ(3);
