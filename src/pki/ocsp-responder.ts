// The OCSP responder (RFC 6960): answers status requests for the current CA's
// certificates, signed by its delegated OCSP signer. Statuses and whole answers are cached
// under their certificate's tag ("cred:<serial>"), which its status change notifies.
import { Cache } from '../platform/cache.js';
import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import type { Authority, ReasonName } from './authority.js';
import type { CurrentAuthority } from './ca.js';
import { MAX_SERIAL } from './certificates.js';
import { buildResponse, errorResponse, OCSP_ERROR, parseOcspRequest, type SingleResult, type SingleStatus } from './ocsp.js';
import { ocspResponsesTotal } from '../platform/metrics.js';

const CACHE_LIMIT = 10_000;

/** Counts a response by the status it gives (or its error) on its way out. */
function counted<T>(status: string, response: T): T {
  ocspResponsesTotal.inc({ status });
  return response;
}

export class OcspResponder {
  /** Signed answers by the request's bytes. */
  readonly answers = new Cache<Buffer>({ max: CACHE_LIMIT, name: 'ocsp-answers' });
  /** Certificate statuses by serial. */
  readonly statuses = new Cache<SingleStatus>({ max: CACHE_LIMIT, name: 'ocsp-statuses' });

  constructor(
    private readonly prisma: Prisma,
    private readonly ca: CurrentAuthority,
    private readonly config: Config,
    private readonly log: { warn(obj: object, msg: string): void },
  ) {}

  /** Always returns an OCSP response (DER); errors become OCSP error statuses. */
  async respond(requestDer: Buffer): Promise<{ der: Buffer; maxAge: number }> {
    const now = Date.now();
    const since = this.answers.generation;
    const validityMs = this.config.PKI_OCSP_VALIDITY_SECONDS * 1000;
    const maxAge = Math.floor(validityMs / 2000);
    // Relying parties repeat byte-identical requests (no nonce): answered before parsing.
    const rawKey = requestDer.length <= 512 ? requestDer.toString('base64') : '';
    if (rawKey) {
      const hit = this.answers.get(rawKey);
      if (hit) return counted('cached', { der: hit, maxAge });
    }
    const req = parseOcspRequest(requestDer);
    if (!req) return counted('malformed', { der: errorResponse(OCSP_ERROR.malformedRequest), maxAge: 0 });
    let auth: Authority;
    try {
      auth = await this.ca.ready();
    } catch {
      return counted('try_later', { der: errorResponse(OCSP_ERROR.tryLater), maxAge: 0 });
    }
    const cacheable = !!rawKey && req.certIds.length === 1 && !req.nonceExt;
    let results: SingleResult[];
    try {
      results = await Promise.all(
        req.certIds.map(async (id) => ({
          certId: id.der,
          status: await this.statusOf(auth, id.hash, id.nameHash, id.keyHash, id.serial),
          thisUpdate: new Date(now),
          nextUpdate: new Date(now + validityMs),
        })),
      );
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'pki: OCSP status lookup failed');
      return counted('try_later', { der: errorResponse(OCSP_ERROR.tryLater), maxAge: 0 });
    }
    const der = buildResponse(auth, results, new Date(now), req.nonceExt);
    for (const r of results) ocspResponsesTotal.inc({ status: r.status.kind });
    if (cacheable && results[0]!.status.kind !== 'unknown') {
      // Re-signed when half the validity has passed, so relying parties always get a fresh window.
      this.answers.set(rawKey, der, [`cred:${req.certIds[0]!.serial}`], since, validityMs / 2);
    }
    return { der, maxAge: cacheable ? maxAge : 0 };
  }

  private async statusOf(auth: Authority, hash: keyof Authority['nameHash'], nameHash: Buffer, keyHash: Buffer, serial: bigint): Promise<SingleStatus> {
    // RFC 6960 §2.2: "unknown" covers certificates of issuers this responder does not serve.
    if (!auth.nameHash[hash].equals(nameHash) || !auth.keyHash[hash].equals(keyHash)) return { kind: 'unknown' };
    if (serial <= 0n || serial > MAX_SERIAL) return { kind: 'unknown' };
    const key = serial.toString();
    const hit = this.statuses.get(key);
    if (hit) return hit;
    const since = this.statuses.generation;
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
    if (row) this.statuses.set(key, status, [`cred:${key}`], since, this.config.PKI_OCSP_VALIDITY_SECONDS * 500);
    return status;
  }
}
