// The issuing CA: created once per deployment (under an advisory lock, so concurrent
// first starts agree) or imported from PEM files, plus its delegated OCSP signer.
import { createHash, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../platform/config.js';
import type { Prisma } from '../platform/db.js';
import { TX_OPTIONS } from './tx.js';
import { OID, fromPem, integer, explicit, enumerated, seq, time, toDer, raw, type Asn1 } from './der.js';
import { decryptKey, encryptKey, newKeyPair, signerFor, spkiOf, type Signer } from './keys.js';
import {
  aki,
  basicConstraints,
  buildCertificate,
  certInfo,
  extKeyUsage,
  extension,
  keyIdentifier,
  keyUsage,
  name,
  ocspNoCheck,
  publicKeyBits,
  signed,
  ski,
  type CertInfo,
} from './x509.js';

const LOCK_ID = 727007;
const OCSP_SIGNER_DAYS = 365;
const OCSP_RENEW_BEFORE_DAYS = 30;
export const HASHES = ['sha1', 'sha256', 'sha384', 'sha512'] as const;
export type HashName = (typeof HASHES)[number];
export const HASH_OIDS: Record<string, HashName> = { [OID.sha1]: 'sha1', [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };

export interface Authority {
  id: string;
  cert: CertInfo;
  signer: Signer;
  ocsp: { cert: CertInfo; signer: Signer };
  /** CertID hashes (RFC 6960) of this issuer, per hash algorithm. */
  nameHash: Record<HashName, Buffer>;
  keyHash: Record<HashName, Buffer>;
}

/** RFC 5280 serial: positive, ≤ 20 octets. 63 random bits so it is also the PCA API's int64 serialNum. */
export function randomSerial(): bigint {
  const b = randomBytes(8);
  b[0] = b[0]! & 0x7f || 1;
  return BigInt('0x' + b.toString('hex'));
}

const days = (n: number) => n * 86400_000;
/** Prisma's Bytes columns want a Uint8Array over a plain ArrayBuffer. */
export const bytes = (b: Uint8Array) => new Uint8Array(b);

export async function loadAuthority(prisma: Prisma, masterKey: Buffer, config: Config): Promise<Authority> {
  if (config.PKI_CA_CERT_FILE && config.PKI_CA_KEY_FILE) return loadImported(prisma, masterKey, config.PKI_CA_CERT_FILE, config.PKI_CA_KEY_FILE);

  let row = await prisma.pkiAuthority.findFirst({ where: { imported: false }, orderBy: { createdAt: 'asc' } });
  if (!row) {
    // Generated outside the lock (it can take a second); an instance that loses the race discards its key.
    const key = await newKeyPair(config.PKI_CA_KEY_TYPE);
    const caDer = selfSigned(key, config);
    const ca = certInfo(caDer);
    const ocsp = await newOcspSigner(ca, signerFor(key));
    row = await prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${LOCK_ID})`;
      const existing = await tx.pkiAuthority.findFirst({ where: { imported: false }, orderBy: { createdAt: 'asc' } });
      if (existing) return existing;
      return tx.pkiAuthority.create({
        data: {
          id: fingerprint(caDer),
          imported: false,
          certDer: bytes(caDer),
          keyEnc: bytes(encryptKey(masterKey, key)),
          ocspCertDer: bytes(ocsp.der),
          ocspKeyEnc: bytes(encryptKey(masterKey, ocsp.key)),
        },
      });
    }, TX_OPTIONS);
  }
  const key = decryptKey(masterKey, row.keyEnc!);
  return assemble(prisma, masterKey, row, key);
}

async function loadImported(prisma: Prisma, masterKey: Buffer, certFile: string, keyFile: string): Promise<Authority> {
  const certText = readFileSync(certFile);
  const caDer = fromPem(certText.toString('latin1'), ['CERTIFICATE']) ?? certText;
  const ca = certInfo(caDer);
  if (!ca.x509.ca) throw new Error(`${certFile}: not a CA certificate (basicConstraints cA is not set)`);
  const key = createPrivateKey(readFileSync(keyFile));
  if (!spkiOf(key).equals(ca.spki)) throw new Error(`${keyFile}: this key does not belong to the certificate in ${certFile}`);
  const id = fingerprint(caDer);
  let row = await prisma.pkiAuthority.findUnique({ where: { id } });
  if (!row) {
    const ocsp = await newOcspSigner(ca, signerFor(key));
    row = await prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${LOCK_ID})`;
      const existing = await tx.pkiAuthority.findUnique({ where: { id } });
      if (existing) return existing;
      return tx.pkiAuthority.create({
        data: { id, imported: true, certDer: bytes(caDer), keyEnc: null, ocspCertDer: bytes(ocsp.der), ocspKeyEnc: bytes(encryptKey(masterKey, ocsp.key)) },
      });
    }, TX_OPTIONS);
  }
  return assemble(prisma, masterKey, row, key);
}

