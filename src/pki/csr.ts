// PKCS#10 certification requests (RFC 2986): parsed strictly, signature checked
// over the bytes as received (proof of possession), key strength enforced.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { badRequest } from '../platform/errors.js';
import { OID, Types, children, fromPem, integerValue, isSeq, isSet, isUniversal, oidOf, parse, sliceChild } from './der.js';

export const MAX_CSR_BYTES = 16 * 1024;

export interface ParsedCsr {
  spki: Buffer;
  publicKey: KeyObject;
  keyType: 'rsa' | 'ec' | 'ed25519';
}

const SIGNATURES: Record<string, { hash: string | null; key: string }> = {
  [OID.sha256WithRSA]: { hash: 'sha256', key: 'rsa' },
  [OID.sha384WithRSA]: { hash: 'sha384', key: 'rsa' },
  [OID.sha512WithRSA]: { hash: 'sha512', key: 'rsa' },
  [OID.ecdsaSha256]: { hash: 'sha256', key: 'ec' },
  [OID.ecdsaSha384]: { hash: 'sha384', key: 'ec' },
  [OID.ecdsaSha512]: { hash: 'sha512', key: 'ec' },
  [OID.ed25519]: { hash: null, key: 'ed25519' },
};

const CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);
const STRING_TYPES = new Set([Types.UTF8, Types.PRINTABLESTRING, Types.IA5STRING, Types.BMPSTRING, 20 /* TeletexString */]);

const bad = (detail: string) => badRequest(`Invalid certificate signing request: ${detail}`);

/** Accepts PEM (CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST) or DER. */
export function csrBytes(body: Buffer): Buffer {
  if (body.length === 0) throw bad('the body is empty');
  if (body.length > MAX_CSR_BYTES) throw bad(`larger than ${MAX_CSR_BYTES} bytes`);
  const head = body.subarray(0, 64).toString('latin1');
  if (head.includes('-----BEGIN')) {
    const der = fromPem(body.toString('latin1'), ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
    if (!der || der.length === 0) throw bad('no CERTIFICATE REQUEST PEM block');
    return der;
  }
  return body;
}

export function parseCsr(body: Buffer): ParsedCsr {
  const der = csrBytes(body);
  let root;
  try {
    root = parse(der);
  } catch {
    throw bad('not a DER-encoded PKCS#10 request');
  }
  const parts = isSeq(root) ? children(root) : [];
  if (parts.length !== 3 || !isSeq(parts[0]) || !isSeq(parts[1]) || !isUniversal(parts[2], Types.BITSTRING)) throw bad('not a PKCS#10 request');
  const info = children(parts[0]!);
  if (info.length !== 4 || !isUniversal(info[0], Types.INTEGER) || integerValue(info[0]!) !== 0n) throw bad('unsupported version');
  checkSubject(info[1]!);

  let spki: Buffer;
  let publicKey: KeyObject;
  try {
    spki = sliceChild(sliceChild(der, 0), 2);
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    throw bad('unreadable public key');
  }
  const keyType = checkKey(publicKey);

  const algId = children(parts[1]!);
  const algorithm = algId[0] && isUniversal(algId[0], Types.OID) ? oidOf(algId[0]) : '';
  const sigAlg = SIGNATURES[algorithm];
  if (!sigAlg) throw bad(`unsupported or weak signature algorithm ${algorithm || '(none)'}`);
  if (sigAlg.key !== keyType) throw bad('the signature algorithm does not match the key');
  const sigBits = Buffer.from(parts[2]!.value as string, 'latin1');
  if (sigBits.length < 2 || sigBits[0] !== 0) throw bad('malformed signature');
  let ok = false;
  try {
    ok = verify(sigAlg.hash, sliceChild(der, 0), keyType === 'ec' ? { key: publicKey, dsaEncoding: 'der' } : publicKey, sigBits.subarray(1));
  } catch {
    ok = false;
  }
  if (!ok) throw bad('its signature does not verify with its own public key');
  return { spki, publicKey, keyType };
}

function checkKey(key: KeyObject): ParsedCsr['keyType'] {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bitsLen = d.modulusLength ?? 0;
      if (bitsLen < 2048) throw bad(`RSA key of ${bitsLen} bits; at least 2048 are required`);
      if (bitsLen > 8192) throw bad(`RSA key of ${bitsLen} bits; at most 8192 are accepted`);
      const e = d.publicExponent ?? 0n;
      if (e < 3n || e % 2n === 0n) throw bad('RSA public exponent is not acceptable');
      return 'rsa';
    }
    case 'ec':
      if (!d.namedCurve || !CURVES.has(d.namedCurve)) throw bad(`elliptic curve ${d.namedCurve ?? 'unknown'} is not accepted (P-256, P-384, P-521)`);
      return 'ec';
    case 'ed25519':
      return 'ed25519';
    default:
      throw bad(`key type ${key.asymmetricKeyType ?? 'unknown'} is not accepted`);
  }
}

/**
 * The subject is replaced by the CA (CN = the service account's username), but a
 * request whose subject is malformed or carries control characters is refused.
 */
function checkSubject(subject: ReturnType<typeof parse>) {
  if (!isSeq(subject)) throw bad('malformed subject');
  const rdns = children(subject);
  if (rdns.length > 16) throw bad('subject has too many attributes');
  for (const rdn of rdns) {
    if (!isSet(rdn) || children(rdn).length === 0 || children(rdn).length > 4) throw bad('malformed subject');
    for (const atv of children(rdn)) {
      const pair = isSeq(atv) ? children(atv) : [];
      if (pair.length !== 2 || !isUniversal(pair[0], Types.OID) || !pair[1] || pair[1].tagClass !== 0 || !STRING_TYPES.has(pair[1].type)) {
        throw bad('malformed subject attribute');
      }
      const value = pair[1].value as string;
      if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw bad('subject attribute of bad length');
      // Control characters (NUL included) in a DN are an injection vector for log lines and DN matching.
      const bytes = Buffer.from(value, 'latin1');
      if (pair[1].type === Types.BMPSTRING && bytes.length % 2) throw bad('malformed BMPString in subject');
      const text = pair[1].type === Types.BMPSTRING ? Buffer.from(bytes).swap16().toString('utf16le') : bytes.toString('utf8');
      if (/[\u0000-\u001f\u007f]/.test(text)) throw bad('subject contains control characters');
    }
  }
}
