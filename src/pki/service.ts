// The certificate service: SignCSR, RenewCerts, list/get/revoke, OCSP answers, the
// CRL, and client-certificate verification for validate-cert and the authenticator.
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { audit } from '../audit/audit.js';
import type { ClientCertificate } from '../generated/prisma/client.js';
import type { Config } from '../platform/config.js';
import type { Database } from '../platform/db.js';
import { TX_OPTIONS } from './tx.js';
import { assertCertUsernameFree } from './username.js';
import { badRequest, conflict, forbidden, notFound, unprocessable } from '../platform/errors.js';
import type { ServiceContext } from '../principals/context.js';
import { loadSubject } from '../principals/load.js';
import { assertMayActOn, assertMayActOnRoles, assertMayConfer } from '../principals/policy.js';
import { isBuiltinRole, SKYLIGHT_ADMIN, TENANT_CONTRIBUTOR, type Principal, type Verification } from '../principals/principal.js';
import { buildCrl, bytes, loadAuthority, randomSerial, REASONS, type Authority, type ReasonName } from './authority.js';
import { parseCsr, type ParsedCsr } from './csr.js';
import { OID, fromPem, pem } from './der.js';
import { CHANNEL, startInvalidation, type Invalidation } from './invalidation.js';
import { buildResponse, errorResponse, OCSP_ERROR, parseOcspRequest, type SingleResult, type SingleStatus } from './ocsp.js';
import {
  aki, authorityInfoAccess, basicConstraints, crlDistributionPoint, signedAsync, tbsCertificate, extKeyUsage, keyUsage, name, ski, subjectAltUri,
} from './x509.js';

export const MAX_CERT_HEADER_BYTES = 16 * 1024;
const CACHE_LIMIT = 10_000;
const MAX_SERIAL = (1n << 63n) - 1n;
const OCSP_RELOAD_BEFORE_MS = 29 * 86400_000;

export type CertFormat = 'der' | 'pem';
export interface SignParams {
  certduration?: string;
  format: CertFormat;
  requestedUsername?: string;
  assignedRoles?: string[];
}

export interface CertStatusView {
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
export function parseSerial(value: string): bigint | undefined {
  if (!/^[0-9]{1,19}$/.test(value)) return undefined;
  const n = BigInt(value);
  return n > 0n && n <= MAX_SERIAL ? n : undefined;
}

interface Cached<T> {
  value: T;
  serial: string;
  expiresAt: number;
}

export class PkiService {
  private authority?: Promise<Authority>;
  private reloadAt?: number;
  private ocspCache = new Map<string, Cached<Buffer>>();
  private certCache = new Map<string, Cached<Verification>>();
  private statusCache = new Map<string, Cached<SingleStatus>>();
  private crl?: { der: Buffer; refreshAt: number };
  private readonly invalidation: Invalidation;

  constructor(
    private readonly db: Database,
    private readonly masterKey: Buffer,
    private readonly config: Config,
    private readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void },
  ) {
    this.invalidation = startInvalidation(db, log);
    this.invalidation.onChange((serial) => this.forget(serial));
  }

  private get prisma() {
    return this.db.prisma;
  }

  /** The CA, created or loaded on first use (so every app, test apps included, gets one). */
  ready(): Promise<Authority> {
    // A long-running process reloads when its OCSP signer nears expiry; loading renews it.
    if (this.authority && this.reloadAt !== undefined && Date.now() >= this.reloadAt) {
      this.authority = undefined;
      this.reloadAt = undefined;
    }
    if (!this.authority) {
      this.authority = loadAuthority(this.prisma, this.masterKey, this.config);
      this.authority.then(
        (a) => {
          const due = a.ocsp.cert.notAfter.getTime() - OCSP_RELOAD_BEFORE_MS;
          // Loading renews the signer only while the CA itself has 30 days left.
          this.reloadAt = a.cert.notAfter.getTime() - 30 * 86400_000 > due ? due : Infinity;
        },
        () => (this.authority = undefined),
      );
    }
    return this.authority;
  }

  async close() {
    await this.invalidation.close();
  }

  /**
   * For other services (service-account deletion, role changes): drop every cached
   * certificate verdict here; other instances learn it from `pg_notify('pki_cert_status', '*')`.
   */
  invalidateAll() {
    this.forget('*');
  }

  /** Whether caches are in use: status changes anywhere are known to reach this instance. */
  get cachesLive(): boolean {
    return this.invalidation.live;
  }

  private forget(serial: string) {
    for (const cache of [this.ocspCache, this.certCache, this.statusCache] as Map<string, Cached<unknown>>[]) {
      if (serial === '*') cache.clear();
      else for (const [k, v] of cache) if (v.serial === serial) cache.delete(k);
    }
    this.crl = undefined;
  }

