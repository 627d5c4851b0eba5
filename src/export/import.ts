// Imports an export document (ours, or ZITADEL's instance export). Each org is
// written in one transaction; an item that cannot be imported (a taken username,
// a role that does not exist...) is skipped and reported, and the rest of its org
// still lands, unless the conflict policy is `fail`. Rows are matched by id, so a
// second import of the same file changes nothing: unchanged rows are not even
// rewritten. A dry run does all of it and rolls the transaction back.
import { randomUUID } from 'node:crypto';
import { BlockList } from 'node:net';
import { z } from 'zod';
import { audit } from '../audit/audit.js';
import type { Prisma } from '../platform/db.js';
import { badRequest } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { hashPassword, isVerifiableHash, verifyPassword, type Argon2Params } from '../platform/passwords.js';
import { assertMayConfer } from '../principals/policy.js';
import { isBuiltinRole, SKYLIGHT_ADMIN, TENANT_ADMIN, type Principal } from '../principals/principal.js';
import { subdomain as subdomainSchema } from '../tenants/schemas.js';
import { describeClash, IdentityIndex, lockTenantIdentities, userIdentityProblems } from '../users/identity.js';
import { passwordViolations, policyOf } from '../users/password-policy.js';
import { LABEL_KEYS, META_PREFIX, ORG_OWNER, PRIVACY_KEYS, toUuid, unb64 } from './document.js';
import { planApplications, writeApplications } from './applications.js';
import { planCredentials, writeCredentials } from './credentials.js';
import { planIdps, planOidcIdps, planUserLinks, writeIdps, writeOidcIdps } from './idps.js';
import { clash, Counter, upsertRow, type ConflictPolicy, type ItemError, type Step } from './write-step.js';
import { describeImportFailure, ImportRefusal } from './failures.js';
import { resolveRoleNameIn } from '../roles/assign.js';
import { roleNameProblem, unknownFeatureRoles } from '../roles/service.js';
import { createAnalyticsUiApplication, syncAnalyticsUiSubdomain, type DefaultApplicationConfig } from '../oauth/applications.js';
import { groupNameTaken } from '../groups/service.js';
import { caseFolder, foldCase } from '../platform/case-fold.js';
import { serviceAccountCreate } from '../service-accounts/schemas.js';
import { insertMany, type Columns } from '../platform/bulk-insert.js';
import { planLoginPolicy, writeLoginPolicySection } from './login-policy-section.js';
import { planLogo, writeLogoSection } from './logo-section.js';
import { planMfa, writeMfa } from './mfa-section.js';
import { importInstanceKeys, type InstanceResult } from './instance-keys.js';

export interface ImportOptions {
  argon: Argon2Params;
  baseDomain: string;
  /** When given, a tenant the import creates gets its AnalyticsUI application, as through the API and the CLI. */
  applications?: DefaultApplicationConfig;
  actor: Principal | 'system';
  requestId?: string;
  /** Called after each org, for progress reporting. */
  onOrg?: (done: number, total: number) => void;
  /** Called as users and service accounts are created, batch by batch, inside an org. */
  onRows?: (rows: number) => void;
  /** Gets the full error of an org that failed (the report carries only a safe description). */
  onFailure?: (err: unknown, orgId: string) => void;
  /** Opens the sealed keys of the document (see idps.ts); without it, IdPs cannot be created. */
  masterKey?: Buffer;
  /** Private addresses a client's jwksUri may point to (CLIENT_JWKS_ALLOW_CIDRS); none when absent. */
  jwksAllow?: BlockList;
  onConflict?: ConflictPolicy;
  /** Called after signing keys were installed: this process's key cache reads them at once (others within a minute). */
  onSigningKeys?: () => Promise<void>;
  /** Reports what would change and writes nothing. */
  dryRun?: boolean;
}

export type { ItemError };

export interface OrgResult {
  orgId: string;
  name?: string;
  /** `unchanged`: the database already held the org as the document has it. */
  status: 'imported' | 'unchanged' | 'failed';
  created: number;
  updated: number;
  unchanged: number;
  errors: ItemError[];
}

export interface ImportResult {
  dryRun?: true;
  /** The deployment's signing keys (`pcaInstance`), when the document has them. */
  instance?: InstanceResult;
  orgs: OrgResult[];
}

