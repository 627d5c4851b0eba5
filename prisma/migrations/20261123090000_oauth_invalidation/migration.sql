-- Cache invalidation (see 20261123070000_credential_invalidation) for the OAuth and
-- browser-session credentials: ending a session, revoking an opaque token or a JWT, and
-- revoking (or deleting, with its application or user) the grant tokens were issued under.

CREATE TRIGGER "BrowserSession_invalidate" AFTER UPDATE OF "endedAt", "expiresAt" OR DELETE ON "BrowserSession"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_credential();

CREATE TRIGGER "OAuthToken_invalidate" AFTER UPDATE OF "revokedAt", "expiresAt" OR DELETE ON "OAuthToken"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_credential();

CREATE OR REPLACE FUNCTION iam_invalidate_revoked_jwt() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('cred:' || NEW.jti);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "RevokedJwt_invalidate" AFTER INSERT ON "RevokedJwt"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_revoked_jwt();

CREATE OR REPLACE FUNCTION iam_invalidate_grant() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('grant:' || OLD.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "OAuthGrant_invalidate" AFTER UPDATE OF "revokedAt" OR DELETE ON "OAuthGrant"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_grant();
