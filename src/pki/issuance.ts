// Issuance: SignCSR (with the service account it creates or reuses) and RenewCerts.
import { createHash, randomBytes } from 'node:crypto';
import { audit } from '../audit/audit.js';
import type { Config } from '../platform/config.js';
import type { Database } from '../platform/db.js';
import { badRequest, conflict, forbidden, notFound, unprocessable } from '../platform/errors.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOnRoles, assertMayConfer } from '../principals/policy.js';
import { isBuiltinRole, SKYLIGHT_ADMIN, TENANT_CONTRIBUTOR, type Principal } from '../principals/principal.js';
import { bytes, randomSerial, type Authority } from './authority.js';
import type { CurrentAuthority } from './ca.js';
import { parseCsr, type ParsedCsr } from './csr.js';
import { OID, pem } from './der.js';
import { TX_OPTIONS } from './tx.js';
import { assertCertUsernameFree } from './username.js';
import { serviceAccountCreate } from '../service-accounts/schemas.js';
import {
  aki,
  authorityInfoAccess,
  basicConstraints,
  crlDistributionPoint,
  signedAsync,
  tbsCertificate,
  extKeyUsage,
  keyUsage,
  name,
  ski,
  subjectAltUri,
} from './x509.js';
import { foldCase } from '../platform/case-fold.js';

export type CertFormat = 'der' | 'pem';
export interface SignParams {
  certduration?: string;
  format: CertFormat;
  requestedUsername?: string;
  assignedRoles?: string[];
}

export class Issuance {
  constructor(
    private readonly db: Database,
    private readonly ca: CurrentAuthority,
    private readonly config: Config,
  ) {}

  private get prisma() {
    return this.db.prisma;
  }

  private validityHours(certduration: string | undefined): number {
    if (certduration === undefined || certduration === '') return Math.min(this.config.PKI_CERT_DEFAULT_HOURS, this.config.PKI_CERT_MAX_HOURS);
    if (!/^[0-9]{1,7}$/.test(certduration) || Number(certduration) < 1) {
      throw badRequest('certduration must be a whole number of hours, at least 1', undefined);
    }
    const hours = Number(certduration);
    if (hours > this.config.PKI_CERT_MAX_HOURS) throw badRequest(`certduration exceeds the maximum of ${this.config.PKI_CERT_MAX_HOURS} hours`);
    return hours;
  }

  private async issue(auth: Authority, csr: ParsedCsr, serial: bigint, tenantId: string, serviceAccountId: string, username: string, hours: number) {
    const now = Date.now();
    const notBefore = new Date(now - 5 * 60_000); // tolerate clock skew of the relying parties
    const notAfter = new Date(Math.min(now + hours * 3600_000, auth.cert.notAfter.getTime()));
    const base = this.config.PUBLIC_URL;
    const tbs = tbsCertificate(
      {
        serial,
        issuer: auth.cert.subject,
        subject: name([
          [OID.organizationName, tenantId],
          [OID.commonName, username],
        ]),
        notBefore,
        notAfter,
        spki: csr.spki,
        extensions: [
          basicConstraints(false),
          keyUsage(csr.keyType === 'rsa' ? 0xa0 : 0x80),
          extKeyUsage(OID.kpClientAuth),
          ski(csr.spki),
          aki(auth.cert.keyId),
          subjectAltUri(`urn:pca-iam:tenant:${tenantId}:serviceaccount:${serviceAccountId}`),
          authorityInfoAccess(`${base}/api/v3/certs/ocsp`),
          crlDistributionPoint(`${base}/api/v3/certs/crl`),
        ],
      },
      auth.signer,
    );
    const der = await signedAsync(tbs, auth.signer);
    return { der, notBefore, notAfter, fingerprint: createHash('sha256').update(der).digest('hex') };
  }

