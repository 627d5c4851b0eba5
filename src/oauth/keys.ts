import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, exportJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import type { Prisma } from '../platform/db.js';
import { seal, unseal } from '../platform/sealed.js';
import { audit, type AuditActor } from '../audit/audit.js';

export const SIGNING_ALGS = ['RS256', 'ES256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

interface LoadedKey {
  kid: string;
  alg: SigningAlg;
  state: 'next' | 'active' | 'retired';
  publicKey: KeyObject;
  /** Present for keys this instance may sign with; a WebCrypto key, imported once (jose would convert a KeyObject on every signature). */
  privateKey?: CryptoKey;
  publicJwk: JWK;
  publishUntil: Date | null;
}

const AAD = 'signing-key';
/** What a signing key's private half is sealed for: its kid (a copy under another kid does not open). */
export const signingKeyAad = (kid: string) => `${AAD}:${kid}`;
const LOCK = 727004;
// Another instance may have rotated: re-read the table at most this often.
const RELOAD_MS = 60_000;
// An unknown kid triggers a re-read, but never more often than this (a forged kid must not hammer the database).
const MISS_RELOAD_MS = 5_000;

const generateKeyPairAsync = promisify(generateKeyPair);

interface NewKey {
  kid: string;
  alg: SigningAlg;
  publicJwk: object;
  privateKey: string;
}

/** Key material is made outside any transaction: RSA generation can take a while on a busy machine. */
async function newKey(masterKey: Buffer, alg: SigningAlg): Promise<NewKey> {
  const { privateKey, publicKey } =
    alg === 'RS256' ? await generateKeyPairAsync('rsa', { modulusLength: 2048 }) : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { kid, alg, publicJwk: { ...jwk, kid, alg, use: 'sig' }, privateKey: seal(masterKey, pem, signingKeyAad(kid)) };
}

async function insertKey(tx: Pick<Prisma, 'signingKey'>, key: NewKey, state: 'next' | 'active', now = new Date()) {
  await tx.signingKey.create({ data: { ...key, state, activatedAt: state === 'active' ? now : null } });
}

const TX = { timeout: 30_000, maxWait: 30_000 };

/**
 * Makes sure every algorithm has an active key and a published next key. Safe to run
 * concurrently from several instances (advisory lock).
 */
export async function ensureKeys(prisma: Prisma, masterKey: Buffer) {
  const present = await prisma.signingKey.findMany({ where: { state: { in: ['active', 'next'] } }, select: { alg: true, state: true } });
  const missing = SIGNING_ALGS.flatMap((alg) =>
    (['active', 'next'] as const).filter((state) => !present.some((k) => k.alg === alg && k.state === state)).map((state) => ({ alg, state })),
  );
  if (!missing.length) return;
  const made = await Promise.all(missing.map(async (m) => ({ ...m, key: await newKey(masterKey, m.alg) })));
  await prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${LOCK})`;
    for (const m of made) {
      if (!(await tx.signingKey.findFirst({ where: { alg: m.alg, state: m.state } }))) await insertKey(tx, m.key, m.state);
    }
  }, TX);
}

/**
 * Rotation: the next key (already in the JWKS) starts signing, the active key is retired
 * but stays published until every token it signed has expired, and a new next key is
 * published. Returns the kids now active.
 */
export async function rotateKeys(prisma: Prisma, masterKey: Buffer, now = new Date(), actor: AuditActor = 'system'): Promise<string[]> {
  await ensureKeys(prisma, masterKey);
  const fresh = await Promise.all(SIGNING_ALGS.map((alg) => newKey(masterKey, alg)));
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${LOCK})`;
    const longest = await tx.application.aggregate({ _max: { accessTokenLifetime: true, idTokenLifetime: true } });
    const lifetime = Math.max(longest._max.accessTokenLifetime ?? 0, longest._max.idTokenLifetime ?? 0, 3600) + 300;
    const publishUntil = new Date(now.getTime() + lifetime * 1000);
    const active: string[] = [];
    for (const [i, alg] of SIGNING_ALGS.entries()) {
      await tx.signingKey.updateMany({ where: { alg, state: 'active' }, data: { state: 'retired', retiredAt: now, publishUntil } });
      const next = await tx.signingKey.findFirst({ where: { alg, state: 'next' }, orderBy: { createdAt: 'asc' } });
      if (next) {
        await tx.signingKey.update({ where: { kid: next.kid }, data: { state: 'active', activatedAt: now } });
        active.push(next.kid);
      }
      await insertKey(tx, fresh[i]!, 'next', now);
    }
    // Retired keys whose tokens have all expired are of no use to anyone.
    await tx.signingKey.deleteMany({ where: { state: 'retired', publishUntil: { lt: now } } });
    await audit(tx, actor, { tenantId: null, action: 'signing_keys.rotated', targetType: 'signing_key', details: { activated: active } });
    return active;
  }, TX);
}

