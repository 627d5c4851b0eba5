import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { normalizeRecoveryCode, recoveryCodeHash } from './recovery-codes.js';

describe('recovery codes', () => {
  it('ignore case, spaces and the dash as typed, and refuse what cannot be a code', () => {
    expect(normalizeRecoveryCode('ABCDE-FGHJK')).toBe('abcdefghjk');
    expect(normalizeRecoveryCode(' abcde fghjk ')).toBe('abcdefghjk');
    for (const bad of ['', 'abcde-fghj', 'abcde-fghjkm', 'abcde-fgh0k', "abcde-fgh'k"]) expect(normalizeRecoveryCode(bad)).toBeUndefined();
  });

  it('are hashed under a key: another key gives another hash', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(recoveryCodeHash(a, 'abcdefghjk')).toBe(recoveryCodeHash(a, 'abcdefghjk'));
    expect(recoveryCodeHash(a, 'abcdefghjk')).not.toBe(recoveryCodeHash(b, 'abcdefghjk'));
    expect(recoveryCodeHash(a, 'abcdefghjk')).not.toContain('abcdefghjk');
  });
});