  async signCsr(ctx: ServiceContext, body: Buffer, params: SignParams): Promise<Buffer | string> {
    const hours = this.validityHours(params.certduration);
    const username = (params.requestedUsername ?? ctx.principal.username).trim();
    checkUsername(username);
    const roles = [...new Set(params.assignedRoles?.length ? params.assignedRoles : [TENANT_CONTRIBUTOR])];
    await this.checkRoles(ctx, roles);
    const csr = parseCsr(body);
    const auth = await this.ca.ready();
    // 63 random bits: a repeat is ~2^-63 per pair; within a tenant the unique index refuses it (409).
    const serial = randomSerial();

    // Common case, an existing account that already holds the roles: one atomic statement.
    // One SQL round trip (account and its roles) rather than the ORM's two queries.
    const [existing] = await ctx.prisma.$queryRaw<{ id: string; tenantId: string; username: string; expirationDate: Date | null; roles: string[] }[]>`
      SELECT sa.id::text AS id, sa."tenantId"::text AS "tenantId", sa.username, sa."expirationDate",
             coalesce(array_agg(r."roleName") FILTER (WHERE r."roleName" IS NOT NULL), '{}') AS roles
      FROM "ServiceAccount" sa
      LEFT JOIN "RoleAssignment" r ON r."tenantId" = sa."tenantId" AND r."serviceAccountId" = sa.id
      WHERE sa."tenantId" = ${ctx.tenantId}::uuid AND sa."usernameLower" = lower(${username})
      GROUP BY sa.id`;
    if (existing && roles.every((r) => existing.roles.includes(r))) {
      checkReusable(ctx, { roles: existing.roles.map((roleName) => ({ roleName })), expirationDate: existing.expirationDate }, username);
      const issued = await this.issue(auth, csr, serial, ctx.tenantId, existing.id, existing.username, hours);
      await this.record(ctx.prisma, auth, serial, existing, issued, ctx.principal, ctx.requestId, 'certificate.issued', {
        serviceAccountId: existing.id,
        roles,
        hours,
      });
      return params.format === 'pem' ? pem('CERTIFICATE', issued.der) : issued.der;
    }

    const cert = await ctx.prisma.$transaction(async (tx) => {
      let sa = await tx.serviceAccount.findUnique({
        where: { tenantId_usernameLower: { tenantId: ctx.tenantId, usernameLower: await foldCase(tx, username) } },
        include: { roles: { select: { roleName: true } } },
      });
      if (sa) {
        checkReusable(ctx, sa, username);
        const missing = roles.filter((r) => !sa!.roles.some((h) => h.roleName === r));
        if (missing.length) {
          await tx.roleAssignment.createMany({ data: missing.map((roleName) => ({ tenantId: ctx.tenantId, serviceAccountId: sa!.id, roleName })) });
        }
      } else {
        await assertCertUsernameFree(tx, ctx.tenantId, username);
        sa = await tx.serviceAccount.create({
          data: {
            tenantId: ctx.tenantId,
            name: username,
            username,
            description: 'Client certificate holder',
            roles: { create: roles.map((roleName) => ({ roleName })) },
          },
          include: { roles: { select: { roleName: true } } },
        });
        await audit(
          tx,
          ctx.principal,
          { tenantId: ctx.tenantId, action: 'serviceaccount.created', targetType: 'serviceaccount', targetId: sa.id, details: { roles, via: 'certs.sign' } },
          ctx.requestId,
        );
      }
      const issued = await this.issue(auth, csr, serial, ctx.tenantId, sa.id, sa.username, hours);
      const row = await tx.clientCertificate.create({
        data: {
          tenantId: ctx.tenantId,
          serial,
          serviceAccountId: sa.id,
          issuerId: auth.id,
          subjectCn: sa.username,
          fingerprint: issued.fingerprint,
          notBefore: issued.notBefore,
          notAfter: issued.notAfter,
          der: bytes(issued.der),
        },
      });
      await audit(
        tx,
        ctx.principal,
        {
          tenantId: ctx.tenantId,
          action: 'certificate.issued',
          targetType: 'certificate',
          targetId: serial.toString(),
          details: { serviceAccountId: sa.id, roles, hours },
        },
        ctx.requestId,
      );
      return row;
    }, TX_OPTIONS);
    return params.format === 'pem' ? pem('CERTIFICATE', cert.der) : Buffer.from(cert.der);
  }

  /** RenewCerts: the holder of a valid certificate gets a new one for the same identity and roles. */
  async renew(principal: Principal, requestId: string, body: Buffer, params: { certduration?: string; format: CertFormat }): Promise<Buffer | string> {
    if (principal.credential !== 'cert') throw forbidden('RenewCerts requires authentication with the current client certificate');
    const hours = this.validityHours(params.certduration);
    const csr = parseCsr(body);
    const auth = await this.ca.ready();
    const serial = randomSerial();
    const sa = await this.prisma.serviceAccount.findUnique({ where: { tenantId_id: { tenantId: principal.tenantId, id: principal.subjectId } } });
    if (!sa) throw notFound('Service account');
    const issued = await this.issue(auth, csr, serial, sa.tenantId, sa.id, sa.username, hours);
    await this.record(this.prisma, auth, serial, sa, issued, principal, requestId, 'certificate.renewed', { previous: principal.credentialId, hours });
    return params.format === 'pem' ? pem('CERTIFICATE', issued.der) : issued.der;
  }

