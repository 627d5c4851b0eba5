// Deployment-wide keys in the export (`pcaInstance`, only with `withSigningKeys`): the OAuth/OIDC
// token signing keys, opened with this deployment's master key and sealed again for the
// target's (`sealFor`), in the form the target stores them. They are never in a document
// otherwise. The target installs them as published (retired) keys: tokens the source issued
// verify there until they expire, and the target keeps signing with its own keys.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import type { Prisma } from '../platform/db.js';
import { seal, unseal } from '../platform/sealed.js';
import { SIGNING_ALGS, signingKeyAad } from '../oauth/keys.js';
import type { ItemError } from './write-step.js';

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

export interface PcaInstance {
  signingKeys: PcaSigningKey[];
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
  return { signingKeys };
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
const instanceSection = z.object({ signingKeys: z.array(z.unknown()).max(100) });

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
export async function importInstanceKeys(prisma: Prisma, raw: unknown, masterKey: Buffer | undefined, dryRun: boolean): Promise<InstanceResult> {
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
  if (fresh.length) result.status = 'imported';
  return result;
}
