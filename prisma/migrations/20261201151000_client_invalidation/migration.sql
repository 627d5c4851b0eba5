-- The token endpoint keeps clients in memory (src/oauth/hot-cache.ts, CLIENT_CACHE_SECONDS).
-- Creating, changing or deleting an application notifies "client:<clientId>" on the shared
-- invalidation channel, so every instance forgets it at once rather than when it expires.
CREATE OR REPLACE FUNCTION iam_invalidate_client() RETURNS trigger AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM iam_invalidate('client:' || OLD."clientId");
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW."clientId" IS DISTINCT FROM OLD."clientId") THEN
    PERFORM iam_invalidate('client:' || NEW."clientId");
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "Application_invalidate_client" AFTER INSERT OR UPDATE OR DELETE ON "Application"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_client();
