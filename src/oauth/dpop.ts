import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWTPayload } from 'jose';
import type pg from 'pg';

/** Asymmetric algorithms a DPoP proof may be signed with (RFC 9449 §4.2: never "none" nor a MAC). */
export const DPOP_ALGS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] as const;
/** How far a proof's iat may be from now, without a server nonce; also how long its jti is remembered. */
const IAT_WINDOW_SECONDS = 120;
const NONCE_STEP_SECONDS = 60;
const MAX_PROOF_LENGTH = 8192;

export interface DpopRequest {
  /** The HTTP method and URL the proof must name (htm, htu); the URL's query and fragment are ignored. */
  method: string;
  url: string;
  /** The access token presented with the proof: its hash must be the proof's ath (RFC 9449 §4.3). */
  accessToken?: string;
}

export type DpopCheck =
  | { ok: true; jkt: string }
  /** error is invalid_dpop_proof, or use_dpop_nonce with the nonce to send back (DPoP-Nonce). */
  | { ok: false; error: 'invalid_dpop_proof' | 'use_dpop_nonce'; description: string; nonce?: string };

/** The JWK SHA-256 thumbprint a bound token names in cnf.jkt (RFC 9449 §6). */
export const accessTokenHash = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * Verifies DPoP proofs (RFC 9449 §4.3) and issues the server nonces they may carry (§8).
 * Nonces are derived from a secret and the minute, so every instance with the same master
 * key knows them without sharing state; the proofs' jtis are recorded in the database until
 * they could no longer be accepted, so a replay is refused on every instance.
 */
export class DpopVerifier {
  private readonly nonceKey: Buffer;

  constructor(
    private readonly pool: Pick<pg.Pool, 'query'>,
    masterKey: Buffer,
  ) {
    this.nonceKey = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'dpop-nonce', 32));
  }

  private nonceAt(step: number): string {
    const info = Buffer.alloc(8);
    info.writeBigInt64BE(BigInt(step));
    return Buffer.from(hkdfSync('sha256', this.nonceKey, info, 'step', 32)).toString('base64url');
  }

  /** The nonce a client should use now. */
  nonce(now = Date.now()): string {
    return this.nonceAt(Math.floor(now / 1000 / NONCE_STEP_SECONDS) + 1);
  }

  private nonceIsCurrent(nonce: string, now: number): boolean {
    const step = Math.floor(now / 1000 / NONCE_STEP_SECONDS);
    const given = Buffer.from(nonce);
    let match = false;
    for (let s = step - 2; s <= step + 1; s++) {
      const expected = Buffer.from(this.nonceAt(s));
      if (expected.length === given.length && timingSafeEqual(expected, given)) match = true;
    }
    return match;
  }

  async verify(proof: string | string[] | undefined, req: DpopRequest, now = Date.now()): Promise<DpopCheck> {
    const invalid = (description: string): DpopCheck => ({ ok: false, error: 'invalid_dpop_proof', description });
    if (proof === undefined) return invalid('A DPoP proof is required');
    if (Array.isArray(proof) || !proof || proof.length > MAX_PROOF_LENGTH) return invalid('Exactly one DPoP header is allowed');
    let payload: JWTPayload;
    let jkt: string;
    try {
      const header = decodeProtectedHeader(proof);
      if (header.typ !== 'dpop+jwt') return invalid('The proof must have typ dpop+jwt');
      // EmbeddedJWK refuses a private or symmetric jwk; the algorithm list refuses "none" and MACs.
      const verified = await jwtVerify(proof, EmbeddedJWK, { algorithms: [...DPOP_ALGS], typ: 'dpop+jwt' });
      payload = verified.payload;
      jkt = await calculateJwkThumbprint(verified.protectedHeader.jwk!, 'sha256');
    } catch {
      return invalid('The DPoP proof is not a valid JWT signed by the key in its jwk header');
    }
    const { jti, htm, htu, iat, ath, nonce } = payload as Record<string, unknown>;
    if (typeof jti !== 'string' || !jti || jti.length > 255) return invalid('The proof needs a jti of 1 to 255 characters');
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return invalid('The proof needs an iat');
    if (htm !== req.method) return invalid('The proof is for another HTTP method (htm)');
    if (typeof htu !== 'string' || !sameTarget(htu, req.url)) return invalid('The proof is for another URL (htu)');
    if (req.accessToken !== undefined && ath !== accessTokenHash(req.accessToken))
      return invalid('The proof does not carry the hash of this access token (ath)');
    if (nonce !== undefined) {
      if (typeof nonce !== 'string' || !this.nonceIsCurrent(nonce, now)) {
        return { ok: false, error: 'use_dpop_nonce', description: 'The DPoP nonce is not current', nonce: this.nonce(now) };
      }
    } else if (Math.abs(now / 1000 - iat) > IAT_WINDOW_SECONDS) {
      return { ok: false, error: 'use_dpop_nonce', description: 'The proof is not recent (iat); use the server nonce', nonce: this.nonce(now) };
    }
    // Long enough to outlive every moment the proof could be accepted at (iat window, or the nonce's).
    const keepUntil = new Date(now + (IAT_WINDOW_SECONDS + 4 * NONCE_STEP_SECONDS) * 1000);
    const { rowCount } = await this.pool.query(`INSERT INTO "UsedDpopProof" (jkt, jti, "expiresAt") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
      jkt,
      jti,
      keepUntil,
    ]);
    if (rowCount === 0) return invalid('The DPoP proof was already used (jti)');
    return { ok: true, jkt };
  }
}

/** htu against the request's URL, both without query and fragment (RFC 9449 §4.3), normalised. */
function sameTarget(htu: string, url: string): boolean {
  const a = URL.parse(htu);
  const b = URL.parse(url);
  if (!a || !b) return false;
  a.search = a.hash = b.search = b.hash = '';
  return a.href === b.href;
}
