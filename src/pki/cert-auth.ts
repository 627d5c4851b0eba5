// Client-certificate authentication: a certificate forwarded by a trusted proxy, checked
// against the current CA and its record, mapped to its service account. Serves the
// validate-cert route and the API's certificate authenticator (RenewCerts).
import { X509Certificate, createHash } from 'node:crypto';
import { Cache } from '../platform/cache.js';
import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import { loadSubject } from '../principals/load.js';
import type { Principal, Verification } from '../principals/principal.js';
import { CredentialCache } from '../sessions/credential-cache.js';
import type { CurrentAuthority } from './ca.js';
import { fromPem } from './der.js';

const MAX_CERT_HEADER_BYTES = 16 * 1024;
const CACHE_LIMIT = 10_000;

export class CertAuthenticator {
  /**
   * Successful verifications by header value (PKI_VALIDATE_CACHE_SECONDS), tagged with the
   * certificate and the account's principal tags, so that its revocation or a change to the
   * account evicts them.
   */
  readonly verified = new Cache<Verification>({ max: CACHE_LIMIT });

  constructor(
    private readonly prisma: Prisma,
    private readonly ca: CurrentAuthority,
    private readonly config: Config,
  ) {}

  /**
   * Verifies a certificate forwarded by a trusted proxy (URL-encoded PEM as nginx's
   * $ssl_client_escaped_cert, plain PEM, or base64 DER) and maps it to its service account.
   */
  async verify(headerValue: string): Promise<Verification> {
    const now = Date.now();
    const hit = this.verified.get(headerValue);
    if (hit) return hit;
    const since = this.verified.generation;
    const der = decodeCertHeader(headerValue);
    if (!der) return { ok: false, reason: 'unknown' };
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(der);
    } catch {
      return { ok: false, reason: 'unknown' };
    }
    const auth = await this.ca.ready();
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
      // Its credential tag is the certificate's ("cred:<serial>").
      this.verified.set(
        headerValue,
        result,
        CredentialCache.tagsOf(principal),
        since,
        Math.min(expiresAt, now + this.config.PKI_VALIDATE_CACHE_SECONDS * 1000) - now,
      );
    }
    return result;
  }
}

function decodeCertHeader(value: string): Buffer | undefined {
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
