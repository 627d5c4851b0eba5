import { z } from 'zod';
import { audit } from '../audit/audit.js';
import type { Prisma as P } from '../generated/prisma/client.js';
import type { Prisma } from '../platform/db.js';
import { unprocessable } from '../platform/errors.js';
import type { ServiceContext } from '../principals/context.js';

/*
 * A tenant's login policy, with ZITADEL's loginPolicy field names, values and duration
 * format (admin API export, seed 004), so that a ZITADEL export imports unchanged. The
 * defaults are the hosted login's behaviour before there were policies; docs/login.md
 * lists where each field takes effect.
 */

export const SECOND_FACTOR_OTP = 'SECOND_FACTOR_TYPE_OTP';
export const SECOND_FACTOR_U2F = 'SECOND_FACTOR_TYPE_U2F';
export const MULTI_FACTOR_U2F_WITH_VERIFICATION = 'MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION';
export const PASSWORDLESS_ALLOWED = 'PASSWORDLESS_TYPE_ALLOWED';
// The second factors this server offers; forceMfa needs one of them.
const OFFERED_SECOND_FACTORS: readonly string[] = [SECOND_FACTOR_OTP, SECOND_FACTOR_U2F];
const SECOND_FACTORS = ['SECOND_FACTOR_TYPE_OTP', 'SECOND_FACTOR_TYPE_U2F', 'SECOND_FACTOR_TYPE_OTP_EMAIL', 'SECOND_FACTOR_TYPE_OTP_SMS'] as const;
const MULTI_FACTORS = ['MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION'] as const;
const PASSWORDLESS_TYPES = ['PASSWORDLESS_TYPE_NOT_ALLOWED', 'PASSWORDLESS_TYPE_ALLOWED'] as const;

// Protobuf JSON durations as ZITADEL writes them ("864000s", "0.5s"); at most ten years.
const duration = z
  .string()
  .regex(/^\d{1,9}(\.\d{1,9})?s$/, 'must be a duration in seconds such as "864000s"')
  .refine((d) => parseFloat(d) <= 10 * 365 * 86400, 'must be at most ten years');

export const loginPolicySchema = z.strictObject({
  allowUsernamePassword: z.boolean().describe('Users may sign in with a password'),
  allowRegister: z.boolean().describe('Stored for ZITADEL compatibility; this server has no self-registration'),
  allowExternalIdp: z.boolean().describe('Users may sign in through an identity provider (SAML or OpenID Connect)'),
  forceMfa: z
    .boolean()
    .describe(
      'Every login needs a second factor (TOTP or a passkey); a user without one enrols TOTP at login when SECOND_FACTOR_TYPE_OTP is allowed, else a passkey',
    ),
  forceMfaLocalOnly: z.boolean().describe('With forceMfa: only password logins need the second factor, identity-provider logins do not'),
  passwordlessType: z
    .enum(PASSWORDLESS_TYPES)
    .describe('PASSWORDLESS_TYPE_ALLOWED (with MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION in multiFactors): the login page offers "Sign in with a passkey"'),
  hidePasswordReset: z.boolean().describe('The login page offers no "forgot password" link'),
  ignoreUnknownUsernames: z.boolean().describe('An unknown login name goes on to the password step instead of being reported as unknown'),
  allowDomainDiscovery: z.boolean().describe('A login name whose email domain an active identity provider claims goes to that provider from the email step'),
  disableLoginWithEmail: z.boolean().describe('The login name must be the username; an email address is refused'),
  disableLoginWithPhone: z.boolean().describe('Stored; users have no phone numbers here'),
  secondFactors: z
    .array(z.enum(SECOND_FACTORS))
    .max(SECOND_FACTORS.length)
    .refine((a) => new Set(a).size === a.length, 'must not repeat a value')
    .describe('Second factors users may use; this server offers SECOND_FACTOR_TYPE_OTP (TOTP) and SECOND_FACTOR_TYPE_U2F (passkeys, security keys)'),
  multiFactors: z
    .array(z.enum(MULTI_FACTORS))
    .max(MULTI_FACTORS.length)
    .refine((a) => new Set(a).size === a.length, 'must not repeat a value')
    .describe('MULTI_FACTOR_TYPE_U2F_WITH_VERIFICATION: a passkey with user verification signs in without a password (with passwordlessType allowed)'),
  passwordCheckLifetime: duration.describe('A browser session older than this signs in with the password again'),
  externalLoginCheckLifetime: duration.describe('A session from an identity-provider login older than this signs in there again'),
  mfaInitSkipLifetime: duration.describe(
    'After a login, a user without a second factor is offered to add one, with Skip; a skip silences the offer this long. "0s": never offered',
  ),
  secondFactorCheckLifetime: duration.describe("A session's second-factor check older than this is asked again"),
  multiFactorCheckLifetime: duration.describe('A session from a passwordless (passkey) login older than this signs in again'),
});
export type LoginPolicy = z.output<typeof loginPolicySchema>;

