// Credentials of service accounts: public keys (ZITADEL's `machineKeys`), PAT hashes and
// the client certificates the tenant CA issued (`pca.pats`, `pca.certificates`: ZITADEL
// has neither). Only public halves and hashes are exported: none of them lets the reader
// authenticate, and they let the target accept the same credentials as the source.
import { createHash, createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { KEY_ALGORITHM, type KeyType } from '../service-accounts/keys.js';
import { isUuid } from '../platform/ids.js';
import { toUuid } from './foreign-ids.js';
import { clash, upsertRow, type ItemError, type Step, type Tx } from './write-step.js';

export interface MachineKey {
  keyId: string;
  userId: string;
  type: string;
  expirationDate: string;
  /** base64 of the SPKI PEM, as ZITADEL's bytes field. */
  publicKey: string;
}
export interface PcaPat {
  id: string;
  userId: string;
  tokenHash: string;
  expirationDate: string;
  lastUsedAt: string | null;
}
export interface PcaCertificate {
  id: string;
  serial: string;
  userId: string;
  issuerId: string;
  subjectCn: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  status: string;
  revokedAt: string | null;
  revocationReason: string | null;
  /** base64 DER */
  der: string;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

export async function exportCredentials(tx: Tx, tenantId: string) {
  const where = { tenantId };
  const [keys, pats, certs] = await Promise.all([
    tx.serviceAccountKey.findMany({ where, orderBy: { id: 'asc' } }),
    tx.personalAccessToken.findMany({ where, orderBy: { id: 'asc' } }),
    tx.clientCertificate.findMany({ where, orderBy: { id: 'asc' } }),
  ]);
  const machineKeys: MachineKey[] = keys.map((k) => ({
    keyId: k.id,
    userId: k.serviceAccountId,
    type: 'KEY_TYPE_JSON',
    expirationDate: k.expiresAt.toISOString(),
    publicKey: Buffer.from(k.publicKeyPem).toString('base64'),
  }));
  const patList: PcaPat[] = pats.map((p) => ({
    id: p.id,
    userId: p.serviceAccountId,
    tokenHash: p.tokenHash,
    expirationDate: p.expiresAt.toISOString(),
    lastUsedAt: iso(p.lastUsedAt),
  }));
  const certificates: PcaCertificate[] = certs.map((c) => ({
    id: c.id,
    serial: c.serial.toString(),
    userId: c.serviceAccountId,
    issuerId: c.issuerId,
    subjectCn: c.subjectCn,
    fingerprint: c.fingerprint,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    status: c.status,
    revokedAt: iso(c.revokedAt),
    revocationReason: c.revocationReason,
    der: Buffer.from(c.der).toString('base64'),
  }));
  return { machineKeys, pats: patList, certificates };
}

const datetime = z.iso.datetime();
const machineKey = z.object({
  keyId: z.string().min(1).max(200),
  userId: z.string().min(1).max(200),
  expirationDate: datetime,
  publicKey: z.string().min(1).max(20_000),
});
const pat = z.object({
  id: z.uuid(),
  userId: z.string().min(1).max(200),
  tokenHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256'),
  expirationDate: datetime,
  lastUsedAt: datetime.nullable(),
});
const certificate = z.object({
  id: z.uuid(),
  serial: z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a positive 64-bit integer'),
  userId: z.string().min(1).max(200),
  issuerId: z.string().regex(/^[0-9a-f]{64}$/),
  subjectCn: z.string().min(1).max(200),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  notBefore: datetime,
  notAfter: datetime,
  status: z.enum(['good', 'revoked']),
  revokedAt: datetime.nullable(),
  revocationReason: z.string().max(64).nullable(),
  der: z.string().min(1).max(100_000),
});

const describe = (e: z.ZodError) => ({
  field: e.issues[0]?.path.join('.') || undefined,
  message: e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
});
const rawIdOf = (item: unknown, key: string) => String((item as Record<string, unknown>)?.[key] ?? '');

/** The key type and algorithm of a public key: RSA, or EC on P-256 (what ES256 signs with). */
function keyTypeOf(pemText: string): KeyType | undefined {
  try {
    const k = createPublicKey(pemText);
    if (k.asymmetricKeyType === 'rsa') return 'RSA';
    if (k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'EC';
  } catch {
    // not a key
  }
  return undefined;
}

export function planCredentials(raw: Record<string, unknown>, scope: string, errors: ItemError[]) {
  const pca = (raw.pca ?? {}) as { pats?: unknown; certificates?: unknown };
  const arr = (v: unknown) => (Array.isArray(v) ? (v as unknown[]) : []);
  const keys = [];
  for (const item of arr(raw.machineKeys)) {
    const r = machineKey.safeParse(item);
    if (!r.success) {
      errors.push({ type: 'machineKey', id: rawIdOf(item, 'keyId'), ...describe(r.error) });
      continue;
    }
    const publicKeyPem = Buffer.from(r.data.publicKey, 'base64').toString('utf8');
    const keyType = keyTypeOf(publicKeyPem);
    if (!keyType) {
      errors.push({ type: 'machineKey', id: r.data.keyId, field: 'publicKey', message: 'not an RSA or P-256 public key (base64 of a PEM)' });
      continue;
    }
    keys.push({
      id: isUuid(r.data.keyId) ? r.data.keyId.toLowerCase() : toUuid(`key:${r.data.keyId}`, scope),
      rawId: r.data.keyId,
      serviceAccountId: toUuid(r.data.userId, scope),
      data: { keyType, algorithm: KEY_ALGORITHM[keyType], publicKeyPem, expiresAt: new Date(r.data.expirationDate) },
    });
  }
  const pats = [];
  for (const item of arr(pca.pats)) {
    const r = pat.safeParse(item);
    if (!r.success) {
      errors.push({ type: 'pat', id: rawIdOf(item, 'id'), ...describe(r.error) });
      continue;
    }
    pats.push({
      id: r.data.id.toLowerCase(),
      serviceAccountId: toUuid(r.data.userId, scope),
      data: { tokenHash: r.data.tokenHash, expiresAt: new Date(r.data.expirationDate), lastUsedAt: r.data.lastUsedAt ? new Date(r.data.lastUsedAt) : null },
    });
  }
  const certificates = [];
  for (const item of arr(pca.certificates)) {
    const r = certificate.safeParse(item);
    if (!r.success) {
      errors.push({ type: 'certificate', id: rawIdOf(item, 'id'), ...describe(r.error) });
      continue;
    }
    const der = Buffer.from(r.data.der, 'base64');
    if (createHash('sha256').update(der).digest('hex') !== r.data.fingerprint) {
      errors.push({ type: 'certificate', id: r.data.id, field: 'der', message: 'the certificate does not match its fingerprint' });
      continue;
    }
    const c = r.data;
    certificates.push({
      id: c.id.toLowerCase(),
      serviceAccountId: toUuid(c.userId, scope),
      data: {
        serial: BigInt(c.serial),
        issuerId: c.issuerId,
        subjectCn: c.subjectCn,
        fingerprint: c.fingerprint,
        notBefore: new Date(c.notBefore),
        notAfter: new Date(c.notAfter),
        status: c.status,
        revokedAt: c.revokedAt ? new Date(c.revokedAt) : null,
        revocationReason: c.revocationReason,
        der: new Uint8Array(der),
      },
    });
  }
  return { keys, pats, certificates };
}

export type CredentialPlan = ReturnType<typeof planCredentials>;

/** After the service accounts: every credential belongs to one of the org. */
export async function writeCredentials(w: Step, plan: CredentialPlan, holderOf: (id: string) => 'user' | 'serviceAccount' | undefined) {
  const { tx, tenantId } = w;
  const owned = (type: string, id: string, saId: string) => {
    if (holderOf(saId) === 'serviceAccount') return true;
    w.errors.push({ type, id, field: 'userId', message: 'no such service account in the org' });
    return false;
  };
  const foreign = async (type: string, id: string, row: { tenantId: string } | null) => {
    if (row && row.tenantId !== tenantId) {
      clash(w, { type, id, message: 'the id belongs to another tenant' });
      return true;
    }
    return false;
  };

  for (const k of plan.keys) {
    if (!owned('machineKey', k.rawId, k.serviceAccountId)) continue;
    const cur = await tx.serviceAccountKey.findUnique({ where: { id: k.id } });
    if (await foreign('machineKey', k.rawId, cur)) continue;
    const next = { serviceAccountId: k.serviceAccountId, ...k.data };
    await upsertRow(
      w,
      { type: 'machineKey', id: k.rawId },
      cur,
      next,
      () => tx.serviceAccountKey.create({ data: { id: k.id, tenantId, ...next } }),
      () => tx.serviceAccountKey.update({ where: { id: k.id }, data: next }),
    );
  }
  for (const p of plan.pats) {
    if (!owned('pat', p.id, p.serviceAccountId)) continue;
    const cur = await tx.personalAccessToken.findUnique({ where: { id: p.id } });
    if (await foreign('pat', p.id, cur)) continue;
    const byHash = await tx.personalAccessToken.findUnique({ where: { tokenHash: p.data.tokenHash }, select: { id: true } });
    if (byHash && byHash.id !== p.id) {
      clash(w, { type: 'pat', id: p.id, field: 'tokenHash', message: 'the same token is stored under another id' });
      continue;
    }
    const next = { serviceAccountId: p.serviceAccountId, ...p.data };
    await upsertRow(
      w,
      { type: 'pat', id: p.id },
      cur,
      next,
      () => tx.personalAccessToken.create({ data: { id: p.id, tenantId, ...next } }),
      () => tx.personalAccessToken.update({ where: { id: p.id }, data: next }),
    );
  }
  for (const c of plan.certificates) {
    if (!owned('certificate', c.id, c.serviceAccountId)) continue;
    const cur = await tx.clientCertificate.findUnique({ where: { id: c.id } });
    if (await foreign('certificate', c.id, cur)) continue;
    const bySerial = await tx.clientCertificate.findUnique({ where: { tenantId_serial: { tenantId, serial: c.data.serial } }, select: { id: true } });
    if (bySerial && bySerial.id !== c.id) {
      clash(w, { type: 'certificate', id: c.id, field: 'serial', message: 'another certificate of the tenant has this serial number' });
      continue;
    }
    const next = { serviceAccountId: c.serviceAccountId, ...c.data };
    await upsertRow(
      w,
      { type: 'certificate', id: c.id },
      cur,
      next,
      () => tx.clientCertificate.create({ data: { id: c.id, tenantId, ...next } }),
      () => tx.clientCertificate.update({ where: { id: c.id }, data: next }),
    );
  }
}