/** In-memory view of the signing keys: signs with the active key, verifies with any published one. */
export class KeyStore {
  private keys = new Map<string, LoadedKey>();
  private loadedAt = 0;
  private lastMissReload = 0;
  private loading?: Promise<void>;
  private ensuring?: Promise<void>;

  constructor(
    private readonly prisma: Prisma,
    private readonly masterKey: Buffer,
  ) {}

  async reload() {
    this.loading ??= (async () => {
      try {
        const rows = await this.prisma.signingKey.findMany();
        const now = Date.now();
        const keys = new Map<string, LoadedKey>();
        for (const row of rows) {
          if (row.state === 'retired' && row.publishUntil && row.publishUntil.getTime() < now) continue;
          const previous = this.keys.get(row.kid);
          let privateKey = previous?.privateKey;
          if (row.state === 'active' && !privateKey) {
            const pem = unseal(this.masterKey, row.privateKey, signingKeyAad(row.kid));
            if (!pem) throw new Error(`signing key ${row.kid} cannot be decrypted with this MASTER_KEY`);
            privateKey = await importPKCS8(createPrivateKey(pem.toString('utf8')).export({ type: 'pkcs8', format: 'pem' }) as string, row.alg);
          }
          keys.set(row.kid, {
            kid: row.kid,
            alg: row.alg as SigningAlg,
            state: row.state as LoadedKey['state'],
            publicKey: previous?.publicKey ?? createPublicKey({ key: row.publicJwk as JWK & { kty: string }, format: 'jwk' }),
            privateKey,
            publicJwk: row.publicJwk as JWK,
            publishUntil: row.publishUntil,
          });
        }
        this.keys = keys;
        this.loadedAt = now;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  private async fresh() {
    // Keys are created on first use, not at start-up: building the app touches no database.
    if (this.loadedAt === 0) {
      this.ensuring ??= ensureKeys(this.prisma, this.masterKey).catch((err) => {
        this.ensuring = undefined;
        throw err;
      });
      await this.ensuring;
    }
    if (Date.now() - this.loadedAt > RELOAD_MS) await this.reload();
  }

  async signingKey(alg: SigningAlg): Promise<{ kid: string; key: CryptoKey }> {
    await this.fresh();
    let active = [...this.keys.values()].find((k) => k.alg === alg && k.state === 'active');
    if (!active) {
      await ensureKeys(this.prisma, this.masterKey);
      await this.reload();
      active = [...this.keys.values()].find((k) => k.alg === alg && k.state === 'active');
    }
    if (!active?.privateKey) throw new Error(`no active ${alg} signing key`);
    return { kid: active.kid, key: active.privateKey };
  }

  /** The public key for a token header, or undefined when the kid is unknown or the alg does not match it. */
  async verificationKey(kid: string | undefined, alg: string | undefined): Promise<KeyObject | undefined> {
    if (!kid || !alg) return undefined;
    await this.fresh();
    let key = this.keys.get(kid);
    if (!key && Date.now() - this.lastMissReload > MISS_RELOAD_MS) {
      this.lastMissReload = Date.now();
      await this.reload();
      key = this.keys.get(kid);
    }
    return key && key.alg === alg ? key.publicKey : undefined;
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    const now = Date.now();
    return {
      keys: [...this.keys.values()].filter((k) => k.state !== 'retired' || !k.publishUntil || k.publishUntil.getTime() > now).map((k) => k.publicJwk),
    };
  }
}
