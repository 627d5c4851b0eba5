// Builds the export document, one org (tenant) at a time, each read in one
// repeatable-read transaction so an org is a consistent snapshot.
import type { Prisma } from '../platform/db.js';
import { TENANT_ADMIN } from '../principals/principal.js';
import { exportLoginPolicy } from './login-policy-section.js';
import { exportedLogo } from '../tenants/logo.js';
import { ACCESS_TOKEN_TYPES, b64, LABEL_KEYS, META_PREFIX, ORG_OWNER, PRIVACY_KEYS, type HumanUser, type MachineUser, type OrgExport } from './document.js';
import { exportApplications } from './applications.js';
import { exportCredentials } from './credentials.js';
import { exportIdps } from './idps.js';
import { PAGE, paged, Streamed } from './json-stream.js';
import { listIn, userIdPages } from './user-pages.js';
import { exportMfa } from './mfa-section.js';

export interface ExportSelection {
  orgIds?: string[];
  excludedOrgIds?: string[];
}

export interface ExportOptions {
  withPasswords?: boolean;
  /** Second factors (`pca.mfa`): TOTP secrets still sealed under this deployment's master key, recovery-code hashes, passkeys. */
  withOtp?: boolean;
  /** SP private keys of SAML IdPs, still sealed under this deployment's master key. */
  withKeys?: boolean;
  baseDomain: string;
  /** Told as users and service accounts are written, for progress on a terminal. */
  onRows?: (rows: number) => void;
  /** Rows read per page (tests make it small to cross page boundaries). */
  pageSize?: number;
}

/** Ids of the orgs an export covers, in a stable order. */
export async function selectOrgs(prisma: Prisma, sel: ExportSelection): Promise<string[]> {
  const rows = await prisma.tenant.findMany({
    where: {
      ...(sel.orgIds?.length ? { id: { in: sel.orgIds.map((s) => s.toLowerCase()) } } : {}),
      ...(sel.excludedOrgIds?.length ? { NOT: { id: { in: sel.excludedOrgIds.map((s) => s.toLowerCase()) } } } : {}),
    },
    select: { id: true },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) => r.id);
}

/**
 * Reads one org in a repeatable-read transaction (a consistent snapshot) and hands it to
 * `consume` inside that transaction: its user-scaled arrays are `Streamed`, read page by
 * page while `consume` writes them (see json-stream.ts).
 */
