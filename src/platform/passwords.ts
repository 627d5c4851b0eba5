import { pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { hash, verify } from '@node-rs/argon2';
import type { Config } from './config.js';

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** The argon2id cost settings of the configuration. */
export function argon2Params(config: Pick<Config, 'ARGON2_MEMORY_KIB' | 'ARGON2_ITERATIONS' | 'ARGON2_PARALLELISM'>): Argon2Params {
  return { memoryCost: config.ARGON2_MEMORY_KIB, timeCost: config.ARGON2_ITERATIONS, parallelism: config.ARGON2_PARALLELISM };
}

// Algorithm 2 = argon2id.
export const hashPassword = (password: string, p: Argon2Params) => hash(password, { ...p, algorithm: 2 });

const ARGON2 = /^\$argon2(id|i|d)\$/;
// passlib's Modular Crypt Format for PBKDF2, which ZITADEL (passwap) reads and writes:
// $pbkdf2-<digest>$<rounds>$<salt>$<checksum>, salt and checksum in "adapted" base64
// ('.' for '+', no padding).
const PBKDF2 = /^\$pbkdf2(?:-(sha256|sha512))?\$(\d{1,7})\$([A-Za-z0-9./]{0,128})\$([A-Za-z0-9./]{16,128})$/;
const PBKDF2_DIGEST: Record<string, { name: string; length: number }> = {
  sha1: { name: 'sha1', length: 20 },
  sha256: { name: 'sha256', length: 32 },
  sha512: { name: 'sha512', length: 64 },
};
const ab64 = (s: string) => Buffer.from(s.replace(/\./g, '+'), 'base64');
const pbkdf2Async = promisify(pbkdf2);

// bcrypt as Go's x/crypto (ZITADEL's default), OpenBSD and PHP write it. The cost is bounded:
// an imported hash of cost 31 would make each login attempt take days of CPU.
const BCRYPT = /^\$2[aby]\$(0[4-9]|1[0-6])\$[./A-Za-z0-9]{53}$/;

/**
 * Formats a password hash may arrive in from another system (an import) that login can
 * verify: argon2 (id, i, d), PBKDF2 (SHA-1, SHA-256, SHA-512) and bcrypt (cost 4 to 16).
 */
export const isVerifiableHash = (hashed: string) => ARGON2.test(hashed) || PBKDF2.test(hashed) || BCRYPT.test(hashed);

/** Whether a verified password's hash should be replaced by our own argon2id hash. */
export const needsRehash = (hashed: string) => !hashed.startsWith('$argon2id$');

async function verifyPbkdf2(hashed: string, password: string): Promise<boolean> {
  const m = PBKDF2.exec(hashed);
  if (!m) return false;
  const digest = PBKDF2_DIGEST[m[1] ?? 'sha1']!;
  const rounds = Number(m[2]);
  const expected = ab64(m[4]!);
  if (rounds < 1 || expected.length !== digest.length) return false;
  const got = await pbkdf2Async(password, ab64(m[3]!), rounds, digest.length, digest.name);
  return timingSafeEqual(got, expected);
}

export async function verifyPassword(hashed: string, password: string): Promise<boolean> {
  try {
    if (PBKDF2.test(hashed)) return await verifyPbkdf2(hashed, password);
    if (BCRYPT.test(hashed)) {
      // Loaded at the first imported bcrypt hash: most deployments never see one.
      const { default: bcrypt } = await import('bcryptjs');
      return await bcrypt.compare(password, hashed);
    }
    return await verify(hashed, password);
  } catch {
    return false;
  }
}
