// The issued certificates of a tenant: list, get, revoke (and release from hold), and
// the PCA API's view of one.
import { audit } from '../audit/audit.js';
import type { ClientCertificate } from '../generated/prisma/client.js';
import { conflict, notFound, unprocessable } from '../platform/errors.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn } from '../principals/policy.js';
import type { ReasonName } from './authority.js';
import { TX_OPTIONS } from './tx.js';

/** Largest serial of the PCA API (int64). */
export const MAX_SERIAL = (1n << 63n) - 1n;

interface CertStatusView {
  expiry: number;
  reason: ReasonName;
  serialNum: string;
  status: 'Good' | 'Revoked' | 'Expired';
  tenantId: string;
  userId: string;
}

export function certView(row: ClientCertificate, now = new Date()): CertStatusView {
  return {
    expiry: Math.floor(row.notAfter.getTime() / 1000),
    reason: (row.revocationReason as ReasonName | null) ?? 'Unspecified',
    serialNum: row.serial.toString(),
    status: row.status === 'revoked' ? 'Revoked' : row.notAfter <= now ? 'Expired' : 'Good',
    tenantId: row.tenantId,
    userId: row.serviceAccountId,
  };
}

/** The PCA API's serialNum: a positive int64 in decimal. Anything else names no certificate. */
function parseSerial(value: string): bigint | undefined {
  if (!/^[0-9]{1,19}$/.test(value)) return undefined;
  const n = BigInt(value);
  return n > 0n && n <= MAX_SERIAL ? n : undefined;
}

export async function listCertificates(ctx: ServiceContext, skip: number, take: number) {
  const where = { tenantId: ctx.tenantId };
  const [total, rows] = await Promise.all([
    ctx.prisma.clientCertificate.count({ where }),
    ctx.prisma.clientCertificate.findMany({ where, skip, take, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }] }),
  ]);
  return { total, rows };
}

export async function getCertificate(ctx: ServiceContext, serialNum: string): Promise<ClientCertificate> {
  const serial = parseSerial(serialNum);
  const row = serial && (await ctx.prisma.clientCertificate.findUnique({ where: { tenantId_serial: { tenantId: ctx.tenantId, serial } } }));
  if (!row) throw notFound('Certificate');
  return row;
}

/**
 * Revokes a certificate, or releases one on hold (RemoveFromCRL). The row's trigger
 * notifies the invalidation channel ("cred:<serial>", "crl:<issuer>"), so every instance's
 * caches forget the old status.
 */
export async function revokeCertificate(ctx: ServiceContext, serialNum: string, reason: ReasonName): Promise<ClientCertificate> {
  const current = await getCertificate(ctx, serialNum);
  // Revoking or releasing a certificate changes how its holder authenticates.
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'serviceaccount', id: current.serviceAccountId });
  const onHold = current.status === 'revoked' && current.revocationReason === 'CertificateHold';
  let data: { status: string; revokedAt: Date | null; revocationReason: string | null };
  if (reason === 'RemoveFromCRL') {
    // RFC 5280: removeFromCRL only releases a certificate on hold.
    if (!onHold) throw unprocessable('RemoveFromCRL applies only to a certificate on hold (CertificateHold)', '/reason');
    data = { status: 'good', revokedAt: null, revocationReason: null };
  } else {
    if (current.status === 'revoked' && !onHold) throw conflict('The certificate is already revoked');
    data = { status: 'revoked', revokedAt: new Date(), revocationReason: reason };
  }
  return ctx.prisma.$transaction(async (tx) => {
    // The status guard makes concurrent revocations of one certificate serialise on the row.
    const { count } = await tx.clientCertificate.updateMany({
      where: { tenantId: ctx.tenantId, id: current.id, status: current.status, revocationReason: current.revocationReason },
      data,
    });
    if (count !== 1) throw conflict('The certificate changed concurrently; retry');
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'certificate.revoked', targetType: 'certificate', targetId: current.serial.toString(), details: { reason } },
      ctx.requestId,
    );
    return tx.clientCertificate.findUniqueOrThrow({ where: { id: current.id } });
  }, TX_OPTIONS);
}
