-- Cross-instance cache invalidation. Every change that can alter what a credential
-- grants notifies channel "iam_invalidate" with space-separated tags; instances evict
-- the cached principals carrying those tags. Done by triggers, so no code path
-- (API, SCIM, import, CLI, manual SQL) can change access without invalidating caches.

CREATE OR REPLACE FUNCTION iam_invalidate(tags text) RETURNS void AS $$
BEGIN
  PERFORM pg_notify('iam_invalidate', tags);
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION iam_invalidate_tenant() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('tenant:' || OLD.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "Tenant_invalidate" AFTER UPDATE OF state OR DELETE ON "Tenant"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_tenant();

-- Users and service accounts: state, name, expiry and deletion.
CREATE OR REPLACE FUNCTION iam_invalidate_subject() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('subject:' || OLD.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "User_invalidate" AFTER UPDATE OF state, username, "tenantId" OR DELETE ON "User"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_subject();
CREATE TRIGGER "ServiceAccount_invalidate" AFTER UPDATE OF username, "expirationDate", "accessTokenType", "tenantId" OR DELETE ON "ServiceAccount"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_subject();

-- Credentials stored by id: deletion or a changed expiry.
CREATE OR REPLACE FUNCTION iam_invalidate_credential() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('cred:' || OLD.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "PersonalAccessToken_invalidate" AFTER UPDATE OF "expiresAt", "tokenHash" OR DELETE ON "PersonalAccessToken"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_credential();

-- Roles: a user's or service account's own, or a group's (every member's).
CREATE OR REPLACE FUNCTION iam_invalidate_role_assignment() RETURNS trigger AS $$
DECLARE
  r record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM iam_invalidate(concat_ws(' ',
    'subject:' || r."userId", 'subject:' || r."serviceAccountId", 'group:' || r."groupId"));
  IF TG_OP = 'UPDATE' THEN
    PERFORM iam_invalidate(concat_ws(' ',
      'subject:' || OLD."userId", 'subject:' || OLD."serviceAccountId", 'group:' || OLD."groupId"));
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "RoleAssignment_invalidate" AFTER INSERT OR UPDATE OR DELETE ON "RoleAssignment"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_role_assignment();

-- Group membership changes a user's inherited roles and its group list.
CREATE OR REPLACE FUNCTION iam_invalidate_membership() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM iam_invalidate('subject:' || OLD."userId");
  ELSE
    PERFORM iam_invalidate('subject:' || NEW."userId");
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "GroupMembership_invalidate" AFTER INSERT OR DELETE ON "GroupMembership"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_membership();

CREATE OR REPLACE FUNCTION iam_invalidate_group() RETURNS trigger AS $$
BEGIN
  PERFORM iam_invalidate('group:' || OLD.id);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "UserGroup_invalidate" AFTER DELETE ON "UserGroup"
  FOR EACH ROW EXECUTE FUNCTION iam_invalidate_group();
