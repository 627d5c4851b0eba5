-- Each AuthnRequest is bound to the browser that started the login (the hash of its
-- binding cookie). Requests in flight when this runs were bound to no browser: they
-- cannot be answered any more, so they go (the users start the sign-in again).
DELETE FROM "SamlRequest";

-- AlterTable
ALTER TABLE "SamlRequest" ADD COLUMN "bindingHash" TEXT NOT NULL;
