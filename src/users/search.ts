import type { Prisma } from '../platform/db.js';
import { likeLiteral } from '../platform/ids.js';
import type { UserSearch } from './schemas.js';
import type { UserView } from './view.js';

// The columns a user resource shows, with its own role names; never the password hash.
const ROW = `json_build_object(
  'id', u."id", 'username', u."username", 'email', u."email", 'firstName', u."firstName", 'lastName', u."lastName",
  'state', u."state", 'lockedUntil', u."lockedUntil", 'idpId', u."idpId", 'termsAcceptedAt', u."termsAcceptedAt", 'lastLoginAt', u."lastLoginAt",
  'createdAt', u."createdAt", 'updatedAt', u."updatedAt",
  'roles', array(SELECT ra."roleName" FROM "RoleAssignment" ra WHERE ra."tenantId" = u."tenantId" AND ra."userId" = u."id" ORDER BY ra."roleName"))`;

/*
 * How many users hold a role, directly or through a group, without de-duplicating them
 * all: direct assignments are unique per user (an index), so they are counted as they
 * are, and only group members without a direct assignment are added.
 */
const roleHolderCount = (role: string) => `
  (SELECT count(*) FROM "RoleAssignment" ra WHERE ra."tenantId" = $1::uuid AND ra."roleName" = ${role} AND ra."userId" IS NOT NULL)
  + (SELECT count(DISTINCT gm."userId") FROM "RoleAssignment" ra
     JOIN "GroupMembership" gm ON gm."tenantId" = ra."tenantId" AND gm."groupId" = ra."groupId"
     WHERE ra."tenantId" = $1::uuid AND ra."roleName" = ${role}
       AND NOT EXISTS (SELECT 1 FROM "RoleAssignment" d WHERE d."tenantId" = $1::uuid AND d."userId" = gm."userId" AND d."roleName" = ${role}))`;

// Users holding a role directly or through one of their groups.
const roleHolders = (role: string) => `
  SELECT ra."userId" FROM "RoleAssignment" ra WHERE ra."tenantId" = $1::uuid AND ra."roleName" = ${role} AND ra."userId" IS NOT NULL
  UNION
  SELECT gm."userId" FROM "RoleAssignment" ra JOIN "GroupMembership" gm ON gm."tenantId" = ra."tenantId" AND gm."groupId" = ra."groupId"
  WHERE ra."tenantId" = $1::uuid AND ra."roleName" = ${role}`;

/**
 * The role criterion has two shapes, as PostgreSQL plans them very differently:
 * `exists` probes per user (a page in id order stops after a few rows), `in` is a
 * semi-join (a count over a selective role reads only its holders).
 */
function filterSql(c: UserSearch, p: (v: unknown) => string, roleParam: string | undefined, roleShape: 'exists' | 'in'): string {
  const where = ['u."tenantId" = $1::uuid'];
  // Username and email have lower-cased twins (their uniqueness keys): LIKE on those is
  // exact case-insensitivity without ILIKE's per-row case folding.
  for (const [col, lower] of [
    ['username', 'usernameLower'],
    ['email', 'emailLower'],
  ] as const) {
    const v = c[col];
    if (v) where.push(`u."${lower}" LIKE lower(${p(`%${likeLiteral(v)}%`)})`);
  }
  for (const col of ['firstName', 'lastName'] as const) {
    const v = c[col];
    if (v) where.push(`u."${col}" ILIKE ${p(`%${likeLiteral(v)}%`)}`);
  }
  if (c.state) where.push(`u."state" = ${p(c.state)}`);
  if (c.idpId) where.push(`u."idpId" = ${p(c.idpId)}::uuid`);
  if (c.usergroupId) {
    where.push(
      `EXISTS (SELECT 1 FROM "GroupMembership" gm WHERE gm."tenantId" = $1::uuid AND gm."groupId" = ${p(c.usergroupId)}::uuid AND gm."userId" = u."id")`,
    );
  }
  if (roleParam && roleShape === 'in') where.push(`u."id" IN (${roleHolders(roleParam)})`);
  if (roleParam && roleShape === 'exists') {
    where.push(`(EXISTS (SELECT 1 FROM "RoleAssignment" ra WHERE ra."tenantId" = u."tenantId" AND ra."userId" = u."id" AND ra."roleName" = ${roleParam})
      OR EXISTS (SELECT 1 FROM "GroupMembership" gm JOIN "RoleAssignment" ra ON ra."tenantId" = gm."tenantId" AND ra."groupId" = gm."groupId"
                 WHERE gm."tenantId" = u."tenantId" AND gm."userId" = u."id" AND ra."roleName" = ${roleParam}))`);
  }
  return where.join(' AND ');
}