  /**
   * Records an issued certificate and its audit event in one statement (atomic without a
   * transaction's extra round trips): issuance is a hot path for fleets of devices.
   */
  private async record(
    prisma: Database['prisma'],
    auth: Authority,
    serial: bigint,
    sa: { id: string; tenantId: string; username: string },
    issued: Awaited<ReturnType<Issuance['issue']>>,
    actor: Principal,
    requestId: string,
    action: string,
    details: Record<string, unknown>,
  ) {
    try {
      await prisma.$executeRaw`
        WITH c AS (
          INSERT INTO "ClientCertificate" ("id", "tenantId", "serial", "serviceAccountId", "issuerId", "subjectCn", "fingerprint", "notBefore", "notAfter", "status", "der", "createdAt", "updatedAt")
          VALUES (${uuidv7()}::uuid, ${sa.tenantId}::uuid, ${serial}, ${sa.id}::uuid, ${auth.id}, ${sa.username}, ${issued.fingerprint},
                  ${issued.notBefore}, ${issued.notAfter}, 'good', ${bytes(issued.der)}, now(), now())
          RETURNING "id"
        )
        INSERT INTO "AuditEvent" ("id", "tenantId", "actorKind", "actorId", "action", "targetType", "targetId", "details", "requestId", "createdAt")
        SELECT ${uuidv7()}::uuid, ${sa.tenantId}::uuid, ${actor.kind}, ${actor.subjectId}, ${action}, 'certificate', ${serial.toString()},
               ${JSON.stringify(details)}::jsonb, ${requestId}, now()
        FROM c`;
    } catch (err) {
      // The account was deleted meanwhile (foreign key), or a serial repeated in the tenant (unique).
      const code = (err as { meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } }).meta?.driverAdapterError?.cause?.originalCode;
      if (code === '23503' || code === '23505') throw conflict('The service account changed concurrently; retry');
      throw err;
    }
  }

  private async checkRoles(ctx: ServiceContext, roles: string[]) {
    for (const role of roles) {
      if (!/^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,99}$/.test(role)) throw badRequest(`"${role}" is not a role name`);
      if (!isBuiltinRole(role)) {
        const custom = await ctx.prisma.customRole.findUnique({
          where: { tenantId_nameLower: { tenantId: ctx.tenantId, nameLower: await foldCase(ctx.prisma, role) } },
        });
        if (!custom) throw badRequest(`Role "${role}" does not exist`);
      }
      assertMayConfer(ctx.principal, ctx.tenantId, [role]);
      if (role === SKYLIGHT_ADMIN) {
        const tenant = await ctx.prisma.tenant.findUnique({ where: { id: ctx.tenantId }, select: { isOperator: true } });
        if (!tenant?.isOperator) throw unprocessable(`${SKYLIGHT_ADMIN} can only be held by accounts of the operator tenant`);
      }
    }
  }
}

/** Reusing an account hands its whole identity to the certificate holder. */
function checkReusable(ctx: ServiceContext, sa: { roles: { roleName: string }[]; expirationDate: Date | null }, username: string) {
  assertMayActOnRoles(
    ctx.principal,
    ctx.tenantId,
    sa.roles.map((r) => r.roleName),
    'serviceaccount',
  );
  if (sa.expirationDate && sa.expirationDate <= new Date()) throw unprocessable(`The service account "${username}" has expired`);
}

/** RFC 9562 UUIDv7, like the ids Prisma generates for the other rows. */
function uuidv7(): string {
  const b = randomBytes(16);
  b.writeUIntBE(Date.now(), 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function checkUsername(username: string) {
  // ub-common-name (RFC 5280): 64 characters.
  if (username.length < 1 || username.length > 64) throw badRequest('requestedUsername must be 1 to 64 characters', undefined);
  // The account it names or creates is a service account: the same username rule as through the API.
  const rule = serviceAccountCreate.shape.username.safeParse(username);
  if (!rule.success) throw badRequest(`requestedUsername ${rule.error.issues[0]!.message}`, undefined);
  if (/[\u0000-\u001f\u007f,+=<>#;"\\]/.test(username)) throw badRequest('requestedUsername contains characters not allowed in a certificate subject');
}