async function assemble(
  prisma: Prisma,
  masterKey: Buffer,
  row: { id: string; certDer: Uint8Array; ocspCertDer: Uint8Array; ocspKeyEnc: Uint8Array },
  caKey: KeyObject,
): Promise<Authority> {
  const cert = certInfo(Buffer.from(row.certDer));
  const signer = signerFor(caKey);
  let ocspCert = certInfo(Buffer.from(row.ocspCertDer));
  let ocspKey = decryptKey(masterKey, row.ocspKeyEnc);
  if (ocspCert.notAfter.getTime() - Date.now() < days(OCSP_RENEW_BEFORE_DAYS) && cert.notAfter.getTime() - Date.now() > days(OCSP_RENEW_BEFORE_DAYS)) {
    const fresh = await newOcspSigner(cert, signer);
    await prisma.pkiAuthority.update({ where: { id: row.id }, data: { ocspCertDer: bytes(fresh.der), ocspKeyEnc: bytes(encryptKey(masterKey, fresh.key)) } });
    ocspCert = certInfo(fresh.der);
    ocspKey = fresh.key;
  }
  const keyBits = publicKeyBits(cert.spki);
  const digest = (h: HashName, b: Buffer) => createHash(h).update(b).digest();
  return {
    id: row.id,
    cert,
    signer,
    ocsp: { cert: ocspCert, signer: signerFor(ocspKey) },
    nameHash: Object.fromEntries(HASHES.map((h) => [h, digest(h, cert.subject)])) as Record<HashName, Buffer>,
    keyHash: Object.fromEntries(HASHES.map((h) => [h, digest(h, keyBits)])) as Record<HashName, Buffer>,
  };
}

const fingerprint = (der: Uint8Array) => createHash('sha256').update(der).digest('hex');

function selfSigned(key: KeyObject, config: Config): Buffer {
  const spki = spkiOf(key);
  const subject = name([[OID.commonName, config.PKI_CA_COMMON_NAME]]);
  const now = Date.now();
  return buildCertificate(
    {
      serial: randomSerial(),
      issuer: subject,
      subject,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + days(config.PKI_CA_VALIDITY_DAYS)),
      spki,
      extensions: [basicConstraints(true, 0), keyUsage(0x86), ski(spki), aki(keyIdentifier(spki))],
    },
    signerFor(key),
  );
}

/** A P-256 responder key: OCSP responses are the hot path and ECDSA P-256 signs in microseconds. */
async function newOcspSigner(ca: CertInfo, caSigner: Signer): Promise<{ der: Buffer; key: KeyObject }> {
  const key = await newKeyPair('p256');
  const spki = spkiOf(key);
  const now = Date.now();
  const cn =
    ca.x509.subject
      .split('\n')
      .find((l) => l.startsWith('CN='))
      ?.slice(3) ?? 'CA';
  const der = buildCertificate(
    {
      serial: randomSerial(),
      issuer: ca.subject,
      subject: name([[OID.commonName, `${cn} OCSP Responder`.slice(0, 64)]]),
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(Math.min(now + days(OCSP_SIGNER_DAYS), ca.notAfter.getTime())),
      spki,
      extensions: [basicConstraints(false), keyUsage(0x80), extKeyUsage(OID.kpOcspSigning), ocspNoCheck(), ski(spki), aki(ca.keyId)],
    },
    caSigner,
  );
  return { der, key };
}

export const REASONS = [
  'Unspecified',
  'KeyCompromise',
  'CACompromise',
  'AffiliationChanged',
  'Superseded',
  'CessationOfOperation',
  'CertificateHold',
  'RemoveFromCRL',
  'PrivilegeWithdrawn',
  'AACompromise',
] as const;
export type ReasonName = (typeof REASONS)[number];
/** CRLReason codes of RFC 5280 (7 is unused). */
export const REASON_CODES: Record<ReasonName, number> = {
  Unspecified: 0,
  KeyCompromise: 1,
  CACompromise: 2,
  AffiliationChanged: 3,
  Superseded: 4,
  CessationOfOperation: 5,
  CertificateHold: 6,
  RemoveFromCRL: 8,
  PrivilegeWithdrawn: 9,
  AACompromise: 10,
};

export interface RevokedEntry {
  serial: bigint;
  revokedAt: Date;
  reason: ReasonName;
}

/** A v2 CRL signed by the CA key (RFC 5280 §5). */
export function buildCrl(auth: Authority, entries: RevokedEntry[], crlNumber: bigint, thisUpdate: Date, nextUpdate: Date): Buffer {
  const revoked: Asn1[] = entries.map((e) => {
    const code = REASON_CODES[e.reason];
    // RFC 5280 §5.3.1: reasonCode unspecified SHOULD be absent.
    const ext = code === 0 ? [] : [seq([extension(OID.crlReason, false, enumerated(code))])];
    return seq([integer(e.serial), time(e.revokedAt), ...ext]);
  });
  const tbs = seq([
    integer(1n),
    auth.signer.algorithm(),
    raw(auth.cert.subject),
    time(thisUpdate),
    time(nextUpdate),
    ...(revoked.length ? [seq(revoked)] : []),
    explicit(0, seq([aki(auth.cert.keyId), extension(OID.crlNumber, false, integer(crlNumber))])),
  ]);
  return signed(toDer(tbs), auth.signer);
}
