-- Password recovery and the session list: a set-password token says whether it invites a
-- user or resets a password (the page and its messages differ), and a browser session
-- keeps the user agent and address it started from, so that a user can tell its sessions apart.

-- AlterTable
ALTER TABLE "SetPasswordToken" ADD COLUMN     "purpose" TEXT NOT NULL DEFAULT 'invitation';

-- AlterTable
ALTER TABLE "BrowserSession" ADD COLUMN     "clientAddress" TEXT,
ADD COLUMN     "userAgent" TEXT;
