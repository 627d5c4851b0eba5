// ASN.1 building and parsing on node-forge's asn1 module. forge works on binary
// strings; these helpers convert at the edges so the rest of pki/ sees Buffers.
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

// forge is 1 MB of JavaScript, 10 MB resident, that only certificate work needs: it loads on
// first use, so a server that issues no certificate never holds it.
const load = createRequire(import.meta.url);
let loaded: typeof Forge | undefined;
const forge = () => (loaded ??= load('node-forge') as typeof Forge);
const asn1 = () => forge().asn1;
export type Asn1 = Forge.asn1.Asn1;
// ASN.1's classes and universal tags (X.680), the numbers forge's asn1.Class and asn1.Type hold.
const U = 0x00;
const CTX = 0x80;
const T = {
  BOOLEAN: 1,
  INTEGER: 2,
  BITSTRING: 3,
  OCTETSTRING: 4,
  NULL: 5,
  OID: 6,
  ENUMERATED: 10,
  UTF8: 12,
  SEQUENCE: 16,
  SET: 17,
  PRINTABLESTRING: 19,
  IA5STRING: 22,
  UTCTIME: 23,
  GENERALIZEDTIME: 24,
  BMPSTRING: 30,
} as const;

export const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha384WithRSA: '1.2.840.113549.1.1.12',
  sha512WithRSA: '1.2.840.113549.1.1.13',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  ed25519: '1.3.101.112',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  organizationalUnitName: '2.5.4.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  crlDistributionPoints: '2.5.29.31',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  kpClientAuth: '1.3.6.1.5.5.7.3.2',
  kpOcspSigning: '1.3.6.1.5.5.7.3.9',
  adOcsp: '1.3.6.1.5.5.7.48.1',
  ocspBasic: '1.3.6.1.5.5.7.48.1.1',
  ocspNonce: '1.3.6.1.5.5.7.48.1.2',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
} as const;

export const toBin = (b: Uint8Array) => Buffer.from(b).toString('latin1');
export const fromBin = (s: string) => Buffer.from(s, 'latin1');

export const seq = (items: Asn1[]) => asn1().create(U, T.SEQUENCE, true, items);
export const set = (items: Asn1[]) => asn1().create(U, T.SET, true, items);
export const oid = (o: string) => asn1().create(U, T.OID, false, asn1().oidToDer(o).getBytes());
export const nul = () => asn1().create(U, T.NULL, false, '');
export const bool = (v: boolean) => asn1().create(U, T.BOOLEAN, false, v ? '\xff' : '\x00');
export const octets = (b: Uint8Array) => asn1().create(U, T.OCTETSTRING, false, toBin(b));
export const utf8 = (s: string) => asn1().create(U, T.UTF8, false, forge().util.encodeUtf8(s));
/** BIT STRING whose content is whole bytes (signatures, keys). */
export const bits = (b: Uint8Array) => asn1().create(U, T.BITSTRING, false, '\x00' + toBin(b));
/** BIT STRING of named bits (key usage): `unused` trailing bits of the last byte are zero. */
export const namedBits = (bytes: number[], unused: number) => asn1().create(U, T.BITSTRING, false, String.fromCharCode(unused, ...bytes));
export const enumerated = (n: number) => asn1().create(U, T.ENUMERATED, false, String.fromCharCode(n));
export const generalizedTime = (d: Date) => asn1().create(U, T.GENERALIZEDTIME, false, asn1().dateToGeneralizedTime(noMillis(d)));
/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. */
export const time = (d: Date) => (d.getUTCFullYear() < 2050 ? asn1().create(U, T.UTCTIME, false, asn1().dateToUtcTime(noMillis(d))) : generalizedTime(d));
/** [n] EXPLICIT wrapping of one element. */
export const explicit = (n: number, inner: Asn1) => asn1().create(CTX, n, true, [inner]);
/** [n] IMPLICIT primitive with raw content. */
export const implicitPrim = (n: number, content: string) => asn1().create(CTX, n, false, content);
/** Already-encoded DER spliced in as-is. */
export const raw = (der: Uint8Array) => asn1().fromDer(toBin(der), { strict: true, parseAllBytes: true, decodeBitStrings: false } as never);

const noMillis = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

/** Non-negative INTEGER from a bigint, minimal two's-complement encoding. */
export function integer(n: bigint): Asn1 {
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = '00' + hex;
  return asn1().create(U, T.INTEGER, false, toBin(Buffer.from(hex, 'hex')));
}

export function integerValue(node: Asn1): bigint {
  const b = fromBin(node.value as string);
  if (b.length === 0) throw new Error('empty INTEGER');
  const v = BigInt('0x' + b.toString('hex'));
  return b[0]! & 0x80 ? v - (1n << BigInt(b.length * 8)) : v;
}

