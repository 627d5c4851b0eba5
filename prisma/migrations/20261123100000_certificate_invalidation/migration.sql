-- Cache invalidation (see 20261123070000_credential_invalidation) for client
-- certificates: a revoked, released (hold removed) or deleted certificate evicts the
-- principals verified from it (their credential id is the serial).

CREATE OR REPLACE FUNCTION iam_invalidate_certificate() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('cred:' || OLD.serial::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "ClientCertificate_invalidate" AFTER UPDATE OF status, "notAfter" OR DELETE ON "ClientCertificate"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_certificate();