const str = (max: number) => z.string().max(max);
const orgHeader = z.object({ orgId: z.string().min(1).max(200), org: z.object({ name: z.string().trim().min(1).max(200) }) });
const humanSchema = z.object({
  userId: z.string().min(1).max(200),
  user: z.object({
    // The syntax every entry point applies to a user's names (users/identity.ts).
    userName: z
      .string()
      .trim()
      .refine((username) => !userIdentityProblems({ username }).length, userIdentityProblems({ username: '' })[0]!.message),
    profile: z.object({ firstName: str(200).optional(), lastName: str(200).optional() }).optional(),
    email: z.object({
      email: z
        .string()
        .trim()
        .refine((email) => !userIdentityProblems({ email }).length, 'is not an email address'),
    }),
    password: z.string().max(256).optional(),
    hashedPassword: z.object({ value: z.string().max(1024) }).optional(),
  }),
});
const machineSchema = z.object({
  userId: z.string().min(1).max(200),
  user: z.object({
    // The rules of POST /api/v3/serviceaccounts (service-accounts/schemas.ts).
    userName: serviceAccountCreate.shape.username,
    name: serviceAccountCreate.shape.name,
    description: serviceAccountCreate.shape.description,
    accessTokenType: z.string().optional(),
  }),
});
const pcaSchema = z.object({
  state: z.enum(['active', 'disabled']),
  isOperator: z.boolean(),
  termsRequired: z.boolean(),
  branding: z.record(z.string().max(64), z.string().max(2048)),
  identity: z.object({ subdomain: subdomainSchema, name: z.string().max(200), attributes: z.unknown() }).nullable(),
  customRoles: z.array(
    z.object({ roleId: z.string().uuid(), name: z.string().trim().min(1).max(200), description: str(2000), featureRoles: z.array(z.string().max(200)) }),
  ),
  groups: z.array(
    z.object({
      groupId: z.string().uuid(),
      name: z.string().trim().min(1).max(256),
      description: str(2000),
      externalId: z.string().max(256).nullable(),
      members: z.array(z.string()),
      roles: z.array(z.string()),
    }),
  ),
});

const metadataEntry = z.object({ id: z.string(), key: z.string().max(200), value: z.string().max(700000) });

const USER_STATES = new Set(['initial', 'active', 'inactive', 'locked']);
const clamp = (n: unknown, lo: number, hi: number, dflt: number) =>
  typeof n === 'number' && Number.isFinite(n) ? Math.min(hi, Math.max(lo, Math.round(n))) : dflt;

function parseDate(v: string | undefined): Date | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

interface UserPlan {
  id: string;
  rawId: string;
  data: {
    username: string;
    email: string;
    firstName: string;
    lastName: string;
    state: string;
    externalId: string | null;
    idpId: string | null;
    idpSubject: string | null;
    termsAcceptedAt: Date | null;
    mfaInitSkippedAt: Date | null;
    passwordHash?: string;
  };
  password?: string;
}
interface MachinePlan {
  id: string;
  rawId: string;
  data: { name: string; username: string; description: string; accessTokenType: string; expirationDate: Date | null };
}

