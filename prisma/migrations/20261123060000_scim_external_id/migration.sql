-- AlterTable
ALTER TABLE "UserGroup" ADD COLUMN     "externalId" TEXT;