export const DEFAULT_LOGIN_POLICY: LoginPolicy = {
  allowUsernamePassword: true,
  allowRegister: false,
  allowExternalIdp: true,
  forceMfa: false,
  forceMfaLocalOnly: false,
  passwordlessType: 'PASSWORDLESS_TYPE_NOT_ALLOWED',
  hidePasswordReset: false,
  // The email step has always gone on to the password step whatever the name.
  ignoreUnknownUsernames: true,
  allowDomainDiscovery: false,
  disableLoginWithEmail: false,
  disableLoginWithPhone: true,
  secondFactors: [SECOND_FACTOR_OTP],
  multiFactors: [],
  passwordCheckLifetime: '864000s',
  externalLoginCheckLifetime: '864000s',
  mfaInitSkipLifetime: '0s',
  secondFactorCheckLifetime: '64800s',
  multiFactorCheckLifetime: '43200s',
};

/** A policy as written by a client or an import: missing fields take the defaults. */
export const loginPolicyInput = loginPolicySchema.partial();
export type LoginPolicyInput = z.output<typeof loginPolicyInput>;

export const seconds = (d: string) => parseFloat(d);

/** Rules between fields, checked where a policy is written. */
function assertCoherent(p: LoginPolicy) {
  if (!p.allowUsernamePassword && !p.allowExternalIdp) {
    throw unprocessable(
      'At least one of allowUsernamePassword and allowExternalIdp must be true: nobody could sign in',
      '/data/attributes/allowUsernamePassword',
    );
  }
  if (p.forceMfa && !p.secondFactors.some((f) => OFFERED_SECOND_FACTORS.includes(f))) {
    throw unprocessable(
      `forceMfa needs a second factor this server offers: secondFactors must include ${SECOND_FACTOR_OTP} or ${SECOND_FACTOR_U2F}`,
      '/data/attributes/secondFactors',
    );
  }
}

/** Passkeys may serve as the second factor. */
export const passkeysAsSecondFactor = (p: Pick<LoginPolicy, 'secondFactors'>) => p.secondFactors.includes(SECOND_FACTOR_U2F);

/** A passkey with user verification may sign in on its own, without the password. */
export const passwordlessAllowed = (p: Pick<LoginPolicy, 'passwordlessType' | 'multiFactors'>) =>
  p.passwordlessType === PASSWORDLESS_ALLOWED && p.multiFactors.includes(MULTI_FACTOR_U2F_WITH_VERIFICATION);

/** The stored policy, defaults filled in; a row that no longer parses counts as the defaults plus what still does. */
export function policyFrom(stored: unknown): LoginPolicy {
  const out: Record<string, unknown> = { ...DEFAULT_LOGIN_POLICY };
  if (stored && typeof stored === 'object') {
    for (const [k, schema] of Object.entries(loginPolicySchema.shape)) {
      const parsed = (schema as z.ZodType).safeParse((stored as Record<string, unknown>)[k]);
      if (parsed.success) out[k] = parsed.data;
    }
  }
  return out as LoginPolicy;
}

type Db = Pick<Prisma, 'loginPolicy'> | Pick<P.TransactionClient, 'loginPolicy'>;

export async function loginPolicyOf(db: Db, tenantId: string): Promise<LoginPolicy> {
  const row = await db.loginPolicy.findUnique({ where: { tenantId } });
  return policyFrom(row?.policy);
}

/** Writes a tenant's whole policy (fields left out take the defaults), as the API and the import do. */
export async function writeLoginPolicy(db: Pick<P.TransactionClient, 'loginPolicy'>, tenantId: string, input: LoginPolicyInput): Promise<LoginPolicy> {
  const policy: LoginPolicy = { ...DEFAULT_LOGIN_POLICY, ...input };
  assertCoherent(policy);
  await db.loginPolicy.upsert({ where: { tenantId }, create: { tenantId, policy }, update: { policy } });
  return policy;
}

/** SetLoginPolicy: a tenant admin replaces the tenant's login policy. */
export async function setLoginPolicy(ctx: ServiceContext, input: LoginPolicyInput): Promise<LoginPolicy> {
  return ctx.prisma.$transaction(async (tx) => {
    const policy = await writeLoginPolicy(tx, ctx.tenantId, input);
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'login_policy.updated', targetType: 'tenant', targetId: ctx.tenantId, details: { fields: Object.keys(input) } },
      ctx.requestId,
    );
    return policy;
  });
}