export const toDer = (node: Asn1) => fromBin(asn1().toDer(node).getBytes());

/** Strict DER parse; throws on trailing bytes or BER-only encodings. */
export function parse(der: Uint8Array): Asn1 {
  const buf = Buffer.from(der);
  // forge's `strict` does not make its parser DER-only: the distinguished forms are checked first.
  if (assertDer(buf, 0, buf.length) !== buf.length) throw new Error('trailing bytes');
  return asn1().fromDer(toBin(der), { strict: true, parseAllBytes: true, decodeBitStrings: false } as never);
}

const CONSTRUCTED = 0x20;
const CLASS = 0xc0;

/**
 * Checks the distinguished encoding (X.690 §10-11) of the element at `pos` and of all it
 * contains; returns where it ends. Definite, minimal lengths; minimal INTEGERs; BOOLEAN as
 * 00 or ff; primitive strings; NULL empty.
 */
function assertDer(buf: Buffer, pos: number, limit: number): number {
  const tag = buf[pos]!;
  if (pos + 2 > limit) throw new Error('truncated');
  const first = buf[pos + 1]!;
  if (first === 0x80) throw new Error('indefinite length');
  const { contentStart, end } = header(buf, pos);
  if (end > limit) throw new Error('truncated');
  const len = end - contentStart;
  if (first & 0x80 && (len < 0x80 || buf[pos + 2] === 0)) throw new Error('length not in its shortest form');
  const universal = (tag & CLASS) === 0;
  if (tag & CONSTRUCTED) {
    if (universal && tag !== 0x30 && tag !== 0x31) throw new Error('constructed form of a primitive type');
    for (let p = contentStart; p < end;) p = assertDer(buf, p, end);
    return end;
  }
  if (!universal) return end;
  const c = buf.subarray(contentStart, end);
  if (tag === T.INTEGER || tag === T.ENUMERATED) {
    if (!c.length) throw new Error('empty INTEGER');
    if (c.length > 1 && ((c[0] === 0 && !(c[1]! & 0x80)) || (c[0] === 0xff && c[1]! & 0x80))) throw new Error('INTEGER not in its shortest form');
  } else if (tag === T.BOOLEAN) {
    if (c.length !== 1 || (c[0] !== 0 && c[0] !== 0xff)) throw new Error('BOOLEAN other than 00 or ff');
  } else if (tag === T.NULL) {
    if (c.length) throw new Error('NULL with content');
  } else if (tag === T.BITSTRING) {
    if (!c.length || c[0]! > 7 || (c.length === 1 && c[0] !== 0)) throw new Error('bad BIT STRING');
  }
  return end;
}

export const oidOf = (node: Asn1) => asn1().derToOid(node.value as string);
export const isSeq = (n: Asn1 | undefined): n is Asn1 => !!n && n.tagClass === U && n.type === T.SEQUENCE && Array.isArray(n.value);
export const isSet = (n: Asn1 | undefined): n is Asn1 => !!n && n.tagClass === U && n.type === T.SET && Array.isArray(n.value);
export const isUniversal = (n: Asn1 | undefined, type: number): n is Asn1 => !!n && n.tagClass === U && n.type === type;
export const isContext = (n: Asn1 | undefined, tag: number): n is Asn1 => !!n && n.tagClass === CTX && n.type === tag;
export const children = (n: Asn1) => n.value as Asn1[];
export const Types = T;

/**
 * The exact bytes of the i-th element inside a DER SEQUENCE, as received: signatures
 * are checked over the original encoding, never over a re-encoding.
 */
export function sliceChild(der: Uint8Array, index: number): Buffer {
  const buf = Buffer.from(der);
  const outer = header(buf, 0);
  let pos = outer.contentStart;
  for (let i = 0; ; i++) {
    if (pos >= outer.end) throw new Error('element missing');
    const h = header(buf, pos);
    if (i === index) return buf.subarray(pos, h.end);
    pos = h.end;
  }
}

function header(buf: Buffer, pos: number) {
  if (pos + 2 > buf.length) throw new Error('truncated');
  if ((buf[pos]! & 0x1f) === 0x1f) throw new Error('high tag numbers not supported');
  let len = buf[pos + 1]!;
  let contentStart = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || contentStart + n > buf.length) throw new Error('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[contentStart + i]!;
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > buf.length) throw new Error('truncated');
  return { contentStart, end };
}

export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** DER of the first PEM block with one of `labels`; undefined when there is none. */
export function fromPem(text: string, labels: string[]): Buffer | undefined {
  for (const label of labels) {
    const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`).exec(text);
    if (m) return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  }
  return undefined;
}
