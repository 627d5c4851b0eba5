import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { ProofError, ProofParser } from './dpop-proof.js';
import { UsedProofs } from './dpop-replay.js';

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

/** The hash of an access token that a proof presented with it carries in ath (RFC 9449 §4.2). */
export const accessTokenHash = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * Verifies DPoP proofs (RFC 9449 §4.3) and issues the server nonces they may carry (§8).
 * Nonces are derived from a secret and the minute, so every instance with the same master
 * key knows them without sharing state; the proofs' jtis are recorded in the database until
 * they could no longer be accepted, so a replay is refused on every instance.
 */
export class DpopVerifier {
  private readonly nonceKey: Buffer;
  private readonly proofs = new ProofParser();
  private readonly used: UsedProofs;

  constructor(pool: Pick<pg.Pool, 'query'>, masterKey: Buffer) {
    this.used = new UsedProofs(pool);
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
    let claims: Record<string, unknown>;
    let jkt: string;
    try {
      const parsed = this.proofs.parse(proof);
      claims = parsed.claims;
      jkt = parsed.header.jkt;
    } catch (error) {
      if (error instanceof ProofError) return invalid(error.message);
      throw error;
    }
    const { jti, htm, htu, iat, ath, nonce, exp, nbf } = claims;
    if (typeof jti !== 'string' || !jti || jti.length > 255) return invalid('The proof needs a jti of 1 to 255 characters');
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return invalid('The proof needs an iat');
    // Not required of a proof, but a proof that says it has expired, or is not valid yet, is not accepted.
    if (exp !== undefined && (typeof exp !== 'number' || exp <= now / 1000)) return invalid('The proof has expired (exp)');
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now / 1000)) return invalid('The proof is not valid yet (nbf)');
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
    if (!(await this.used.record(jkt, jti, keepUntil))) return invalid('The DPoP proof was already used (jti)');
    return { ok: true, jkt };
  }
}

/** htu against the request's URL, both without query and fragment (RFC 9449 §4.3), normalised. */
function sameTarget(htu: string, url: string): boolean {
  // The usual case, the proof naming the URL exactly as this server spells it, needs one parse.
  if (htu === url) return URL.canParse(url);
  const a = URL.parse(htu);
  const b = URL.parse(url);
  if (!a || !b) return false;
  a.search = a.hash = b.search = b.hash = '';
  return a.href === b.href;
}
