import { createHmac, randomInt } from 'node:crypto';
import type { Prisma as P } from '../generated/prisma/client.js';

/*
 * One-time recovery codes for a lost second factor. Each is 10 characters of a 32-letter
 * alphabet (50 random bits), shown once and stored as HMAC-SHA256 under the master key.
 * A keyed hash rather than argon2: the codes are random, not chosen by people, so there is
 * no dictionary to slow down; without the master key a copy of the database gives nothing
 * to guess against; and a code is found by its hash in one indexed lookup, where argon2
 * would cost one verification per stored code on every attempt.
 */

export const RECOVERY_CODE_COUNT = 10;
// No 0/o, 1/l/i: codes are read off paper.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const AAD = 'recovery-code:';

function generateCode(): string {
  let s = '';
  for (let i = 0; i < 10; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

/** The canonical form of a typed code (case, spaces and the dash do not matter); undefined when it cannot be one. */
export function normalizeRecoveryCode(input: string): string | undefined {
  const s = input.toLowerCase().replace(/[\s-]/g, '');
  return s.length === 10 && [...s].every((c) => ALPHABET.includes(c)) ? s : undefined;
}

export const recoveryCodeHash = (key: Buffer, normalized: string) =>
  createHmac('sha256', key)
    .update(AAD + normalized)
    .digest('base64url');

/** Replaces the user's recovery codes with a new set; returns the codes, to be shown once. */
export async function replaceRecoveryCodes(tx: Pick<P.TransactionClient, 'recoveryCode'>, key: Buffer, tenantId: string, userId: string): Promise<string[]> {
  const codes = new Set<string>();
  while (codes.size < RECOVERY_CODE_COUNT) codes.add(generateCode());
  await tx.recoveryCode.deleteMany({ where: { tenantId, userId } });
  await tx.recoveryCode.createMany({
    data: [...codes].map((c) => ({ tenantId, userId, codeHash: recoveryCodeHash(key, normalizeRecoveryCode(c)!) })),
  });
  return [...codes];
}

/** Uses up a recovery code: true when it was one of the user's and unused (now it is used). */
export async function consumeRecoveryCode(
  db: Pick<P.TransactionClient, 'recoveryCode'>,
  key: Buffer,
  tenantId: string,
  userId: string,
  input: string,
  now = new Date(),
): Promise<boolean> {
  const code = normalizeRecoveryCode(input);
  if (!code) return false;
  const { count } = await db.recoveryCode.updateMany({
    where: { tenantId, userId, codeHash: recoveryCodeHash(key, code), usedAt: null },
    data: { usedAt: now },
  });
  return count === 1;
}