export async function exportOrg(prisma: Prisma, tenantId: string, opts: ExportOptions, consume: (org: unknown) => Promise<void>): Promise<void> {
  await prisma.$transaction(
    async (tx) => {
      const t = await tx.tenant.findUniqueOrThrow({ where: { id: tenantId }, include: { identity: true } });
      const where = { tenantId };
      // Service accounts, groups and roles are few; users are read in pages below.
      const sas = await tx.serviceAccount.findMany({ where, orderBy: { id: 'asc' } });
      const groups = await tx.userGroup.findMany({ where, orderBy: { id: 'asc' } });
      const roles = await tx.customRole.findMany({ where, orderBy: { id: 'asc' } });
      const nonUserAssignments = await tx.roleAssignment.findMany({ where: { tenantId, userId: null }, orderBy: [{ roleName: 'asc' }, { id: 'asc' }] });
      const admins = await tx.roleAssignment.findMany({ where: { tenantId, roleName: TENANT_ADMIN }, select: { userId: true, serviceAccountId: true } });
      const apps = await exportApplications(tx, tenantId, !!opts.withKeys);
      const size = opts.pageSize ?? PAGE;
      const idps = await exportIdps(tx, tenantId, !!opts.withKeys, size);
      const credentials = await exportCredentials(tx, tenantId);
      const projectId = t.id;
      const branding = t.branding as Record<string, string>;
      const logo = await exportedLogo(tx, tenantId);

      type UserRow = Awaited<ReturnType<typeof tx.user.findMany>>[number];
      const userPages = <T>(map: (u: UserRow) => T | T[]) =>
        paged(
          size,
          (after?: UserRow) => tx.user.findMany({ where: { tenantId, ...(after ? { id: { gt: after.id } } : {}) }, orderBy: { id: 'asc' }, take: size }),
          map,
        );

      opts.onRows?.(sas.length);
      const humanUsers = userPages((u): HumanUser => {
        opts.onRows?.(1);
        return {
          userId: u.id,
          user: {
            userName: u.username,
            profile: { firstName: u.firstName, lastName: u.lastName, displayName: `${u.firstName} ${u.lastName}`.trim() || u.username },
            email: { email: u.email, isEmailVerified: true },
            ...(opts.withPasswords && u.passwordHash ? { hashedPassword: { value: u.passwordHash } } : {}),
          },
        };
      });
      const machineUsers: MachineUser[] = sas.map((s) => ({
        userId: s.id,
        user: {
          userName: s.username,
          name: s.name,
          description: s.description,
          accessTokenType: ACCESS_TOKEN_TYPES[s.accessTokenType] ?? 'ACCESS_TOKEN_TYPE_BEARER',
        },
      }));

      type Meta = OrgExport['userMetadata'][number];
      const metaOf = (id: string, fields: [string, string | null | undefined][]): Meta[] =>
        fields.filter(([, v]) => v !== null && v !== undefined).map(([key, value]) => ({ id, key: META_PREFIX + key, value: b64(value!) }));
      const userMeta = (u: UserRow) =>
        metaOf(u.id, [
          ['externalId', u.externalId],
          ['idpId', u.idpId],
          ['idpSubject', u.idpSubject],
          ['mfaInitSkippedAt', u.mfaInitSkippedAt?.toISOString()],
          ['state', u.state],
          ['termsAcceptedAt', u.termsAcceptedAt?.toISOString()],
        ]);
      const saMeta = sas.map((s) => metaOf(s.id, [['expirationDate', s.expirationDate?.toISOString()]]));
      // Users' and service accounts' entries in one id order: the users' pages merged with the (few) service accounts.
      const userMetadata = new Streamed<Meta>(async function* () {
        let next = 0;
        for await (const u of userPages((u) => u)) {
          while (next < sas.length && sas[next]!.id < u.id) yield* saMeta[next++]!;
          yield* userMeta(u);
        }
        while (next < sas.length) yield* saMeta[next++]!;
      });

      // Roles granted to users (page by page, with their users) and to service accounts, in one holder order.
      const saRoles = new Map<string, string[]>();
      const groupRoles = new Map<string, string[]>();
      for (const a of nonUserAssignments) {
        if (a.serviceAccountId) listIn(saRoles, a.serviceAccountId).push(a.roleName);
        else if (a.groupId) listIn(groupRoles, a.groupId).push(a.roleName);
      }
      type Grant = OrgExport['userGrants'][number];
      const grant = (userId: string, roleKeys: string[]): Grant => ({ userId, projectId, roleKeys: roleKeys.sort() });
      const saGrants = [...saRoles.keys()].sort().map((id) => grant(id, saRoles.get(id)!));
      const userGrants = new Streamed<Grant>(async function* () {
        let next = 0;
        for await (const ids of userIdPages(tx, tenantId, size)) {
          const rows = await tx.roleAssignment.findMany({ where: { tenantId, userId: { in: ids } }, select: { userId: true, roleName: true } });
          const byHolder = new Map<string, string[]>();
          for (const r of rows) listIn(byHolder, r.userId!).push(r.roleName);
          for (const userId of [...byHolder.keys()].sort()) {
            while (next < saGrants.length && saGrants[next]!.userId < userId) yield saGrants[next++]!;
            yield grant(userId, byHolder.get(userId)!);
          }
        }
        while (next < saGrants.length) yield saGrants[next++]!;
      });
      const orgMembers = [...new Set(admins.flatMap((a) => a.userId ?? a.serviceAccountId ?? []))].sort().map((userId) => ({ userId, roles: [ORG_OWNER] }));

      const labelPolicy = Object.fromEntries(LABEL_KEYS.filter((k) => typeof branding[k] === 'string').map((k) => [k, branding[k]]));
      const privacyPolicy: Record<string, string> = Object.fromEntries(
        PRIVACY_KEYS.filter((k) => typeof branding[k] === 'string').map((k) => [k, branding[k]!]),
      );

      await consume({
        orgId: t.id,
        org: { name: t.name },
        ...(Object.keys(labelPolicy).length ? { labelPolicy } : {}),
        ...(Object.keys(privacyPolicy).length ? { privacyPolicy } : {}),
        lockoutPolicy: { maxPasswordAttempts: t.lockoutMaxAttempts },
        loginPolicy: await exportLoginPolicy(tx, t.id),
        passwordComplexityPolicy: {
          minLength: t.pwMinLength,
          hasUppercase: t.pwRequireUpper,
          hasLowercase: t.pwRequireLower,
          hasNumber: t.pwRequireDigit,
          hasSymbol: t.pwRequireSymbol,
        },
        // Our roles are tenant-wide: one project per org stands for the tenant itself.
        projects: [{ projectId, project: { name: t.name, projectRoleAssertion: true } }],
        projectRoles: roles.map((r) => ({ projectId, roleKey: r.name, displayName: r.name, ...(r.description ? { group: r.description.slice(0, 200) } : {}) })),
        oidcApps: apps.oidcApps,
        apiApps: apps.apiApps,
        appKeys: apps.appKeys,
        humanUsers,
        machineUsers,
        machineKeys: credentials.machineKeys,
        oidcIdps: idps.oidcIdps,
        userLinks: idps.userLinks,
        userGrants,
        orgMembers,
        userMetadata,
        domains: t.identity
          ? [
              {
                orgId: t.id,
                domainName: `${t.identity.subdomain}.${opts.baseDomain}`,
                isVerified: true,
                isPrimary: true,
                validationType: 'DOMAIN_VALIDATION_TYPE_UNSPECIFIED',
              },
            ]
          : [],
        pca: {
          state: t.state,
          isOperator: t.isOperator,
          termsRequired: t.termsRequired,
          branding,
          identity: t.identity ? { subdomain: t.identity.subdomain, name: t.identity.name, attributes: t.identity.attributes } : null,
          customRoles: roles.map((r) => ({ roleId: r.id, name: r.name, description: r.description, featureRoles: [...r.featureRoles].sort() })),
          groups: groups.map((g) => ({
            groupId: g.id,
            name: g.name,
            description: g.description,
            externalId: g.externalId,
            members: paged(
              size,
              (after?: { userId: string }) =>
                tx.groupMembership.findMany({
                  where: { tenantId, groupId: g.id, ...(after ? { userId: { gt: after.userId } } : {}) },
                  orderBy: { userId: 'asc' },
                  take: size,
                  select: { userId: true },
                }),
              (m) => m.userId,
            ),
            roles: (groupRoles.get(g.id) ?? []).sort(),
          })),
          applications: apps.applications,
          samlIdps: idps.samlIdps,
          oidcIdps: idps.pcaOidcIdps,
          pats: credentials.pats,
          certificates: credentials.certificates,
          ...(opts.withOtp ? { mfa: exportMfa(tx, tenantId, size) } : {}),
          ...(logo ? { logo } : {}),
        },
      });
    },
    // Writing a large org takes as long as its pages take to read and write.
    { isolationLevel: 'RepeatableRead', timeout: 30 * 60_000, maxWait: 60_000 },
  );
}
