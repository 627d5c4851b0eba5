import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OID, explicit, integer, nul, octets, oid, seq, toDer, type Asn1 } from './der.js';
import { errorResponse, MAX_OCSP_REQUEST_BYTES, OCSP_ERROR, parseOcspRequest } from './ocsp.js';

const sha1 = (s: string) => createHash('sha1').update(s).digest();

/** CertID (RFC 6960 §4.1.1) with the given hash algorithm. */
const certId = (serial: bigint, hashOid: string = OID.sha1, nameHash = sha1('issuer name'), keyHash = sha1('issuer key')) =>
  seq([seq([oid(hashOid), nul()]), octets(nameHash), octets(keyHash), integer(serial)]);

/** The nonce extension (RFC 8954): extnValue holds the DER of an OCTET STRING. */
const nonceExtension = (nonce: Buffer) => seq([oid(OID.ocspNonce), octets(toDer(octets(nonce)))]);

/** OCSPRequest ::= SEQUENCE { tbsRequest SEQUENCE { [0] version?, requestList, [2] requestExtensions? } } */
function request(ids: Asn1[], opts: { version?: boolean; extensions?: Asn1[] } = {}): Buffer {
  const tbs: Asn1[] = [];
  if (opts.version) tbs.push(explicit(0, integer(0n)));
  tbs.push(seq(ids.map((id) => seq([id]))));
  if (opts.extensions) tbs.push(explicit(2, seq(opts.extensions)));
  return toDer(seq([seq(tbs)]));
}

describe('parseOcspRequest', () => {
  it('reads each CertID and keeps its exact bytes to echo', () => {
    const id = certId(0x1234n);
    const parsed = parseOcspRequest(request([id]));
    expect(parsed).toBeDefined();
    expect(parsed!.nonceExt).toBeUndefined();
    expect(parsed!.certIds).toHaveLength(1);
    const [c] = parsed!.certIds;
    expect(c).toMatchObject({ hash: 'sha1', serial: 0x1234n });
    expect(c!.nameHash.equals(sha1('issuer name'))).toBe(true);
    expect(c!.keyHash.equals(sha1('issuer key'))).toBe(true);
    expect(c!.der.equals(toDer(id))).toBe(true);
  });

  it('reads serials whose top bit is set (a sign byte in DER) and long serials', () => {
    const serials = [0x80n, 0xffn, (1n << 159n) | 1n];
    const parsed = parseOcspRequest(
      request(
        serials.map((s) => certId(s)),
        { version: true },
      ),
    );
    expect(parsed!.certIds.map((c) => c.serial)).toEqual(serials);
  });

  it('knows SHA-1 and the SHA-2 hashes', () => {
    const parsed = parseOcspRequest(request([certId(1n, OID.sha256), certId(2n, OID.sha384), certId(3n, OID.sha512)]));
    expect(parsed!.certIds.map((c) => c.hash)).toEqual(['sha256', 'sha384', 'sha512']);
  });

  it('echoes the nonce extension byte for byte', () => {
    const ext = nonceExtension(Buffer.alloc(32, 9));
    const parsed = parseOcspRequest(request([certId(1n)], { extensions: [seq([oid('1.2.3.4'), octets(Buffer.from('x'))]), ext] }));
    expect(parsed!.nonceExt!.equals(toDer(ext))).toBe(true);
  });

  it.each([
    ['an empty body', () => Buffer.alloc(0)],
    ['a body over the size limit', () => Buffer.alloc(MAX_OCSP_REQUEST_BYTES + 1)],
    ['bytes that are not DER', () => Buffer.from('not DER at all')],
    ['trailing bytes', () => Buffer.concat([request([certId(1n)]), Buffer.from([0])])],
    ['an empty request list', () => request([])],
    ['more than 16 requests', () => request(Array.from({ length: 17 }, (_, i) => certId(BigInt(i + 1))))],
    ['an unknown hash algorithm', () => request([certId(1n, OID.sha256WithRSA)])],
    ['a CertID with three fields', () => request([seq([seq([oid(OID.sha1), nul()]), octets(sha1('n')), integer(1n)])])],
    ['an empty nonce', () => request([certId(1n)], { extensions: [nonceExtension(Buffer.alloc(0))] })],
    ['a nonce over 32 bytes', () => request([certId(1n)], { extensions: [nonceExtension(Buffer.alloc(33, 1))] })],
    ['extensions under the wrong tag', () => toDer(seq([seq([seq([seq([certId(1n)])]), explicit(3, seq([]))])]))],
  ])('answers undefined (malformedRequest) for %s', (_, body) => {
    expect(parseOcspRequest(body())).toBeUndefined();
  });
});

describe('errorResponse', () => {
  it('is an OCSPResponse holding only the status', () => {
    expect(errorResponse(OCSP_ERROR.malformedRequest).toString('hex')).toBe('30030a0101');
    expect(errorResponse(OCSP_ERROR.unauthorized).toString('hex')).toBe('30030a0106');
  });
});
