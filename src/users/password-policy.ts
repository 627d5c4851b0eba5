import type { Tenant } from '../generated/prisma/client.js';
import type { ErrorItem } from '../platform/errors.js';
import { validationFailed } from '../platform/errors.js';

export interface PasswordPolicy {
  minLength: number;
  requireUpper: boolean;
  requireLower: boolean;
  requireDigit: boolean;
  requireSymbol: boolean;
}

/** Longer inputs only cost hashing time; no policy asks for more. */
export const MAX_PASSWORD_LENGTH = 256;

export function policyOf(t: Pick<Tenant, 'pwMinLength' | 'pwRequireUpper' | 'pwRequireLower' | 'pwRequireDigit' | 'pwRequireSymbol'>): PasswordPolicy {
  return {
    minLength: t.pwMinLength,
    requireUpper: t.pwRequireUpper,
    requireLower: t.pwRequireLower,
    requireDigit: t.pwRequireDigit,
    requireSymbol: t.pwRequireSymbol,
  };
}

/** Every rule the password breaks, as sentences for the user; empty when it complies. */
export function passwordViolations(policy: PasswordPolicy, password: string): string[] {
  const out: string[] = [];
  const length = [...password].length;
  if (length < policy.minLength) out.push(`must be at least ${policy.minLength} characters long`);
  if (length > MAX_PASSWORD_LENGTH) out.push(`must be at most ${MAX_PASSWORD_LENGTH} characters long`);
  if (policy.requireUpper && !/\p{Lu}/u.test(password)) out.push('must contain an upper-case letter');
  if (policy.requireLower && !/\p{Ll}/u.test(password)) out.push('must contain a lower-case letter');
  if (policy.requireDigit && !/\p{Nd}/u.test(password)) out.push('must contain a digit');
  if (policy.requireSymbol && !/[^\p{L}\p{N}\s]/u.test(password)) out.push('must contain a symbol');
  return out;
}

/** Throws a 400 naming every violated rule at `pointer` (never echoing the password). */
export function assertPasswordComplies(policy: PasswordPolicy, password: string, pointer = '/data/attributes/password') {
  const violations = passwordViolations(policy, password);
  if (!violations.length) return;
  const items: ErrorItem[] = violations.map((v) => ({
    status: '400',
    code: 'password_policy',
    title: 'Password does not meet the tenant policy',
    detail: `Password ${v}`,
    source: { pointer },
  }));
  throw validationFailed(items);
}
