-- The PKI's caches (OCSP answers, certificate statuses, verified client certificates and
-- the CRL) learn of status changes on the shared invalidation channel, like every other
-- cache, instead of their own "pki_cert_status" channel notified by application code.
-- A change to a certificate's status, revocation reason or time, validity, holder or
-- deletion notifies its credential tag ("cred:<serial>", as principals verified from it
-- carry) and its issuer's CRL ("crl:<authority id>").

CREATE OR REPLACE FUNCTION iam_invalidate_certificate() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('cred:' || OLD.serial::text || ' crl:' || OLD."issuerId");
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER "ClientCertificate_invalidate" ON "ClientCertificate";
CREATE TRIGGER "ClientCertificate_invalidate"
  AFTER UPDATE OF status, "revocationReason", "revokedAt", "notBefore", "notAfter", "serviceAccountId", "issuerId", fingerprint OR DELETE ON "ClientCertificate"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_certificate();
