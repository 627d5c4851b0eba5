import { constants, createHash, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { Cache } from '../platform/cache.js';

/** Asymmetric algorithms a DPoP proof may be signed with (RFC 9449 §4.2: never "none" nor a MAC). */
export const DPOP_ALGS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] as const;
type DpopAlg = (typeof DPOP_ALGS)[number];

/** What each algorithm needs of its key, and how node:crypto checks its signatures. */
const ALGORITHMS: Record<DpopAlg, { kty: string; crv?: string; hash: string | null; options?: object }> = {
  ES256: { kty: 'EC', crv: 'P-256', hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  ES384: { kty: 'EC', crv: 'P-384', hash: 'sha384', options: { dsaEncoding: 'ieee-p1363' } },
  RS256: { kty: 'RSA', hash: 'sha256', options: { padding: constants.RSA_PKCS1_PADDING } },
  PS256: { kty: 'RSA', hash: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', hash: null },
};
const MIN_RSA_BITS = 2048;

/** RFC 7638 §3.2: the members a thumbprint covers, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = { EC: ['crv', 'kty', 'x', 'y'], RSA: ['e', 'kty', 'n'], OKP: ['crv', 'kty', 'x'] };

/** The JWK SHA-256 thumbprint (RFC 7638) a bound token names in cnf.jkt (RFC 9449 §6). */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty as string];
  if (!members) throw new TypeError('unsupported kty');
  const canonical: Record<string, unknown> = {};
  for (const m of members) {
    if (typeof jwk[m] !== 'string') throw new TypeError(`jwk.${m} is required`);
    canonical[m] = jwk[m];
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

export interface ProofHeader {
  alg: DpopAlg;
  key: KeyObject;
  jkt: string;
}

export class ProofError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function decodeJson(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new ProofError('The proof is not a JWT');
  }
  if (!isObject(value)) throw new ProofError('The proof is not a JWT');
  return value;
}

/** The protected header's checks (RFC 9449 §4.3 steps 4 to 7): typ, an allowed alg, a public jwk that fits it. */
function parseHeader(segment: string): ProofHeader {
  const header = decodeJson(segment);
  if (header.typ !== 'dpop+jwt') throw new ProofError('The proof must have typ dpop+jwt');
  const alg = header.alg as DpopAlg;
  if (typeof alg !== 'string' || !Object.hasOwn(ALGORITHMS, alg)) throw new ProofError('The proof is signed with an algorithm not allowed here');
  // No extension is understood, so none may be critical (RFC 7515 §4.1.11).
  if (header.crit !== undefined) throw new ProofError('The proof names critical header parameters');
  const jwk = header.jwk;
  const expected = ALGORITHMS[alg];
  if (!isObject(jwk) || jwk.kty !== expected.kty || (expected.crv && jwk.crv !== expected.crv))
    throw new ProofError('The proof needs a jwk header that fits its algorithm');
  // A private key in the header would be imported as its public half: refuse it instead.
  if ('d' in jwk) throw new ProofError('The proof jwk must be a public key');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    throw new ProofError('The proof jwk is not a valid public key');
  }
  if (expected.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS)
    throw new ProofError(`The proof's RSA key must have at least ${MIN_RSA_BITS} bits`);
  return { alg, key, jkt: jwkThumbprint(jwk) };
}

/**
 * Parses DPoP proofs and checks their signatures with node:crypto, synchronously. A client
 * sends the same header (its key) with every proof, so the header's parsed key and thumbprint
 * are kept by the header's text: only the signature and the claims are new per request.
 */
export class ProofParser {
  private readonly headers = new Cache<ProofHeader>({ max: 1000, needsChannel: false, name: 'dpop_keys' });

  /** The header and claims of a proof whose signature is valid; throws ProofError otherwise. */
  parse(proof: string): { header: ProofHeader; claims: Record<string, unknown> } {
    const parts = proof.split('.');
    if (parts.length !== 3) throw new ProofError('The proof is not a JWT');
    const [headerText, claimsText, signature] = parts as [string, string, string];
    let header = this.headers.get(headerText);
    if (!header) {
      header = parseHeader(headerText);
      this.headers.set(headerText, header, [], this.headers.generation);
    }
    const { hash, options } = ALGORITHMS[header.alg];
    const signed = Buffer.from(`${headerText}.${claimsText}`);
    let valid: boolean;
    try {
      valid = verify(hash, signed, { key: header.key, ...options }, Buffer.from(signature, 'base64url'));
    } catch {
      valid = false;
    }
    if (!valid) throw new ProofError('The proof is not signed by the key in its jwk header');
    const claims = decodeJson(claimsText);
    return { header, claims };
  }
}
