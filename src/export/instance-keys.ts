// Deployment-wide keys in the export (`pcaInstance`, only with `withSigningKeys`): the OAuth/OIDC
// token signing keys, opened with this deployment's master key and sealed again for the
// target's (`sealFor`), in the form the target stores them. They are never in a document
// otherwise. The target installs them as published (retired) keys: tokens the source issued
// verify there until they expire, and the target keeps signing with its own keys. The
// client-certificate CA comes along the same way and becomes the target's issuing CA
// (see importAuthority).
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import type { Prisma } from '../platform/db.js';
import { seal, unseal } from '../platform/sealed.js';
import { SIGNING_ALGS, signingKeyAad } from '../oauth/keys.js';
import { decryptKey, encryptKey, spkiOf } from '../pki/keys.js';
import { certInfo } from '../pki/x509.js';
import type { ConflictPolicy, ItemError } from './write-step.js';

export interface PcaSigningKey {
  kid: string;
  alg: string;
  publicJwk: unknown;
  /** The PKCS#8 PEM sealed for the target's master key, bound to the kid as the target stores it. */
  privateKeySealed: string;
  state: string;
  createdAt: string;
  publishUntil: string | null;
}

/** The client-certificate CA, its key and its OCSP signer's key sealed for the target's master key. */
export interface PcaAuthority {
  id: string;
  /** base64 DER */
  certDer: string;
  keySealed: string;
  ocspCertDer: string;
  ocspKeySealed: string;
  crlNumber: string;
  createdAt: string;
}

export interface PcaInstance {
  signingKeys: PcaSigningKey[];
  authority?: PcaAuthority;
}

/** The signing keys still published, each re-sealed for `sealFor`. */
export async function exportInstanceKeys(prisma: Prisma, masterKey: Buffer, sealFor: Buffer): Promise<PcaInstance> {
  const now = new Date();
  const rows = await prisma.signingKey.findMany({ orderBy: [{ createdAt: 'asc' }, { kid: 'asc' }] });
  const signingKeys = rows
    .filter((r) => r.state !== 'retired' || !r.publishUntil || r.publishUntil > now)
    .map((r) => {
      const pem = unseal(masterKey, r.privateKey, signingKeyAad(r.kid));
      if (!pem) throw new Error(`signing key ${r.kid} cannot be decrypted with this MASTER_KEY`);
      return {
        kid: r.kid,
        alg: r.alg,
        publicJwk: r.publicJwk,
        privateKeySealed: seal(sealFor, pem, signingKeyAad(r.kid)),
        state: r.state,
        createdAt: r.createdAt.toISOString(),
        publishUntil: r.publishUntil?.toISOString() ?? null,
      };
    });
  // The CA this deployment issues with (a CA read from PKI_CA_* files has no key here to carry).
  const ca = await prisma.pkiAuthority.findFirst({ where: { imported: false }, orderBy: { createdAt: 'asc' } });
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
  const reseal = (blob: Uint8Array) => b64(encryptKey(sealFor, decryptKey(masterKey, blob)));
  const authority = ca?.keyEnc
    ? {
        id: ca.id,
        certDer: b64(ca.certDer),
        keySealed: reseal(ca.keyEnc),
        ocspCertDer: b64(ca.ocspCertDer),
        ocspKeySealed: reseal(ca.ocspKeyEnc),
        crlNumber: ca.crlNumber.toString(),
        createdAt: ca.createdAt.toISOString(),
      }
    : undefined;
  return { signingKeys, ...(authority ? { authority } : {}) };
}

// Tokens live at most a day (oauth/schemas.ts), plus the clock skew rotateKeys allows for.
const LONGEST_TOKEN_MS = (86400 + 300) * 1000;

const signingKey = z.object({
  kid: z.string().min(1).max(200),
  alg: z.enum(SIGNING_ALGS),
  publicJwk: z.looseObject({ kty: z.enum(['RSA', 'EC']) }),
  privateKeySealed: z.string().min(1).max(20_000),
  state: z.enum(['next', 'active', 'retired']),
  createdAt: z.iso.datetime(),
  publishUntil: z.iso.datetime().nullable(),
});
const instanceSection = z.object({ signingKeys: z.array(z.unknown()).max(100), authority: z.unknown().optional() });
const authoritySchema = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  certDer: z.base64().min(1).max(20_000),
  keySealed: z.base64().min(1).max(20_000),
  ocspCertDer: z.base64().min(1).max(20_000),
  ocspKeySealed: z.base64().min(1).max(20_000),
  crlNumber: z.string().regex(/^(0|[1-9][0-9]{0,18})$/),
  createdAt: z.iso.datetime(),
});

export interface InstanceResult {
  status: 'imported' | 'unchanged' | 'failed';
  created: number;
  unchanged: number;
  errors: ItemError[];
}

/** Whether the private key is the one the public JWK and its thumbprint (the kid) name. */
async function matches(pem: string, k: z.infer<typeof signingKey>): Promise<boolean> {
  try {
    const jwk = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' }) as JWK;
    const pub = k.publicJwk as JWK;
    const same = jwk.kty === 'RSA' ? jwk.n === pub.n && jwk.e === pub.e : jwk.crv === pub.crv && jwk.x === pub.x && jwk.y === pub.y;
    return same && (await calculateJwkThumbprint(jwk)) === k.kid;
  } catch {
    return false;
  }
}

/**
 * Installs the document's signing keys. A key this server's master key does not open (the
 * document was sealed for another deployment) is reported and skipped; a kid already here is
 * the same key (the kid is its thumbprint) and is left as it is.
 */
