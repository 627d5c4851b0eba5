// The `loginPolicy` section of an org: ZITADEL's loginPolicy object, field for field
// (src/tenants/login-policy.ts). ZITADEL's fields we keep nothing for (defaultRedirectUri,
// idps, isDefault) are left out of an export and ignored on import.
import type { Prisma as P } from '../generated/prisma/client.js';
import { AppError } from '../platform/errors.js';
import {
  DEFAULT_LOGIN_POLICY,
  loginPolicyOf,
  loginPolicySchema,
  policyFrom,
  writeLoginPolicy,
  type LoginPolicy,
  type LoginPolicyInput,
} from '../tenants/login-policy.js';

type Tx = Pick<P.TransactionClient, 'loginPolicy'>;

export const exportLoginPolicy = (tx: Tx, tenantId: string): Promise<LoginPolicy> => loginPolicyOf(tx, tenantId);

/** The fields of an imported section that we can apply; each one that cannot be read is reported and left out. */
export function planLoginPolicy(raw: unknown, errors: { type: string; message: string }[]): LoginPolicyInput | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push({ type: 'loginPolicy', message: 'not an object; the login policy is left as it was' });
    return undefined;
  }
  const input: Record<string, unknown> = {};
  for (const [k, schema] of Object.entries(loginPolicySchema.shape)) {
    const v = (raw as Record<string, unknown>)[k];
    if (v === undefined) continue;
    const r = schema.safeParse(v);
    if (r.success) input[k] = r.data;
    else errors.push({ type: 'loginPolicy', message: `${k}: ${r.error.issues[0]?.message ?? 'invalid'}; the default applies` });
  }
  return input as LoginPolicyInput;
}

/** Writes the planned policy with the API's rules; one the rules refuse is reported and the tenant keeps its policy. */
export async function writeLoginPolicySection(
  w: { tx: Tx; tenantId: string; errors: { type: string; message: string }[]; n: { created: number; updated: number; unchanged: number } },
  input: LoginPolicyInput | undefined,
) {
  if (!input) return;
  const existing = await w.tx.loginPolicy.findUnique({ where: { tenantId: w.tenantId } });
  // The policy in force is compared, not the rows: importing the defaults writes nothing, so
  // an export of a tenant that never set a policy imports back to the same database.
  if (JSON.stringify({ ...DEFAULT_LOGIN_POLICY, ...input }) === JSON.stringify(policyFrom(existing?.policy))) {
    w.n.unchanged += 1;
    return;
  }
  try {
    await writeLoginPolicy(w.tx, w.tenantId, input);
    if (existing) w.n.updated += 1;
    else w.n.created += 1;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    w.errors.push({ type: 'loginPolicy', message: `${err.message}; the login policy is left as it was` });
  }
}
