// The tenant's logo in an export: ZITADEL's labelPolicy names its logo by a URL of its own
// asset store, which another deployment cannot read, so the bytes travel in our `pca`
// section as base64 (`pca.logo`) and are checked on import as an upload is.
import { AppError } from '../platform/errors.js';
import { MAX_LOGO_BYTES, writeTenantLogo } from '../tenants/logo.js';
import type { ItemError, Step } from './write-step.js';

// base64 of the largest logo accepted, and a little room for line breaks.
const MAX_BASE64 = Math.ceil(MAX_LOGO_BYTES / 3) * 4 + 1024;

/** The logo bytes of an org's `pca` section, when it carries one; one that cannot be read is reported. */
export function planLogo(pca: unknown, errors: ItemError[]): Buffer | undefined {
  const raw = pca && typeof pca === 'object' ? (pca as Record<string, unknown>).logo : undefined;
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string' || raw.length > MAX_BASE64 || !/^[A-Za-z0-9+/=\s]*$/.test(raw)) {
    errors.push({ type: 'pca', field: 'logo', message: 'not a base64 image of at most 256 KiB; the tenant keeps its logo' });
    return undefined;
  }
  return Buffer.from(raw, 'base64');
}

/** Writes the planned logo with the upload's rules; one they refuse is reported and the tenant keeps its logo. */
export async function writeLogoSection(w: Pick<Step, 'tx' | 'tenantId' | 'errors' | 'n'>, bytes: Buffer | undefined) {
  if (!bytes) return;
  const existing = await w.tx.tenantLogo.findUnique({ where: { tenantId: w.tenantId }, select: { data: true } });
  if (existing && Buffer.from(existing.data).equals(bytes)) {
    w.n.unchanged += 1;
    return;
  }
  try {
    await writeTenantLogo(w.tx, w.tenantId, bytes);
    if (existing) w.n.updated += 1;
    else w.n.created += 1;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    w.errors.push({ type: 'pca', field: 'logo', message: `${err.message}; the tenant keeps its logo` });
  }
}
