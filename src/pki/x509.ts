// X.509 certificate structures (RFC 5280): built as ASN.1, signed by a Signer.
import { X509Certificate } from 'node:crypto';
import {
  OID,
  bits,
  bool,
  children,
  explicit,
  implicitPrim,
  integer,
  integerValue,
  isContext,
  namedBits,
  nul,
  octets,
  oid,
  oidOf,
  parse,
  seq,
  set,
  sliceChild,
  time,
  toBin,
  toDer,
  utf8,
  type Asn1,
} from './der.js';
import { sha1, type Signer } from './keys.js';

/** DER length octets. */
function lengthOctets(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** SEQUENCE of already-encoded parts, without re-parsing them. */
export function seqDer(parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30]), lengthOctets(body.length), body]);
}

/** SIGNED{ToBeSigned}: the shape of certificates, CRLs and OCSP basic responses. */
export function signed(tbsDer: Buffer, signer: Signer): Buffer {
  return withSignature(tbsDer, signer, signer.sign(tbsDer));
}

/** signed(), with the signature computed off the event loop (certificate issuance). */
export async function signedAsync(tbsDer: Buffer, signer: Signer): Promise<Buffer> {
  return withSignature(tbsDer, signer, await signer.signAsync(tbsDer));
}

const withSignature = (tbsDer: Buffer, signer: Signer, signature: Buffer) => seqDer([tbsDer, toDer(signer.algorithm()), toDer(bits(signature))]);

export function extension(id: string, critical: boolean, value: Asn1 | Buffer): Asn1 {
  const der = Buffer.isBuffer(value) ? value : toDer(value);
  return seq(critical ? [oid(id), bool(true), octets(der)] : [oid(id), octets(der)]);
}

export function name(rdns: [string, string][]): Buffer {
  return toDer(seq(rdns.map(([type, value]) => set([seq([oid(type), utf8(value)])]))));
}

/** The subjectPublicKey BIT STRING content of an SPKI, without the unused-bits octet. */
export function publicKeyBits(spki: Buffer): Buffer {
  const bitString = sliceChild(spki, 1);
  const node = parse(bitString);
  return Buffer.from(node.value as string, 'latin1').subarray(1);
}

export const keyIdentifier = (spki: Buffer) => sha1(publicKeyBits(spki));

export const ski = (spki: Buffer) => extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(spki)));
export const aki = (keyId: Buffer) => extension(OID.authorityKeyIdentifier, false, seq([implicitPrim(0, toBin(keyId))]));
export const basicConstraints = (ca: boolean, pathLen?: number) =>
  extension(OID.basicConstraints, true, seq(ca ? [bool(true), ...(pathLen === undefined ? [] : [integer(BigInt(pathLen))])] : []));
/** keyUsage bits: 0x80 digitalSignature, 0x20 keyEncipherment, 0x04 keyCertSign, 0x02 cRLSign. */
export const keyUsage = (byte: number) => {
  let unused = 0;
  while (unused < 7 && !(byte & (1 << unused))) unused++;
  return extension(OID.keyUsage, true, namedBits([byte], unused));
};
export const extKeyUsage = (...purposes: string[]) => extension(OID.extKeyUsage, false, seq(purposes.map(oid)));
export const ocspNoCheck = () => extension(OID.ocspNoCheck, false, nul());
export const authorityInfoAccess = (ocspUrl: string) => extension(OID.authorityInfoAccess, false, seq([seq([oid(OID.adOcsp), implicitPrim(6, ocspUrl)])]));
export const crlDistributionPoint = (url: string) =>
  extension(
    OID.crlDistributionPoints,
    false,
    // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
    seq([seq([explicit(0, explicit(0, implicitPrim(6, url)))])]),
  );
export const subjectAltUri = (uri: string) => extension(OID.subjectAltName, false, seq([implicitPrim(6, uri)]));

export interface CertificateSpec {
  serial: bigint;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Asn1[];
}

export function buildCertificate(spec: CertificateSpec, signer: Signer): Buffer {
  return signed(tbsCertificate(spec, signer), signer);
}

export function tbsCertificate(spec: CertificateSpec, signer: Signer): Buffer {
  // Already-encoded parts (names, key) are spliced as bytes: re-parsing them costs more than signing.
  return seqDer([
    toDer(explicit(0, integer(2n))),
    toDer(integer(spec.serial)),
    toDer(signer.algorithm()),
    spec.issuer,
    toDer(seq([time(spec.notBefore), time(spec.notAfter)])),
    spec.subject,
    spec.spki,
    toDer(explicit(3, seq(spec.extensions))),
  ]);
}

/** What the CA needs to know about a certificate it loaded (its own, or the OCSP signer's). */
export interface CertInfo {
  der: Buffer;
  x509: X509Certificate;
  serial: bigint;
  subject: Buffer;
  spki: Buffer;
  /** SubjectKeyIdentifier, or the SHA-1 of the key when the extension is absent. */
  keyId: Buffer;
  notBefore: Date;
  notAfter: Date;
}

export function certInfo(der: Buffer): CertInfo {
  const x509 = new X509Certificate(der);
  const tbsDer = sliceChild(der, 0);
  const tbs = children(parse(tbsDer));
  const off = isContext(tbs[0], 0) ? 1 : 0;
  const subject = sliceChild(tbsDer, off + 4);
  const spki = sliceChild(tbsDer, off + 5);
  let keyId = keyIdentifier(spki);
  const extWrapper = tbs.find((n) => isContext(n, 3));
  if (extWrapper) {
    for (const ext of children(children(extWrapper)[0]!)) {
      const parts = children(ext);
      if (oidOf(parts[0]!) === OID.subjectKeyIdentifier) {
        const inner = parse(Buffer.from(parts[parts.length - 1]!.value as string, 'latin1'));
        keyId = Buffer.from(inner.value as string, 'latin1');
      }
    }
  }
  return {
    der,
    x509,
    serial: integerValue(tbs[off]!),
    subject,
    spki,
    keyId,
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
  };
}
