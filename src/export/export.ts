// Builds the export document, one org (tenant) at a time, each read in one
// repeatable-read transaction so an org is a consistent snapshot.
import type { Prisma } from '../platform/db.js';
import { TENANT_ADMIN } from '../principals/principal.js';
import { exportLoginPolicy } from './login-policy-section.js';
import { ACCESS_TOKEN_TYPES, b64, LABEL_KEYS, META_PREFIX, ORG_OWNER, PRIVACY_KEYS, type HumanUser, type MachineUser, type OrgExport } from './document.js';
import { exportApplications } from './applications.js';
import { exportCredentials } from './credentials.js';
import { exportIdps } from './idps.js';

export interface ExportSelection {
  orgIds?: string[];
  excludedOrgIds?: string[];
}

export interface ExportOptions {
  withPasswords?: boolean;
  /** Accepted for compatibility: TOTP secrets stay sealed under this server's master key and are not exported. */
  withOtp?: boolean;
  /** SP private keys of SAML IdPs, still sealed under this deployment's master key. */
  withKeys?: boolean;
  baseDomain: string;
}

const byKey =
  <T>(key: (x: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

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

export async function exportOrg(prisma: Prisma, tenantId: string, opts: ExportOptions): Promise<OrgExport> {
  return prisma.$transaction(
    async (tx) => {
      const t = await tx.tenant.findUniqueOrThrow({ where: { id: tenantId }, include: { identity: true } });
      const where = { tenantId };
      const [users, sas, groups, roles, assignments, memberships] = await Promise.all([
        tx.user.findMany({ where, orderBy: { id: 'asc' } }),
        tx.serviceAccount.findMany({ where, orderBy: { id: 'asc' } }),
        tx.userGroup.findMany({ where, orderBy: { id: 'asc' } }),
        tx.customRole.findMany({ where, orderBy: { id: 'asc' } }),
        tx.roleAssignment.findMany({ where, orderBy: [{ roleName: 'asc' }, { id: 'asc' }] }),
        tx.groupMembership.findMany({ where, orderBy: [{ groupId: 'asc' }, { userId: 'asc' }] }),
      ]);
      const apps = await exportApplications(tx, tenantId);
      const idps = await exportIdps(tx, tenantId, !!opts.withKeys);
      const credentials = await exportCredentials(tx, tenantId);
      const projectId = t.id;
      const branding = t.branding as Record<string, string>;

      const humanUsers: HumanUser[] = users.map((u) => ({
        userId: u.id,
        user: {
          userName: u.username,
          profile: { firstName: u.firstName, lastName: u.lastName, displayName: `${u.firstName} ${u.lastName}`.trim() || u.username },
          email: { email: u.email, isEmailVerified: true },
          ...(opts.withPasswords && u.passwordHash ? { hashedPassword: { value: u.passwordHash } } : {}),
        },
      }));
      const machineUsers: MachineUser[] = sas.map((s) => ({
        userId: s.id,
        user: {
          userName: s.username,
          name: s.name,
          description: s.description,
          accessTokenType: ACCESS_TOKEN_TYPES[s.accessTokenType] ?? 'ACCESS_TOKEN_TYPE_BEARER',
        },
      }));

      const metadata: OrgExport['userMetadata'] = [];
      const meta = (id: string, key: string, value: string | null | undefined) => {
        if (value !== null && value !== undefined) metadata.push({ id, key: META_PREFIX + key, value: b64(value) });
      };
      for (const u of users) {
        meta(u.id, 'state', u.state);
        meta(u.id, 'externalId', u.externalId);
        meta(u.id, 'idpId', u.idpId);
        meta(u.id, 'idpSubject', u.idpSubject);
        meta(u.id, 'termsAcceptedAt', u.termsAcceptedAt?.toISOString());
      }
      for (const s of sas) meta(s.id, 'expirationDate', s.expirationDate?.toISOString());

      const grants = new Map<string, string[]>();
      const groupRoles = new Map<string, string[]>();
      for (const a of assignments) {
        const holder = a.userId ?? a.serviceAccountId;
        if (holder) grants.set(holder, [...(grants.get(holder) ?? []), a.roleName]);
        else if (a.groupId) groupRoles.set(a.groupId, [...(groupRoles.get(a.groupId) ?? []), a.roleName]);
      }
      const holders = [...grants.keys()].sort();
      const members = new Map<string, string[]>();
      for (const m of memberships) members.set(m.groupId, [...(members.get(m.groupId) ?? []), m.userId]);

      const labelPolicy = Object.fromEntries(LABEL_KEYS.filter((k) => typeof branding[k] === 'string').map((k) => [k, branding[k]]));
      const privacyPolicy: Record<string, string> = Object.fromEntries(
        PRIVACY_KEYS.filter((k) => typeof branding[k] === 'string').map((k) => [k, branding[k]!]),
      );

      return {
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
        userGrants: holders.map((userId) => ({ userId, projectId, roleKeys: grants.get(userId)!.sort() })),
        orgMembers: holders.filter((h) => grants.get(h)!.includes(TENANT_ADMIN)).map((userId) => ({ userId, roles: [ORG_OWNER] })),
        userMetadata: metadata.sort(byKey((m) => `${m.id}\u0000${m.key}`)),
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
            members: members.get(g.id) ?? [],
            roles: (groupRoles.get(g.id) ?? []).sort(),
          })),
          applications: apps.applications,
          samlIdps: idps.samlIdps,
          oidcIdps: idps.pcaOidcIdps,
          pats: credentials.pats,
          certificates: credentials.certificates,
        },
      };
    },
    { isolationLevel: 'RepeatableRead' },
  );
}
