-- User lists and searches cache their totals per tenant (src/users/count-cache.ts).
-- Any change to who the tenant's users are, what they are searched by, or the roles
-- and groups they hold notifies "users:<tenant>" on the shared invalidation channel.
-- Identical notifications of one transaction are delivered once, so a bulk import of a
-- tenant's users sends one.
CREATE OR REPLACE FUNCTION iam_invalidate_user_list() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('users:' || COALESCE(NEW."tenantId", OLD."tenantId"));
  IF TG_OP = 'UPDATE' AND NEW."tenantId" IS DISTINCT FROM OLD."tenantId" THEN
    PERFORM iam_invalidate('users:' || OLD."tenantId");
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "User_invalidate_list" AFTER INSERT OR DELETE OR UPDATE OF "tenantId", "usernameLower", "emailLower", "firstName", "lastName", state, "idpId" ON "User"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_user_list();
CREATE TRIGGER "RoleAssignment_invalidate_list" AFTER INSERT OR UPDATE OR DELETE ON "RoleAssignment"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_user_list();
CREATE TRIGGER "GroupMembership_invalidate_list" AFTER INSERT OR UPDATE OR DELETE ON "GroupMembership"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_user_list();
