// Hashes of other systems that an import keeps and login verifies.
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { hash } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import { isVerifiableHash, needsRehash, verifyPassword } from './passwords.js';

const ab64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '').replace(/\+/g, '.');

describe('password hashes in Modular Crypt Format', () => {
  it("verifies passlib's pbkdf2-sha256 test vector", async () => {
    // From passlib's documentation of pbkdf2_sha256 (password "password").
    const vector = '$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M';
    expect(isVerifiableHash(vector)).toBe(true);
    expect(await verifyPassword(vector, 'password')).toBe(true);
    expect(await verifyPassword(vector, 'Password')).toBe(false);
    expect(needsRehash(vector)).toBe(true);
  });

  it('verifies pbkdf2 with sha1 and sha512 made with node:crypto', async () => {
    const salt = randomBytes(16);
    for (const [name, digest, len] of [
      ['pbkdf2', 'sha1', 20],
      ['pbkdf2-sha512', 'sha512', 64],
    ] as const) {
      const h = `$${name}$1000$${ab64(salt)}$${ab64(pbkdf2Sync('s3cret', salt, 1000, len, digest))}`;
      expect(await verifyPassword(h, 's3cret'), name).toBe(true);
      expect(await verifyPassword(h, 's3creT'), name).toBe(false);
    }
  });

  it('verifies argon2i and argon2id; only argon2id needs no rehash', async () => {
    const i = await hash('pw', { algorithm: 1, memoryCost: 1024, timeCost: 1 });
    const id = await hash('pw', { algorithm: 2, memoryCost: 1024, timeCost: 1 });
    expect(await verifyPassword(i, 'pw')).toBe(true);
    expect(needsRehash(i)).toBe(true);
    expect(await verifyPassword(id, 'pw')).toBe(true);
    expect(needsRehash(id)).toBe(false);
  });

  it('verifies bcrypt ($2a$, $2b$, $2y$) against the OpenBSD test vectors; it needs a rehash', async () => {
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const hashed = `${prefix}05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW`;
      expect(isVerifiableHash(hashed)).toBe(true);
      expect(await verifyPassword(hashed, 'U*U')).toBe(true);
      expect(await verifyPassword(hashed, 'U*U*')).toBe(false);
      expect(needsRehash(hashed)).toBe(true);
    }
    expect(await verifyPassword('$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK', 'U*U*')).toBe(true);
  });

  it('does not take a bcrypt cost above 16, or malformed hashes', async () => {
    const costly = '$2a$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW';
    expect(isVerifiableHash(costly)).toBe(false);
    expect(await verifyPassword(costly, 'U*U')).toBe(false);
    for (const bad of ['$pbkdf2-sha256$0$abc$' + 'A'.repeat(43), '$pbkdf2-sha256$10$abc$short', 'plain']) expect(await verifyPassword(bad, 'x')).toBe(false);
  });
});
