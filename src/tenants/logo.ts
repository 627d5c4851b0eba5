import { createHash } from 'node:crypto';
import { audit } from '../audit/audit.js';
import type { Prisma as P } from '../generated/prisma/client.js';
import type { Prisma } from '../platform/db.js';
import { badRequest } from '../platform/errors.js';
import type { ServiceContext } from '../principals/context.js';

/*
 * The tenant's logo on the hosted pages (ZITADEL's labelPolicy logo). Only PNG and JPEG,
 * recognised by their first bytes whatever the upload claims: an SVG is a document that can
 * carry script, and the pages serve the logo from their own origin. The bytes live in the
 * database, so every instance serves the same logo without shared storage.
 */

export const MAX_LOGO_BYTES = 256 * 1024;
export type LogoType = 'image/png' | 'image/jpeg';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG = Buffer.from([0xff, 0xd8, 0xff]);

/** The image type of these bytes by their signature, or undefined for anything but PNG and JPEG. */
export function logoTypeOf(bytes: Buffer): LogoType | undefined {
  if (bytes.subarray(0, PNG.length).equals(PNG)) return 'image/png';
  if (bytes.subarray(0, JPEG.length).equals(JPEG)) return 'image/jpeg';
  return undefined;
}

export interface TenantLogoView {
  contentType: LogoType;
  size: number;
  /** Names these bytes: the version in the logo's URL and its HTTP ETag. */
  etag: string;
  updatedAt: Date;
}

/** Checks and stores a tenant's logo, as the API and the import both write it. */
export async function writeTenantLogo(db: Pick<P.TransactionClient, 'tenantLogo'>, tenantId: string, bytes: Buffer): Promise<TenantLogoView> {
  if (bytes.length === 0) throw badRequest('The body is empty: send the logo as a PNG or JPEG image');
  if (bytes.length > MAX_LOGO_BYTES) throw badRequest(`The logo is ${bytes.length} bytes; at most ${MAX_LOGO_BYTES} (256 KiB) are accepted`);
  const contentType = logoTypeOf(bytes);
  if (!contentType) throw badRequest('The logo must be a PNG or JPEG image (SVG is refused: it can carry script)');
  const etag = createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
  const data = new Uint8Array(bytes);
  const row = await db.tenantLogo.upsert({ where: { tenantId }, create: { tenantId, contentType, data, etag }, update: { contentType, data, etag } });
  return { contentType, size: bytes.length, etag, updatedAt: row.updatedAt };
}

/** SetTenantLogo: a tenant admin replaces the tenant's logo. */
export async function setTenantLogo(ctx: ServiceContext, bytes: Buffer): Promise<TenantLogoView> {
  return ctx.prisma.$transaction(async (tx) => {
    const logo = await writeTenantLogo(tx, ctx.tenantId, bytes);
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'tenant.logo.updated',
        targetType: 'tenant',
        targetId: ctx.tenantId,
        details: { contentType: logo.contentType, size: logo.size, etag: logo.etag },
      },
      ctx.requestId,
    );
    return logo;
  });
}

/** DeleteTenantLogo: the hosted pages show no logo again. */
export async function deleteTenantLogo(ctx: ServiceContext): Promise<void> {
  await ctx.prisma.$transaction(async (tx) => {
    const { count } = await tx.tenantLogo.deleteMany({ where: { tenantId: ctx.tenantId } });
    if (count) {
      await audit(tx, ctx.principal, { tenantId: ctx.tenantId, action: 'tenant.logo.deleted', targetType: 'tenant', targetId: ctx.tenantId }, ctx.requestId);
    }
  });
}

/** The logo an active tenant's pages show, with its bytes. */
export async function servedLogo(prisma: Prisma, tenantId: string) {
  const row = await prisma.tenantLogo.findUnique({ where: { tenantId }, include: { tenant: { select: { state: true } } } });
  return row?.tenant.state === 'active' ? { contentType: row.contentType, data: Buffer.from(row.data), etag: row.etag } : undefined;
}

/** The version of a tenant's logo for the pages' <img>, or undefined when it has none. */
export async function logoVersionOf(prisma: Prisma, tenantId: string): Promise<string | undefined> {
  return (await prisma.tenantLogo.findUnique({ where: { tenantId }, select: { etag: true } }))?.etag;
}

/** The stored logo for an export: its bytes in base64. */
export async function exportedLogo(db: Pick<Prisma, 'tenantLogo'>, tenantId: string): Promise<string | undefined> {
  const row = await db.tenantLogo.findUnique({ where: { tenantId }, select: { data: true } });
  return row ? Buffer.from(row.data).toString('base64') : undefined;
}