export async function importInstanceKeys(
  prisma: Prisma,
  raw: unknown,
  masterKey: Buffer | undefined,
  opts: { dryRun: boolean; onConflict: ConflictPolicy },
): Promise<InstanceResult> {
  const { dryRun } = opts;
  const result: InstanceResult = { status: 'unchanged', created: 0, unchanged: 0, errors: [] };
  const section = instanceSection.safeParse(raw);
  if (!section.success) {
    result.errors.push({ type: 'pcaInstance', message: section.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    result.status = 'failed';
    return result;
  }
  const now = Date.now();
  const rows = [];
  for (const item of section.data.signingKeys) {
    const r = signingKey.safeParse(item);
    const id = String((item as { kid?: unknown })?.kid ?? '');
    if (!r.success) {
      result.errors.push({ type: 'signingKey', id, field: r.error.issues[0]?.path.join('.'), message: r.error.issues.map((i) => i.message).join('; ') });
      continue;
    }
    const k = r.data;
    const pem = masterKey && unseal(masterKey, k.privateKeySealed, signingKeyAad(k.kid));
    if (!pem) {
      result.errors.push({
        type: 'signingKey',
        id,
        field: 'privateKeySealed',
        message: "the key does not open with this server's master key (export withSigningKeys with sealFor set to this server's master key); not imported",
      });
      continue;
    }
    if (!(await matches(pem.toString('utf8'), k))) {
      result.errors.push({ type: 'signingKey', id, field: 'publicJwk', message: 'the private key is not the one publicJwk and the kid name; not imported' });
      continue;
    }
    const until = Math.min(k.publishUntil ? Date.parse(k.publishUntil) : Infinity, now + LONGEST_TOKEN_MS);
    rows.push({
      kid: k.kid,
      alg: k.alg,
      publicJwk: k.publicJwk as object,
      privateKey: k.privateKeySealed,
      state: 'retired',
      createdAt: new Date(k.createdAt),
      retiredAt: new Date(now),
      publishUntil: new Date(until),
    });
  }
  const present = new Set((await prisma.signingKey.findMany({ where: { kid: { in: rows.map((r) => r.kid) } }, select: { kid: true } })).map((r) => r.kid));
  const fresh = rows.filter((r) => !present.has(r.kid));
  result.unchanged = present.size;
  if (!dryRun && fresh.length) await prisma.signingKey.createMany({ data: fresh, skipDuplicates: true });
  result.created = fresh.length;
  if (section.data.authority !== undefined) await importAuthority(prisma, section.data.authority, masterKey, opts, result);
  if (result.created) result.status = 'imported';
  return result;
}

/** Opens a sealed key of the document, or undefined when this master key does not open it. */
function opened(masterKey: Buffer | undefined, sealed: string) {
  if (!masterKey) return undefined;
  try {
    return decryptKey(masterKey, Buffer.from(sealed, 'base64'));
  } catch {
    return undefined;
  }
}

/**
 * The CA becomes this deployment's issuing CA, so that certificates the source issued are
 * accepted and answered for here. It never replaces a CA that has issued a certificate,
 * whatever onConflict says (that would disown them); a CA that has issued none gives way.
 */
async function importAuthority(prisma: Prisma, raw: unknown, masterKey: Buffer | undefined, opts: { dryRun: boolean }, result: InstanceResult) {
  const r = authoritySchema.safeParse(raw);
  const id = String((raw as { id?: unknown })?.id ?? '');
  const refuse = (message: string, field?: string) => result.errors.push({ type: 'authority', id, ...(field ? { field } : {}), message });
  if (!r.success) return refuse(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), r.error.issues[0]?.path.join('.'));
  const a = r.data;
  const key = opened(masterKey, a.keySealed);
  const ocspKey = opened(masterKey, a.ocspKeySealed);
  if (!key || !ocspKey) {
    return refuse(
      "the CA's key does not open with this server's master key (export withSigningKeys with sealFor set to this server's master key); not imported",
      key ? 'ocspKeySealed' : 'keySealed',
    );
  }
  const certDer = Buffer.from(a.certDer, 'base64');
  let matches = false;
  try {
    matches = createHash('sha256').update(certDer).digest('hex') === a.id && spkiOf(key).equals(certInfo(certDer).spki);
  } catch {
    matches = false;
  }
  if (!matches) return refuse('the certificate does not match the id, or the key does not belong to it; not imported', 'certDer');
  const current = await prisma.pkiAuthority.findFirst({ where: { imported: false }, orderBy: { createdAt: 'asc' } });
  if (current?.id === a.id) {
    result.unchanged++;
    return;
  }
  if (current && (await prisma.clientCertificate.count({ where: { issuerId: current.id } }))) {
    return refuse("this deployment's own CA has issued certificates; it stays the issuing CA and this one is not imported");
  }
  if (opts.dryRun) {
    result.created++;
    return;
  }
  await prisma.$transaction(async (tx) => {
    if (current) await tx.pkiAuthority.delete({ where: { id: current.id } });
    await tx.pkiAuthority.create({
      data: {
        id: a.id,
        imported: false,
        certDer: new Uint8Array(certDer),
        keyEnc: new Uint8Array(encryptKey(masterKey!, key)),
        ocspCertDer: new Uint8Array(Buffer.from(a.ocspCertDer, 'base64')),
        ocspKeyEnc: new Uint8Array(encryptKey(masterKey!, ocspKey)),
        crlNumber: BigInt(a.crlNumber),
        createdAt: new Date(a.createdAt),
      },
    });
  });
  result.created++;
}