/**
 * One page of users matching the criteria, and the total, in a single statement:
 * substring criteria are served by the pg_trgm GIN indexes, the role
 * criterion is one semi-join over direct and group assignments, and the page is
 * cut from ids alone (an index-only scan on (tenantId, id)) before rows are read,
 * so deep pages stay cheap. Every value travels as a bind parameter.
 */
export async function searchUserRows(
  prisma: Prisma,
  tenantId: string,
  c: UserSearch,
  skip: number,
  take: number,
  /** The total when already known (UserCountCache): only the page is read. */
  knownTotal?: number,
): Promise<{ total: number; rows: UserView[] }> {
  const params: unknown[] = [tenantId];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const roleParam = c.role ? p(c.role) : undefined;
  const onlyRole = roleParam && Object.entries(c).every(([k, v]) => k === 'role' || v === undefined || v === '');
  const rows = `(SELECT coalesce(json_agg(${ROW} ORDER BY u."id"), '[]'::json) FROM "User" u JOIN page ON page."id" = u."id" WHERE u."tenantId" = $1::uuid)`;
  let sql: string;
  // Built only when needed: building it binds its parameters.
  const total = (count: () => string) => (knownTotal === undefined ? count() : `${p(knownTotal)}::int`);
  if (onlyRole) {
    // Role holders are users of the tenant (foreign keys): counted and paged without
    // reading users. The first skip+take holders in id order are among the first skip+take
    // direct holders (an index range in id order) and the first skip+take group members.
    const [offset, limit, first] = [p(skip), p(take), p(skip + take)];
    sql = `WITH page AS (
        SELECT h."id" FROM (
          (SELECT ra."userId" AS "id" FROM "RoleAssignment" ra
           WHERE ra."tenantId" = $1::uuid AND ra."roleName" = ${roleParam} AND ra."userId" IS NOT NULL ORDER BY ra."userId" LIMIT ${first})
          UNION
          (SELECT DISTINCT gm."userId" AS "id" FROM "RoleAssignment" ra
           JOIN "GroupMembership" gm ON gm."tenantId" = ra."tenantId" AND gm."groupId" = ra."groupId"
           WHERE ra."tenantId" = $1::uuid AND ra."roleName" = ${roleParam} ORDER BY gm."userId" LIMIT ${first})
        ) h ORDER BY h."id" OFFSET ${offset} LIMIT ${limit})
      SELECT ${total(() => `(${roleHolderCount(roleParam)})::int`)} AS total, ${rows} AS rows`;
  } else {
    sql = `WITH page AS (SELECT u."id" FROM "User" u WHERE ${filterSql(c, p, roleParam, 'exists')} ORDER BY u."id" OFFSET ${p(skip)} LIMIT ${p(take)})
      SELECT ${total(() => `(SELECT count(*)::int FROM "User" u WHERE ${filterSql(c, p, roleParam, 'in')})`)} AS total, ${rows} AS rows`;
  }
  const [result] = await prisma.$queryRawUnsafe<{ total: number; rows: RawRow[] }[]>(sql, ...params);
  return { total: result?.total ?? 0, rows: (result?.rows ?? []).map(toView) };
}

/** One user of the tenant as its resource shows it, in one statement; undefined when absent. */
export async function userRow(prisma: Prisma, tenantId: string, id: string): Promise<UserView | undefined> {
  const [result] = await prisma.$queryRawUnsafe<{ row: RawRow }[]>(
    `SELECT ${ROW} AS row FROM "User" u WHERE u."tenantId" = $1::uuid AND u."id" = $2::uuid`,
    tenantId,
    id,
  );
  return result ? toView(result.row) : undefined;
}

type RawRow = Omit<UserView, 'lockedUntil' | 'termsAcceptedAt' | 'lastLoginAt' | 'createdAt' | 'updatedAt'> & {
  lockedUntil: string | null;
  termsAcceptedAt: string | null;
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
};

const date = (s: string) => new Date(s);
function toView(r: RawRow): UserView {
  return {
    ...r,
    lockedUntil: r.lockedUntil ? date(r.lockedUntil) : null,
    termsAcceptedAt: r.termsAcceptedAt ? date(r.termsAcceptedAt) : null,
    lastLoginAt: r.lastLoginAt ? date(r.lastLoginAt) : null,
    createdAt: date(r.createdAt),
    updatedAt: date(r.updatedAt),
  };
}
