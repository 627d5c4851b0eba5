-- client_secret_jwt (the secret sealed with the master key), jwks_uri for private_key_jwt and
-- request-object keys, signed request objects required per client (RFC 9101), and the DPoP key
-- a code is bound to when its pushed request named one (RFC 9449 §10).

-- AlterTable
ALTER TABLE "Application" ADD COLUMN "clientSecretSealed" TEXT,
ADD COLUMN "jwksUri" TEXT,
ADD COLUMN "requireSignedRequestObject" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "AuthorizationCode" ADD COLUMN "dpopJkt" TEXT;
