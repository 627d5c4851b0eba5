// OCSP (RFC 6960): request parsing and BasicOCSPResponse building. Any request that
// does not parse gets a malformedRequest response, never an exception to the caller.
import { HASH_OIDS, REASON_CODES, type Authority, type HashName, type ReasonName } from './authority.js';
import {
  OID,
  Types,
  children,
  enumerated,
  explicit,
  generalizedTime,
  implicitPrim,
  integerValue,
  isContext,
  isSeq,
  isUniversal,
  octets,
  oid,
  oidOf,
  parse,
  raw,
  seq,
  sliceChild,
  toDer,
  type Asn1,
} from './der.js';
import { seqDer, signed } from './x509.js';

export const MAX_OCSP_REQUEST_BYTES = 8 * 1024;
const MAX_REQUESTS = 16;

export const OCSP_ERROR = {
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  unauthorized: 6,
} as const;

export interface CertIdRequest {
  hash: HashName;
  nameHash: Buffer;
  keyHash: Buffer;
  serial: bigint;
  /** The CertID as received; echoed unchanged in the response. */
  der: Buffer;
}

export interface OcspRequest {
  certIds: CertIdRequest[];
  /** The whole nonce extension (RFC 8954), echoed unchanged. */
  nonceExt?: Buffer;
}

/** Returns undefined when the request is malformed. */
export function parseOcspRequest(der: Buffer): OcspRequest | undefined {
  if (der.length === 0 || der.length > MAX_OCSP_REQUEST_BYTES) return undefined;
  try {
    const root = parse(der);
    if (!isSeq(root)) return undefined;
    const tbsDer = sliceChild(der, 0);
    const tbs = children(parse(tbsDer));
    let i = 0;
    if (isContext(tbs[i], 0)) i++; // version v1, the only one
    if (isContext(tbs[i], 1)) i++; // requestorName, not used
    const list = tbs[i];
    if (!isSeq(list)) return undefined;
    const listDer = sliceChild(tbsDer, i);
    const items = children(list);
    if (items.length === 0 || items.length > MAX_REQUESTS) return undefined;
    const certIds: CertIdRequest[] = [];
    items.forEach((item, n) => {
      const reqParts = children(item);
      const certIdDer = sliceChild(sliceChild(listDer, n), 0);
      const c = children(reqParts[0]!);
      if (c.length !== 4) throw new Error('CertID');
      const alg = children(c[0]!)[0]!;
      const hash = HASH_OIDS[oidOf(alg)];
      if (!hash || !isUniversal(c[1], Types.OCTETSTRING) || !isUniversal(c[2], Types.OCTETSTRING) || !isUniversal(c[3], Types.INTEGER))
        throw new Error('CertID');
      certIds.push({
        hash,
        nameHash: Buffer.from(c[1]!.value as string, 'latin1'),
        keyHash: Buffer.from(c[2]!.value as string, 'latin1'),
        serial: integerValue(c[3]!),
        der: certIdDer,
      });
    });
    let nonceExt: Buffer | undefined;
    const extWrapper = tbs[i + 1];
    if (extWrapper) {
      if (!isContext(extWrapper, 2)) return undefined;
      const extsDer = sliceChild(sliceChild(tbsDer, i + 1), 0);
      children(children(extWrapper)[0]!).forEach((ext, n) => {
        if (oidOf(children(ext)[0]!) === OID.ocspNonce) {
          const e = sliceChild(extsDer, n);
          const value = Buffer.from(children(ext).at(-1)!.value as string, 'latin1');
          // RFC 8954: a nonce is 1 to 32 octets.
          const inner = parse(value);
          const len = (inner.value as string).length;
          if (!isUniversal(inner, Types.OCTETSTRING) || len < 1 || len > 32) throw new Error('nonce');
          nonceExt = e;
        }
      });
    }
    return { certIds, nonceExt };
  } catch {
    return undefined;
  }
}

export const errorResponse = (status: number) => toDer(seq([enumerated(status)]));

export type SingleStatus = { kind: 'good' } | { kind: 'unknown' } | { kind: 'revoked'; at: Date; reason: ReasonName };

export interface SingleResult {
  certId: Buffer;
  status: SingleStatus;
  thisUpdate: Date;
  nextUpdate: Date;
}

function certStatus(s: SingleStatus): Asn1 {
  if (s.kind === 'good') return implicitPrim(0, '');
  if (s.kind === 'unknown') return implicitPrim(2, '');
  const code = REASON_CODES[s.reason];
  // RevokedInfo ::= SEQUENCE { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }, tagged [1] IMPLICIT.
  const info = [generalizedTime(s.at), ...(code === 0 ? [] : [explicit(0, enumerated(code))])];
  return { ...seq(info), tagClass: 0x80, type: 1 } as Asn1;
}

export function buildResponse(auth: Authority, results: SingleResult[], producedAt: Date, nonceExt?: Buffer): Buffer {
  const responses = results.map((r) => seq([raw(r.certId), certStatus(r.status), generalizedTime(r.thisUpdate), explicit(0, generalizedTime(r.nextUpdate))]));
  const responseData = seq([
    // responderID byKey [2] EXPLICIT KeyHash (SHA-1 of the responder's public key).
    explicit(2, octets(auth.ocsp.cert.keyId)),
    generalizedTime(producedAt),
    seq(responses),
    ...(nonceExt ? [explicit(1, seq([raw(nonceExt)]))] : []),
  ]);
  const basicTbs = toDer(responseData);
  const basicSigned = signed(basicTbs, auth.ocsp.signer);
  // Append certs [0] EXPLICIT SEQUENCE OF Certificate: the delegated signer, so clients can verify it.
  const certs = toDer(explicit(0, seq([raw(auth.ocsp.cert.der)])));
  const inner = sliceInner(basicSigned);
  const basic = seqDer([inner, certs]);
  return toDer(seq([enumerated(0), explicit(0, seq([oid(OID.ocspBasic), octets(basic)]))]));
}

/** The content octets of a DER SEQUENCE (its elements, without tag and length). */
function sliceInner(der: Buffer): Buffer {
  const len = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
  return der.subarray(len);
}