  private remember<T>(cache: Map<string, Cached<T>>, key: string, entry: Cached<T>) {
    if (!this.invalidation.live) return;
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, entry);
  }

  private recall<T>(cache: Map<string, Cached<T>>, key: string, now: number): T | undefined {
    if (!this.invalidation.live) return undefined;
    const hit = cache.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt <= now) {
      cache.delete(key);
      return undefined;
    }
    return hit.value;
  }

  async caPem(): Promise<string> {
    return pem('CERTIFICATE', (await this.ready()).cert.der);
  }

  // ---- issuance -------------------------------------------------------------

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
    const auth = await this.ready();
    // 63 random bits: a repeat is ~2^-63 per pair; within a tenant the unique index refuses it (409).
    const serial = randomSerial();

    // Common case, an existing account that already holds the roles: one atomic statement.
    // One SQL round trip (account and its roles) rather than the ORM's two queries.
    const [existing] = await ctx.prisma.$queryRaw<{ id: string; tenantId: string; username: string; expirationDate: Date | null; roles: string[] }[]>`
      SELECT sa.id::text AS id, sa."tenantId"::text AS "tenantId", sa.username, sa."expirationDate",
             coalesce(array_agg(r."roleName") FILTER (WHERE r."roleName" IS NOT NULL), '{}') AS roles
      FROM "ServiceAccount" sa
      LEFT JOIN "RoleAssignment" r ON r."tenantId" = sa."tenantId" AND r."serviceAccountId" = sa.id
      WHERE sa."tenantId" = ${ctx.tenantId}::uuid AND sa."usernameLower" = ${username.toLowerCase()}
      GROUP BY sa.id`;
    if (existing && roles.every((r) => existing.roles.includes(r))) {
      checkReusable(ctx, { roles: existing.roles.map((roleName) => ({ roleName })), expirationDate: existing.expirationDate }, username);
      const issued = await this.issue(auth, csr, serial, ctx.tenantId, existing.id, existing.username, hours);
      await this.record(ctx.prisma, auth, serial, existing, issued, ctx.principal, ctx.requestId, 'certificate.issued', { serviceAccountId: existing.id, roles, hours });
      return params.format === 'pem' ? pem('CERTIFICATE', issued.der) : issued.der;
    }

    const cert = await ctx.prisma.$transaction(async (tx) => {
      let sa = await tx.serviceAccount.findUnique({
        where: { tenantId_usernameLower: { tenantId: ctx.tenantId, usernameLower: username.toLowerCase() } },
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
            usernameLower: username.toLowerCase(),
            description: 'Client certificate holder',
            roles: { create: roles.map((roleName) => ({ roleName })) },
          },
          include: { roles: { select: { roleName: true } } },
        });
        await audit(tx, ctx.principal, { tenantId: ctx.tenantId, action: 'serviceaccount.created', targetType: 'serviceaccount', targetId: sa.id, details: { roles, via: 'certs.sign' } }, ctx.requestId);
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
        { tenantId: ctx.tenantId, action: 'certificate.issued', targetType: 'certificate', targetId: serial.toString(), details: { serviceAccountId: sa.id, roles, hours } },
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
    const auth = await this.ready();
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
    issued: Awaited<ReturnType<PkiService['issue']>>,
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
        const custom = await ctx.prisma.customRole.findUnique({ where: { tenantId_nameLower: { tenantId: ctx.tenantId, nameLower: role.toLowerCase() } } });
        if (!custom) throw badRequest(`Role "${role}" does not exist`);
      }
      assertMayConfer(ctx.principal, ctx.tenantId, [role]);
      if (role === SKYLIGHT_ADMIN) {
        const tenant = await ctx.prisma.tenant.findUnique({ where: { id: ctx.tenantId }, select: { isOperator: true } });
        if (!tenant?.isOperator) throw unprocessable(`${SKYLIGHT_ADMIN} can only be held by accounts of the operator tenant`);
      }
    }
  }

  // ---- list, get, revoke ----------------------------------------------------

  async list(ctx: ServiceContext, skip: number, take: number) {
    const where = { tenantId: ctx.tenantId };
    const [total, rows] = await Promise.all([
      ctx.prisma.clientCertificate.count({ where }),
      ctx.prisma.clientCertificate.findMany({ where, skip, take, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }] }),
    ]);
    return { total, rows };
  }

  async get(ctx: ServiceContext, serialNum: string): Promise<ClientCertificate> {
    const serial = parseSerial(serialNum);
    const row = serial && (await ctx.prisma.clientCertificate.findUnique({ where: { tenantId_serial: { tenantId: ctx.tenantId, serial } } }));
    if (!row) throw notFound('Certificate');
    return row;
  }

  async revoke(ctx: ServiceContext, serialNum: string, reason: ReasonName): Promise<ClientCertificate> {
    const current = await this.get(ctx, serialNum);
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
    const row = await ctx.prisma.$transaction(async (tx) => {
      // The status guard makes concurrent revocations of one certificate serialise on the row.
      const { count } = await tx.clientCertificate.updateMany({
        where: { tenantId: ctx.tenantId, id: current.id, status: current.status, revocationReason: current.revocationReason },
        data,
      });
      if (count !== 1) throw conflict('The certificate changed concurrently; retry');
      await tx.$executeRaw`SELECT pg_notify(${CHANNEL}, ${current.serial.toString()})`;
      await audit(tx, ctx.principal, { tenantId: ctx.tenantId, action: 'certificate.revoked', targetType: 'certificate', targetId: current.serial.toString(), details: { reason } }, ctx.requestId);
      return tx.clientCertificate.findUniqueOrThrow({ where: { id: current.id } });
    }, TX_OPTIONS);
    this.forget(current.serial.toString());
    // Regenerated now so the next fetch is served at once; a failure only defers it to that fetch.
    void this.crlDer().catch((err) => this.log.error({ err }, 'pki: CRL regeneration failed'));
    return row;
  }

  // ---- CRL --------------------------------------------------------------------

  async crlDer(): Promise<Buffer> {
    const now = Date.now();
    if (this.crl && this.crl.refreshAt > now && this.invalidation.live) return this.crl.der;
    const auth = await this.ready();
    const validity = this.config.PKI_CRL_VALIDITY_HOURS * 3600_000;
    const numbered = await this.prisma.$queryRaw<{ crlNumber: bigint }[]>`
      UPDATE "PkiAuthority" SET "crlNumber" = "crlNumber" + 1, "updatedAt" = now() WHERE id = ${auth.id} RETURNING "crlNumber"`;
    const crlNumber = BigInt(numbered[0]!.crlNumber);
    const revoked = await this.prisma.clientCertificate.findMany({
      where: { issuerId: auth.id, status: 'revoked', notAfter: { gt: new Date(now) } },
      select: { serial: true, revokedAt: true, revocationReason: true },
      orderBy: { revokedAt: 'asc' },
    });
    const der = buildCrl(
      auth,
      revoked.map((r) => ({ serial: r.serial, revokedAt: r.revokedAt!, reason: (r.revocationReason ?? 'Unspecified') as ReasonName })),
      crlNumber,
      new Date(now),
      new Date(now + validity),
    );
    this.crl = { der, refreshAt: now + validity / 2 };
    return der;
  }

  // ---- OCSP -------------------------------------------------------------------

  /** Always returns an OCSP response (DER); errors become OCSP error statuses. */
  async ocsp(requestDer: Buffer): Promise<{ der: Buffer; maxAge: number }> {
    const now = Date.now();
    const validityMs = this.config.PKI_OCSP_VALIDITY_SECONDS * 1000;
    const maxAge = Math.floor(validityMs / 2000);
    // Relying parties repeat byte-identical requests (no nonce): answered before parsing.
    const rawKey = requestDer.length <= 512 ? requestDer.toString('base64') : '';
    if (rawKey) {
      const hit = this.recall(this.ocspCache, rawKey, now);
      if (hit) return { der: hit, maxAge };
    }
    const req = parseOcspRequest(requestDer);
    if (!req) return { der: errorResponse(OCSP_ERROR.malformedRequest), maxAge: 0 };
    let auth: Authority;
    try {
      auth = await this.ready();
    } catch {
      return { der: errorResponse(OCSP_ERROR.tryLater), maxAge: 0 };
    }
    const cacheable = !!rawKey && req.certIds.length === 1 && !req.nonceExt;
    let results: SingleResult[];
    try {
      results = await Promise.all(
        req.certIds.map(async (id) => ({
          certId: id.der,
          status: await this.statusOf(auth, id.hash, id.nameHash, id.keyHash, id.serial, now),
          thisUpdate: new Date(now),
          nextUpdate: new Date(now + validityMs),
        })),
      );
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'pki: OCSP status lookup failed');
      return { der: errorResponse(OCSP_ERROR.tryLater), maxAge: 0 };
    }
    const der = buildResponse(auth, results, new Date(now), req.nonceExt);
    if (cacheable && results[0]!.status.kind !== 'unknown') {
      // Re-signed when half the validity has passed, so relying parties always get a fresh window.
      this.remember(this.ocspCache, rawKey, { value: der, serial: req.certIds[0]!.serial.toString(), expiresAt: now + validityMs / 2 });
    }
    return { der, maxAge: cacheable ? maxAge : 0 };
  }

  private async statusOf(auth: Authority, hash: keyof Authority['nameHash'], nameHash: Buffer, keyHash: Buffer, serial: bigint, now: number): Promise<SingleStatus> {
    // RFC 6960 §2.2: "unknown" covers certificates of issuers this responder does not serve.
    if (!auth.nameHash[hash].equals(nameHash) || !auth.keyHash[hash].equals(keyHash)) return { kind: 'unknown' };
    if (serial <= 0n || serial > MAX_SERIAL) return { kind: 'unknown' };
    const key = serial.toString();
    const hit = this.recall(this.statusCache, key, now);
    if (hit) return hit;
    const row = await this.prisma.clientCertificate.findFirst({
      where: { serial, issuerId: auth.id },
      select: { status: true, revokedAt: true, revocationReason: true },
    });
    const status: SingleStatus = !row
      ? { kind: 'unknown' }
      : row.status === 'revoked'
        ? { kind: 'revoked', at: row.revokedAt!, reason: (row.revocationReason ?? 'Unspecified') as ReasonName }
        : { kind: 'good' };
    // Unknown serials are not remembered: a certificate issued a moment later must not read as unknown.
    if (row) this.remember(this.statusCache, key, { value: status, serial: key, expiresAt: now + this.config.PKI_OCSP_VALIDITY_SECONDS * 500 });
    return status;
  }

  // ---- client-certificate authentication --------------------------------------

  /**
   * Verifies a certificate forwarded by a trusted proxy (URL-encoded PEM as nginx's
   * $ssl_client_escaped_cert, plain PEM, or base64 DER) and maps it to its service account.
   */
  async verifyClientCert(headerValue: string): Promise<Verification> {
    const now = Date.now();
    const hit = this.recall(this.certCache, headerValue, now);
    if (hit) return hit;
    const der = decodeCertHeader(headerValue);
    if (!der) return { ok: false, reason: 'unknown' };
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(der);
    } catch {
      return { ok: false, reason: 'unknown' };
    }
    const auth = await this.ready();
    let chained = false;
    try {
      chained = x509.checkIssued(auth.cert.x509) && x509.verify(auth.cert.x509.publicKey);
    } catch {
      chained = false;
    }
    if (!chained) return { ok: false, reason: 'unknown' };
    const serial = BigInt('0x' + x509.serialNumber);
    const row = await this.prisma.clientCertificate.findFirst({ where: { serial, issuerId: auth.id } });
    if (!row || row.fingerprint !== createHash('sha256').update(x509.raw).digest('hex')) return { ok: false, reason: 'unknown' };
    if (row.status === 'revoked') return { ok: false, reason: 'revoked' };
    if (row.notBefore.getTime() > now || row.notAfter.getTime() <= now) return { ok: false, reason: 'expired' };
    const v = await loadSubject(this.prisma, row.tenantId, row.serviceAccountId, 'cert', row.serial.toString(), new Date(now));
    if (!v.ok) return v;
    const sa = v.principal.expiresAt?.getTime() ?? Infinity;
    const expiresAt = Math.min(row.notAfter.getTime(), sa);
    const principal: Principal = { ...v.principal, expiresAt: new Date(expiresAt) };
    const result: Verification = { ok: true, principal };
    if (this.config.PKI_VALIDATE_CACHE_SECONDS > 0) {
      this.remember(this.certCache, headerValue, {
        value: result,
        serial: row.serial.toString(),
        expiresAt: Math.min(expiresAt, now + this.config.PKI_VALIDATE_CACHE_SECONDS * 1000),
      });
    }
    return result;
  }
}

export function decodeCertHeader(value: string): Buffer | undefined {
  if (!value || value.length > MAX_CERT_HEADER_BYTES) return undefined;
  let text = value;
  if (text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return undefined;
    }
  }
  if (text.includes('-----BEGIN')) return fromPem(text, ['CERTIFICATE']);
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/=_-]+$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** Reusing an account hands its whole identity to the certificate holder. */
function checkReusable(ctx: ServiceContext, sa: { roles: { roleName: string }[]; expirationDate: Date | null }, username: string) {
  assertMayActOnRoles(ctx.principal, ctx.tenantId, sa.roles.map((r) => r.roleName), 'serviceaccount');
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
  if (/[\u0000-\u001f\u007f,+=<>#;"\\]/.test(username)) throw badRequest('requestedUsername contains characters not allowed in a certificate subject');
}

export { REASONS };
