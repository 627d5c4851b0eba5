import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

// AES-256-GCM with the master key. Format: "v1." + base64url(iv | tag | ciphertext).
// The associated data binds a sealed value to its purpose, so a sealed signing key
// cannot be replayed where, say, a sealed login request is expected.

export function seal(key: Buffer, plaintext: string | Buffer, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return 'v1.' + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The plaintext, or undefined when the value was not sealed by this key for this purpose. */
export function unseal(key: Buffer, sealed: string, aad: string): Buffer | undefined {
  if (!sealed.startsWith('v1.')) return undefined;
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  if (raw.length < 28) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
  } catch {
    return undefined;
  }
}