/** Reads one org of the document into rows to write, collecting what cannot be read. */
function planOrg(raw: Record<string, unknown>, baseDomain: string, errors: ItemError[]) {
  const header = orgHeader.parse(raw);
  const scope = header.orgId;
  const tenantId = toUuid(header.orgId, 'org');
  const list = (key: string) => (Array.isArray(raw[key]) ? (raw[key] as unknown[]) : []);

  let pca: z.infer<typeof pcaSchema> | undefined;
  if (raw.pca !== undefined) {
    const p = pcaSchema.safeParse(raw.pca);
    if (p.success) pca = p.data;
    else errors.push({ type: 'pca', message: p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
  }

  const metadata = new Map<string, Map<string, string>>();
  for (const m of list('userMetadata')) {
    const r = metadataEntry.safeParse(m);
    if (!r.success) {
      errors.push({ type: 'userMetadata', message: 'malformed metadata entry' });
      continue;
    }
    if (!r.data.key.startsWith(META_PREFIX)) continue; // other metadata has nowhere to go in our model
    const byUser = metadata.get(r.data.id) ?? new Map<string, string>();
    byUser.set(r.data.key.slice(META_PREFIX.length), unb64(r.data.value));
    metadata.set(r.data.id, byUser);
  }

  const pw = (raw.passwordComplexityPolicy ?? {}) as Record<string, unknown>;
  const lockout = (raw.lockoutPolicy ?? {}) as Record<string, unknown>;
  const label = { ...((raw.labelPolicy ?? {}) as Record<string, unknown>), ...((raw.privacyPolicy ?? {}) as Record<string, unknown>) };
  const branding =
    pca?.branding ??
    Object.fromEntries(
      [...LABEL_KEYS, ...PRIVACY_KEYS].filter((k) => typeof label[k] === 'string' && label[k]).map((k) => [k, String(label[k]).slice(0, 2048)]),
    );

  let identity = pca ? pca.identity : null;
  if (!pca) {
    const domains = list('domains') as { domainName?: unknown; isPrimary?: unknown }[];
    const primary = domains.find((d) => d?.isPrimary === true) ?? domains[0];
    const name = typeof primary?.domainName === 'string' ? primary.domainName.toLowerCase() : '';
    const sub = name.endsWith(`.${baseDomain}`) ? name.slice(0, -baseDomain.length - 1) : '';
    if (subdomainSchema.safeParse(sub).success) identity = { subdomain: sub, name: header.org.name, attributes: {} };
    else if (name) errors.push({ type: 'domain', id: name, message: `not a subdomain of ${baseDomain}; the tenant gets no subdomain` });
  }

  const tenant = {
    id: tenantId,
    data: {
      name: header.org.name,
      state: pca?.state ?? 'active',
      isOperator: pca?.isOperator ?? false,
      termsRequired: pca?.termsRequired ?? false,
      branding,
      pwMinLength: clamp(pw.minLength, 8, 128, 12),
      pwRequireUpper: typeof pw.hasUppercase === 'boolean' ? pw.hasUppercase : true,
      pwRequireLower: typeof pw.hasLowercase === 'boolean' ? pw.hasLowercase : true,
      pwRequireDigit: typeof pw.hasNumber === 'boolean' ? pw.hasNumber : true,
      pwRequireSymbol: typeof pw.hasSymbol === 'boolean' ? pw.hasSymbol : false,
      lockoutMaxAttempts: clamp(lockout.maxPasswordAttempts, 0, 100, 10),
    },
    identity,
  };

  const roles = pca
    ? pca.customRoles.map((r) => ({ id: r.roleId.toLowerCase(), name: r.name, description: r.description, featureRoles: r.featureRoles }))
    : [
        ...new Map(
          (list('projectRoles') as { roleKey?: unknown; group?: unknown }[])
            .filter((r) => typeof r?.roleKey === 'string' && r.roleKey.trim() && !isBuiltinRole(r.roleKey as string))
            .map((r) => [
              String(r.roleKey).trim(),
              {
                id: toUuid(`role:${String(r.roleKey).trim()}`, scope),
                name: String(r.roleKey).trim().slice(0, 200),
                description: typeof r.group === 'string' ? r.group : '',
                featureRoles: [] as string[],
              },
            ]),
        ).values(),
      ];

  const policy = policyOf(tenant.data);
  const links = planUserLinks(raw, scope, errors);
  const users: UserPlan[] = [];
  for (const item of list('humanUsers')) {
    const r = humanSchema.safeParse(item);
    if (!r.success) {
      errors.push({
        type: 'humanUser',
        id: (item as { userId?: string })?.userId,
        message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
      continue;
    }
    const { userId, user } = r.data;
    const m = metadata.get(userId) ?? new Map<string, string>();
    const state = m.get('state');
    const link = links.get(toUuid(userId, scope));
    const idpId = link?.idpId ?? m.get('idpId');
    let passwordHash: string | undefined;
    if (user.hashedPassword) {
      // Only hashes our login can verify (kept as they are, replaced by argon2id at the first
      // login); others would lock the user out silently.
      if (isVerifiableHash(user.hashedPassword.value)) passwordHash = user.hashedPassword.value;
      else
        errors.push({
          type: 'humanUser',
          id: userId,
          field: 'user.hashedPassword.value',
          message: 'the password hash is not argon2, PBKDF2 or bcrypt (cost 4 to 16); imported without a password',
        });
    }
    // A plain (initial) password obeys the tenant's policy, as through every other entry point.
    if (!passwordHash && user.password !== undefined) {
      const violations = passwordViolations(policy, user.password);
      if (violations.length) {
        errors.push({ type: 'humanUser', id: userId, message: `password does not meet the tenant policy: it ${violations.join(', ')}` });
        continue;
      }
    }
    users.push({
      id: toUuid(userId, scope),
      rawId: userId,
      password: passwordHash ? undefined : user.password,
      data: {
        username: user.userName,
        email: user.email.email,
        firstName: user.profile?.firstName ?? '',
        lastName: user.profile?.lastName ?? '',
        state: state && USER_STATES.has(state) ? state : 'active',
        externalId: m.get('externalId') ?? null,
        idpId: idpId && isUuid(idpId) ? idpId.toLowerCase() : null,
        idpSubject: (idpId && (m.get('idpSubject')?.slice(0, 1024) ?? link?.subject)) || null,
        termsAcceptedAt: parseDate(m.get('termsAcceptedAt')),
        mfaInitSkippedAt: parseDate(m.get('mfaInitSkippedAt')),
        ...(passwordHash ? { passwordHash } : {}),
      },
    });
  }

  const machines: MachinePlan[] = [];
  for (const item of list('machineUsers')) {
    const r = machineSchema.safeParse(item);
    if (!r.success) {
      errors.push({
        type: 'machineUser',
        id: (item as { userId?: string })?.userId,
        message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
      continue;
    }
    const { userId, user } = r.data;
    machines.push({
      id: toUuid(userId, scope),
      rawId: userId,
      data: {
        name: user.name,
        username: user.userName,
        description: user.description ?? '',
        accessTokenType: user.accessTokenType === 'ACCESS_TOKEN_TYPE_JWT' ? 'Jwt' : 'Bearer',
        expirationDate: parseDate(metadata.get(userId)?.get('expirationDate')),
      },
    });
  }

  // Role grants by holder id (raw ids of the document mapped to ours).
  const grants: { holder: string; rawHolder: string; role: string }[] = [];
  for (const g of list('userGrants') as { userId?: unknown; roleKeys?: unknown }[]) {
    if (typeof g?.userId !== 'string' || !Array.isArray(g.roleKeys)) {
      errors.push({ type: 'userGrant', message: 'malformed user grant' });
      continue;
    }
    for (const role of g.roleKeys) if (typeof role === 'string') grants.push({ holder: toUuid(g.userId, scope), rawHolder: g.userId, role });
  }
  for (const m of list('orgMembers') as { userId?: unknown; roles?: unknown }[]) {
    if (typeof m?.userId === 'string' && Array.isArray(m.roles) && m.roles.includes(ORG_OWNER)) {
      grants.push({ holder: toUuid(m.userId, scope), rawHolder: m.userId, role: TENANT_ADMIN });
    }
  }

  const groups = (pca?.groups ?? []).map((g) => ({
    id: g.groupId.toLowerCase(),
    data: { name: g.name, description: g.description, externalId: g.externalId },
    members: g.members.map((m) => toUuid(m, scope)),
    roles: g.roles,
  }));

  for (const item of list('jwtIdps') as { idpId?: unknown }[]) {
    errors.push({
      type: 'jwtIdps',
      id: typeof item?.idpId === 'string' ? item.idpId : undefined,
      message: 'JWT identity providers (a JWT passed in a header by a proxy in front of the login) have no counterpart here; not imported',
    });
  }
  const oidcIdps = planOidcIdps(raw, scope, errors);
  const applications = planApplications(raw, scope, errors);
  const idps = planIdps(raw, errors);
  const credentials = planCredentials(raw, scope, errors);
  return {
    header,
    tenant,
    roles,
    users,
    machines,
    grants,
    groups,
    applications,
    idps,
    oidcIdps,
    credentials,
    loginPolicy: planLoginPolicy(raw.loginPolicy, errors),
    logo: planLogo(raw.pca, errors),
    mfa: planMfa(raw, scope, errors),
  };
}

type Plan = ReturnType<typeof planOrg>;

const BATCH = 5000;

const USER_COLUMNS: Columns<UserPlan['data'] & { id: string; tenantId: string; updatedAt: Date }> = {
  id: 'uuid',
  tenantId: 'uuid',
  username: 'text',
  email: 'text',
  firstName: 'text',
  lastName: 'text',
  state: 'text',
  externalId: 'text',
  idpId: 'uuid',
  idpSubject: 'text',
  termsAcceptedAt: 'timestamptz',
  mfaInitSkippedAt: 'timestamptz',
  passwordHash: 'text',
  updatedAt: 'timestamptz',
};
const SERVICE_ACCOUNT_COLUMNS: Columns<MachinePlan['data'] & { id: string; tenantId: string; updatedAt: Date }> = {
  id: 'uuid',
  tenantId: 'uuid',
  name: 'text',
  username: 'text',
  description: 'text',
  accessTokenType: 'text',
  expirationDate: 'timestamptz',
  updatedAt: 'timestamptz',
};

/** Rows that are created in batches elsewhere. */
const nothing = async () => undefined;

type RoleResolution = { name: string } | { problem: string };

/** Writes an org: each step applies the rules the API applies to the same rows. */
async function writeOrg(w: Step, plan: Plan, applications?: DefaultApplicationConfig) {
  // A document that carries the org's applications brings its AnalyticsUI with it.
  const { operator } = await writeTenant(w, plan, plan.applications ? undefined : applications);
  await writeLoginPolicySection(w, plan.loginPolicy);
  await writeLogoSection(w, plan.logo);
  await writeRoles(w, plan);
  await writeOidcIdps(w, plan.oidcIdps);
  const idps = await writeIdps(w, plan.idps);
  for (const u of plan.users) {
    if (u.data.idpId && !idps.has(u.data.idpId)) {
      w.errors.push({
        type: 'userLink',
        id: u.rawId,
        field: 'idpId',
        message: `identity provider ${u.data.idpId} is neither in the document nor in the org; the user is imported without the link`,
      });
      u.data.idpId = null;
      u.data.idpSubject = null;
    }
  }
  const holderOf = await writePrincipals(w, plan);
  if (plan.applications) await writeApplications(w, plan.applications, holderOf);
  await writeCredentials(w, plan.credentials, holderOf);
  await writeMfa(w, plan.mfa, holderOf);
  const resolveRole = await roleResolver(w, operator, [...plan.groups.flatMap((g) => g.roles), ...plan.grants.map((g) => g.role)]);
  await writeGroups(w, plan, resolveRole);
  await writeGrants(w, plan, resolveRole, holderOf);
}

/** The tenant, its subdomain and its AnalyticsUI application. */
async function writeTenant(w: Step, plan: Pick<Plan, 'tenant'>, applications?: DefaultApplicationConfig): Promise<{ operator: boolean }> {
  const { tx, tenantId, errors } = w;
  const { tenant } = plan;
  const data = { ...tenant.data };
  if (data.isOperator && (await tx.tenant.findFirst({ where: { isOperator: true, NOT: { id: tenantId } }, select: { id: true } }))) {
    data.isOperator = false;
    errors.push({ type: 'org', id: tenantId, message: 'this deployment already has an operator tenant; imported as an ordinary tenant' });
  }
  const existing = await tx.tenant.findUnique({ where: { id: tenantId }, include: { identity: true } });
  const next = existing?.isOperator ? { ...data, isOperator: true } : data;
  await upsertRow(
    w,
    { type: 'org', id: tenantId },
    existing,
    next,
    () => tx.tenant.create({ data: { id: tenantId, ...data } }),
    () => tx.tenant.update({ where: { id: tenantId }, data: next }),
  );

  if (tenant.identity) {
    const idn = tenant.identity;
    const owner = await tx.tenantIdentity.findUnique({ where: { subdomain: idn.subdomain } });
    const want = { subdomain: idn.subdomain, name: idn.name, attributes: (idn.attributes ?? {}) as object };
    if (owner && owner.tenantId !== tenantId) clash(w, { type: 'domain', id: idn.subdomain, message: 'subdomain belongs to another tenant' });
    else
      await upsertRow(
        w,
        { type: 'domain', id: idn.subdomain },
        existing?.identity,
        want,
        () => tx.tenantIdentity.create({ data: { tenantId, ...want } }),
        () => tx.tenantIdentity.update({ where: { tenantId }, data: want }),
      );
  }
  if (applications) {
    // The tenant's AnalyticsUI application follows its subdomain, as when the API writes it.
    const before = existing?.identity?.subdomain ?? null;
    const after = (await tx.tenantIdentity.findUnique({ where: { tenantId }, select: { subdomain: true } }))?.subdomain ?? null;
    if (!existing) await createAnalyticsUiApplication(tx, tenantId, after, applications);
    else if (before !== after) await syncAnalyticsUiSubdomain(tx, tenantId, before, after, applications);
  }

  return { operator: data.isOperator || Boolean(existing?.isOperator) };
}

/** Custom roles: names unique per tenant, case-insensitively. */
async function writeRoles(w: Step, plan: Pick<Plan, 'roles'>) {
  const { tx, tenantId } = w;
  const unknown = await unknownFeatureRoles(tx, [...new Set(plan.roles.flatMap((r) => r.featureRoles))]);
  for (const r of plan.roles) {
    // The API's rules for a custom role: its name's syntax, no built-in name, catalogued feature roles.
    const problem = roleNameProblem(r.name) ?? r.featureRoles.filter((f) => unknown.has(f)).map((f) => `"${f}" is not in the feature-role catalogue`)[0];
    if (problem) {
      w.errors.push({ type: 'role', id: r.id, message: problem });
      continue;
    }
    const row = { name: r.name, description: r.description, featureRoles: r.featureRoles };
    const taken = await tx.customRole.findFirst({ where: { tenantId, nameLower: await foldCase(tx, r.name), NOT: { id: r.id } }, select: { id: true } });
    if (taken) {
      clash(w, { type: 'role', id: r.id, field: 'name', message: `role name "${r.name}" is taken by another role` });
      continue;
    }
    const cur = await tx.customRole.findUnique({ where: { id: r.id } });
    if (cur && cur.tenantId !== tenantId) {
      clash(w, { type: 'role', id: r.id, message: 'the id belongs to another tenant' });
      continue;
    }
    await upsertRow(
      w,
      { type: 'role', id: r.id },
      cur,
      row,
      () => tx.customRole.create({ data: { id: r.id, tenantId, ...row } }),
      () => tx.customRole.update({ where: { id: r.id }, data: row }),
    );
  }
}

/** Users, then service accounts; returns what holds an id of the org. */
async function writePrincipals(w: Step, plan: Pick<Plan, 'users' | 'machines'>): Promise<(id: string) => 'user' | 'serviceAccount' | undefined> {
  const { tx, tenantId, n } = w;
  // Users and service accounts share a tenant's username space. Clashes are checked in
  // memory against the tenant's rows, loaded once, and new rows are inserted in batches.
  await lockTenantIdentities(tx, tenantId);
  // One after the other: a transaction's queries share one connection.
  const users = await tx.user.findMany({ where: { tenantId } });
  const sas = await tx.serviceAccount.findMany({ where: { tenantId } });
  const userById = new Map(users.map((u) => [u.id, u]));
  const saById = new Map(sas.map((s) => [s.id, s]));
  // The tenant's identity rule (users/identity.ts), over its rows held in memory.
  const fold = await caseFolder(tx, [
    ...users.flatMap((u) => [u.username, u.email]),
    ...sas.map((s) => s.username),
    ...plan.users.flatMap((u) => [u.data.username, u.data.email]),
    ...plan.machines.map((s) => s.data.username),
  ]);
  const identities = new IdentityIndex(fold, users, sas);
  const foreignUsers = new Set(
    (
      await tx.user.findMany({ where: { id: { in: plan.users.map((u) => u.id).filter((id) => !userById.has(id)) }, NOT: { tenantId } }, select: { id: true } })
    ).map((r) => r.id),
  );
  const foreignSas = new Set(
    (
      await tx.serviceAccount.findMany({
        where: { id: { in: plan.machines.map((s) => s.id).filter((id) => !saById.has(id)) }, NOT: { tenantId } },
        select: { id: true },
      })
    ).map((r) => r.id),
  );

  const userIds = new Set<string>();
  const now = new Date();
  const newUsers: (UserPlan['data'] & { id: string; tenantId: string; updatedAt: Date })[] = [];
  for (const u of plan.users) {
    const self = { kind: 'user' as const, id: u.id };
    const clashes = identities.clashes(u.data, self);
    let problem: string | undefined;
    if (userIds.has(u.id)) problem = 'the same user appears twice';
    else if (foreignUsers.has(u.id)) problem = 'the id belongs to another tenant';
    else if (clashes.length) problem = clashes.map(describeClash).join('; ');
    if (problem) {
      clash(w, { type: 'humanUser', id: u.rawId, message: problem });
      continue;
    }
    const cur = userById.get(u.id);
    identities.claim(self, u.data, cur);
    userIds.add(u.id);
    if (!cur) newUsers.push({ id: u.id, tenantId, ...u.data, updatedAt: now });
    else await upsertRow(w, { type: 'humanUser', id: u.rawId }, cur, u.data, nothing, () => tx.user.update({ where: { id: u.id }, data: u.data }));
  }
  for (let i = 0; i < newUsers.length; i += BATCH) {
    const count = await insertMany(tx, 'User', USER_COLUMNS, newUsers.slice(i, i + BATCH));
    n.created += count;
    w.onRows?.(count);
  }

  const machineIds = new Set<string>();
  const newSas: (MachinePlan['data'] & { id: string; tenantId: string; updatedAt: Date })[] = [];
  for (const s of plan.machines) {
    const self = { kind: 'serviceAccount' as const, id: s.id };
    const clashes = identities.clashes({ username: s.data.username }, self);
    let problem: string | undefined;
    if (machineIds.has(s.id)) problem = 'the same service account appears twice';
    else if (foreignSas.has(s.id)) problem = 'the id belongs to another tenant';
    else if (clashes.length) problem = clashes.map(describeClash).join('; ');
    if (problem) {
      clash(w, { type: 'machineUser', id: s.rawId, message: problem });
      continue;
    }
    const cur = saById.get(s.id);
    identities.claim(self, { username: s.data.username }, cur && { username: cur.username });
    machineIds.add(s.id);
    if (!cur) newSas.push({ id: s.id, tenantId, ...s.data, updatedAt: now });
    else await upsertRow(w, { type: 'machineUser', id: s.rawId }, cur, s.data, nothing, () => tx.serviceAccount.update({ where: { id: s.id }, data: s.data }));
  }
  for (let i = 0; i < newSas.length; i += BATCH) {
    const count = await insertMany(tx, 'ServiceAccount', SERVICE_ACCOUNT_COLUMNS, newSas.slice(i, i + BATCH));
    n.created += count;
    w.onRows?.(count);
  }

  return (id) => (userIds.has(id) || userById.has(id) ? 'user' : machineIds.has(id) || saById.has(id) ? 'serviceAccount' : undefined);
}

async function roleResolver(w: Step, operatorTenant: boolean, names: string[]): Promise<(name: string) => RoleResolution> {
  const { tx, tenantId } = w;
  // Role names resolve as through the API (roles/assign.ts): built-in names exactly, custom
  // roles case-insensitively to their stored name; skylight-admin only in the operator tenant.
  const customRoles = new Map(
    (await tx.customRole.findMany({ where: { tenantId }, select: { name: true, nameLower: true } })).map((r) => [r.nameLower, r.name]),
  );
  const fold = await caseFolder(tx, names);
  return (name: string): RoleResolution => {
    const resolved = resolveRoleNameIn(customRoles, fold, name);
    if (!resolved) return { problem: 'no such role' };
    if (resolved === SKYLIGHT_ADMIN && !operatorTenant) return { problem: `"${SKYLIGHT_ADMIN}" exists only in the operator tenant` };
    return { name: resolved };
  };
}

/** Groups, their members and their roles. */
async function writeGroups(w: Step, plan: Pick<Plan, 'groups'>, resolveRole: (name: string) => RoleResolution) {
  const { tx, tenantId, errors, n } = w;
  for (const g of plan.groups) {
    const taken = await groupNameTaken(tx, tenantId, g.data.name, g.id);
    const cur = await tx.userGroup.findUnique({ where: { id: g.id } });
    if (taken || (cur && cur.tenantId !== tenantId)) {
      clash(w, { type: 'group', id: g.id, message: taken ? `group name "${g.data.name}" is taken` : 'the id belongs to another tenant' });
      continue;
    }
    await upsertRow(
      w,
      { type: 'group', id: g.id },
      cur,
      g.data,
      () => tx.userGroup.create({ data: { id: g.id, tenantId, ...g.data } }),
      () => tx.userGroup.update({ where: { id: g.id }, data: g.data }),
    );
    // A group may hold every user of a large tenant: its members are checked and written in batches.
    for (let i = 0; i < g.members.length; i += BATCH) {
      const batch = g.members.slice(i, i + BATCH);
      const present = new Set(
        (await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM "User" WHERE "tenantId" = ${tenantId}::uuid AND id = ANY(${batch}::uuid[])`).map(
          (u) => u.id,
        ),
      );
      for (const m of batch) if (!present.has(m)) errors.push({ type: 'groupMember', id: `${g.id}/${m}`, message: 'no such user in the org' });
      const rows = batch.filter((m) => present.has(m)).map((userId) => ({ tenantId, groupId: g.id, userId }));
      n.created += await insertMany(tx, 'GroupMembership', { tenantId: 'uuid', groupId: 'uuid', userId: 'uuid' }, rows, { skipDuplicates: true });
    }
    const roles: string[] = [];
    for (const r of g.roles) {
      const resolved = resolveRole(r);
      if ('problem' in resolved) errors.push({ type: 'groupRole', id: `${g.id}/${r}`, message: resolved.problem });
      else roles.push(resolved.name);
    }
    if (roles.length)
      n.created += (await tx.roleAssignment.createMany({ data: roles.map((roleName) => ({ tenantId, groupId: g.id, roleName })), skipDuplicates: true })).count;
  }
}

/** Role grants of users and service accounts. */
async function writeGrants(
  w: Step,
  plan: Pick<Plan, 'grants'>,
  resolveRole: (name: string) => RoleResolution,
  holderOf: (id: string) => 'user' | 'serviceAccount' | undefined,
) {
  const { tenantId, errors, tx, n } = w;
  const assignments: { tenantId: string; roleName: string; userId?: string; serviceAccountId?: string }[] = [];
  const seen = new Set<string>();
  for (const grant of plan.grants) {
    const resolved = resolveRole(grant.role);
    if ('problem' in resolved) {
      errors.push({ type: 'userGrant', id: `${grant.rawHolder}/${grant.role}`, message: resolved.problem });
      continue;
    }
    const key = `${grant.holder}/${resolved.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const holder = holderOf(grant.holder);
    const isUser = holder === 'user';
    if (!holder) {
      errors.push({ type: 'userGrant', id: `${grant.rawHolder}/${grant.role}`, message: 'no such user in the org' });
      continue;
    }
    assignments.push({ tenantId, roleName: resolved.name, ...(isUser ? { userId: grant.holder } : { serviceAccountId: grant.holder }) });
  }
  for (let i = 0; i < assignments.length; i += BATCH) {
    const rows = assignments.slice(i, i + BATCH).map((a) => ({ id: randomUUID(), userId: null, serviceAccountId: null, ...a }));
    n.created += await insertMany(tx, 'RoleAssignment', { id: 'uuid', tenantId: 'uuid', roleName: 'text', userId: 'uuid', serviceAccountId: 'uuid' }, rows, {
      skipDuplicates: true,
    });
  }
}

/** Thrown at the end of a dry run's transaction so that it rolls back. */
class DryRun extends Error {}

function done(result: OrgResult, n: Counter) {
  Object.assign(result, { status: n.created + n.updated > 0 ? 'imported' : 'unchanged', created: n.created, updated: n.updated, unchanged: n.unchanged });
}

/** Imports one org in its own transaction; `index` names it in reports when it has no id. */
export async function importOrg(prisma: Prisma, raw: unknown, index: number, opts: ImportOptions): Promise<OrgResult> {
  const errors: ItemError[] = [];
  const rawId = (raw as { orgId?: unknown })?.orgId;
  const result: OrgResult = { orgId: typeof rawId === 'string' ? rawId : `#${index}`, status: 'failed', created: 0, updated: 0, unchanged: 0, errors };
  const n = new Counter();
  try {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ImportRefusal('not an object');
    const plan = planOrg(raw as Record<string, unknown>, opts.baseDomain, errors);
    result.orgId = plan.tenant.id;
    result.name = plan.header.org.name;
    // An import writes every principal of the org and confers every role it names.
    assertMayConfer(opts.actor, plan.tenant.id, [...plan.grants.map((g) => g.role), ...plan.groups.flatMap((g) => g.roles)]);
    // Plain passwords (ZITADEL's initial passwords) are hashed before the transaction: argon2 is
    // slow. A user whose stored hash already matches keeps it, so a second import changes nothing.
    for (const u of plan.users) {
      if (!u.password) continue;
      const cur = await prisma.user.findUnique({ where: { id: u.id }, select: { tenantId: true, passwordHash: true } });
      const same = cur?.tenantId === plan.tenant.id && cur.passwordHash && (await verifyPassword(cur.passwordHash, u.password));
      u.data.passwordHash = same ? cur.passwordHash! : await hashPassword(u.password, opts.argon);
    }
    await prisma.$transaction(
      async (tx) => {
        const w: Step = {
          tx,
          tenantId: plan.tenant.id,
          errors,
          n,
          onConflict: opts.onConflict ?? 'overwrite',
          masterKey: opts.masterKey,
          jwksAllow: opts.jwksAllow ?? new BlockList(),
          onRows: opts.onRows,
        };
        await writeOrg(w, plan, opts.applications);
        if (opts.dryRun) throw new DryRun();
        if (n.created + n.updated > 0) {
          await audit(
            tx,
            opts.actor,
            {
              tenantId: plan.tenant.id,
              action: 'tenant.imported',
              targetType: 'tenant',
              targetId: plan.tenant.id,
              details: { created: n.created, updated: n.updated, skipped: errors.length },
            },
            opts.requestId,
          );
        }
      },
      // A large org is one long transaction by design: all of it lands or none of it.
      { timeout: 30 * 60_000, maxWait: 60_000 },
    );
    done(result, n);
    // The planner's statistics still describe the tables before a large import: until autovacuum
    // catches up, paged reads of the new rows (an export, a user list) would sort whole tables.
    // Statistics only: the org has landed whatever happens here.
    if (n.created >= 10_000) await prisma.$executeRawUnsafe('ANALYZE "User", "ServiceAccount", "GroupMembership", "RoleAssignment"').catch(() => undefined);
  } catch (err) {
    if (err instanceof DryRun) {
      done(result, n);
      return result;
    }
    // The org's transaction rolled back: nothing of it was written. The report says why
    // in safe words; the database's own message (with our source paths) goes to the log.
    const failure = describeImportFailure(err, opts.requestId);
    if (failure.log) opts.onFailure?.(err, result.orgId);
    errors.push({ type: 'org', message: failure.message });
    Object.assign(result, { status: 'failed', created: 0, updated: 0, unchanged: 0 });
  }
  return result;
}

export async function importDocument(prisma: Prisma, doc: unknown, opts: ImportOptions): Promise<ImportResult> {
  if (!doc || typeof doc !== 'object' || !Array.isArray((doc as { orgs?: unknown }).orgs)) throw badRequest('The document has no "orgs" array', '/orgs');
  const orgs = (doc as { orgs: unknown[] }).orgs;
  const raw = (doc as { pcaInstance?: unknown }).pcaInstance;
  const instance = raw === undefined ? undefined : await importInstance(prisma, raw, opts);
  const results: OrgResult[] = [];
  for (const [i, raw] of orgs.entries()) {
    results.push(await importOrg(prisma, raw, i, opts));
    opts.onOrg?.(i + 1, orgs.length);
  }
  return { ...(opts.dryRun ? { dryRun: true as const } : {}), ...(instance ? { instance } : {}), orgs: results };
}

/** The deployment-wide section: installs the signing keys, and records it when any was added. */
export async function importInstance(prisma: Prisma, raw: unknown, opts: ImportOptions): Promise<InstanceResult> {
  const result = await importInstanceKeys(prisma, raw, opts.masterKey, { dryRun: !!opts.dryRun, onConflict: opts.onConflict ?? 'overwrite' });
  if (result.created && !opts.dryRun) {
    await audit(
      prisma,
      opts.actor,
      { tenantId: null, action: 'signing_keys.imported', targetType: 'signing_key', details: { created: result.created, skipped: result.errors.length } },
      opts.requestId,
    );
    await opts.onSigningKeys?.();
  }
  return result;
}
