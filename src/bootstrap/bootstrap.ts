import type { Config } from '../platform/config.js';
import type { Database } from '../platform/db.js';
import { argon2Params, hashPassword } from '../platform/passwords.js';
import { randomToken } from '../platform/secrets.js';
import { audit } from '../audit/audit.js';
import { generatePat } from '../principals/pat.js';
import { SKYLIGHT_ADMIN } from '../principals/principal.js';
import { createSwaggerUiApplication } from '../oauth/applications.js';
import { createServiceAccountIn, insertPat } from '../service-accounts/service.js';
import { createTenantIn } from '../tenants/service.js';
import { passwordViolations, policyOf } from '../users/password-policy.js';
import { createUserIn } from '../users/service.js';

export interface BootstrapResult {
  tenantId: string;
  username: string;
  /** The admin's email; the login page takes it or the username. */
  email: string;
  /** Where the operator signs in: Swagger UI's "Authorize" runs the hosted login. */
  docsUrl: string;
  /** Present only when generated here: it is shown once and never again. */
  password?: string;
  pat?: string;
  patExpiresAt: Date;
}

const PAT_LIFETIME_DAYS = 365;

/**
 * Creates the operator tenant, its skylight-admin user and an operator service account
 * with a PAT, once, through the same commands as the API (tenant, user, service account,
 * PAT), so they obey the same rules. Returns undefined when they already exist.
 */
export async function bootstrap(db: Database, config: Config): Promise<BootstrapResult | undefined> {
  const { prisma } = db;
  if (await prisma.tenant.findFirst({ where: { isOperator: true }, select: { id: true } })) return undefined;

  const username = config.BOOTSTRAP_ADMIN_USERNAME ?? 'admin';
  // Upper, lower and digit by construction, so any password policy with those rules accepts it.
  const password = config.BOOTSTRAP_ADMIN_PASSWORD ?? `A${randomToken(22)}7z`;
  const pat = config.BOOTSTRAP_ADMIN_PAT ?? generatePat();
  const passwordHash = await hashPassword(password, argon2Params(config));
  const patExpiresAt = new Date(Date.now() + PAT_LIFETIME_DAYS * 86400_000);
  const email = username.includes('@') ? username : `${username}@${config.BASE_DOMAIN}`;

  const tenantId = await prisma.$transaction(async (tx) => {
    // Concurrent first starts of several instances: one bootstraps, the others see its result.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(727002)`;
    if (await tx.tenant.findFirst({ where: { isOperator: true }, select: { id: true } })) return undefined;
    const tenant = await createTenantIn(tx, { principal: 'system' }, { name: 'Operator' }, config, { isOperator: true });
    const violations = passwordViolations(policyOf(tenant), password);
    if (violations.length) throw new Error(`BOOTSTRAP_ADMIN_PASSWORD breaks the operator tenant's password policy: it ${violations.join(', ')}`);
    const ctx = { principal: 'system' as const, tenantId: tenant.id, requestId: 'bootstrap' };
    await createSwaggerUiApplication(tx, tenant.id, config);
    const { user } = await createUserIn(
      tx,
      ctx,
      { username, email, firstName: 'Skylight', lastName: 'Administrator', roles: [SKYLIGHT_ADMIN] },
      { passwordHash, state: 'active', invitationTtlMs: 0 },
    );
    const sa = await createServiceAccountIn(tx, ctx, {
      name: 'operator',
      username: 'operator',
      description: 'Operator service account created at first start',
      accessTokenType: 'Bearer',
      roles: [SKYLIGHT_ADMIN],
    });
    await insertPat(tx, ctx, sa.id, patExpiresAt, pat);
    await audit(tx, 'system', {
      tenantId: tenant.id,
      action: 'bootstrap',
      targetType: 'tenant',
      targetId: tenant.id,
      details: { userId: user.id, serviceAccountId: sa.id },
    });
    return tenant.id;
  });
  if (!tenantId) return undefined;
  return {
    tenantId,
    username,
    email,
    docsUrl: `${config.PUBLIC_URL}/docs`,
    password: config.BOOTSTRAP_ADMIN_PASSWORD ? undefined : password,
    pat: config.BOOTSTRAP_ADMIN_PAT ? undefined : pat,
    patExpiresAt,
  };
}

/** The first start's credentials as the operator reads them; `file` names the 0600 copy when one was written. */
export function bootstrapBanner(r: BootstrapResult, file?: string): string {
  const line = '='.repeat(72);
  return [
    line,
    ' First start: the operator tenant and its administrators were created.',
    file ? ' These credentials are shown ONCE. Store them now, then delete the file below.' : ' These credentials are shown ONCE. Store them now.',
    '',
    ` Operator tenant id : ${r.tenantId}`,
    ` Admin sign-in      : ${r.username}  (or ${r.email}; the login form takes either)`,
    ` Admin password     : ${r.password ?? '(from BOOTSTRAP_ADMIN_PASSWORD)'}`,
    ` Operator PAT       : ${r.pat ?? '(from BOOTSTRAP_ADMIN_PAT)'}`,
    ` PAT expires        : ${r.patExpiresAt.toISOString()}`,
    ...(file ? [` Also written to    : ${file} (mode 0600)`] : []),
    '',
    ` Sign in at         : ${r.docsUrl} ("Authorize" opens the hosted login)`,
    '',
    ` Try: curl -H "Authorization: Bearer <PAT>" ${r.docsUrl.slice(0, -'/docs'.length)}/api/v3/tenants`,
    line,
  ].join('\n');
}
