import { describe, expect, it } from 'vitest';
import { deviceReturnPath, formatUserCode, generateUserCode, normalizeUserCode } from './user-code.js';

describe('device user codes (RFC 8628 §6.1)', () => {
  it('are 8 letters of the base-20 consonant alphabet, shown as XXXX-XXXX', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const code = generateUserCode();
      expect(code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{8}$/);
      seen.add(code);
    }
    expect(seen.size).toBeGreaterThan(195);
    expect(formatUserCode('WDJBMJHT')).toBe('WDJB-MJHT');
    expect(deviceReturnPath('WDJBMJHT')).toBe('/ui/device?user_code=WDJB-MJHT');
  });

  it('are compared ignoring case, spaces and the dash', () => {
    expect(normalizeUserCode('wdjb-mjht')).toBe('WDJBMJHT');
    expect(normalizeUserCode(' WDJB MJHT ')).toBe('WDJBMJHT');
    expect(normalizeUserCode('WDJBMJHT')).toBe('WDJBMJHT');
  });

  it('refuse what cannot be one: vowels, digits, wrong length, not a string', () => {
    expect(normalizeUserCode('WDJB-MJHA')).toBeUndefined();
    expect(normalizeUserCode('WDJB-MJH1')).toBeUndefined();
    expect(normalizeUserCode('WDJB-MJH')).toBeUndefined();
    expect(normalizeUserCode('WDJB-MJHTT')).toBeUndefined();
    expect(normalizeUserCode('W'.repeat(40))).toBeUndefined();
    expect(normalizeUserCode(['WDJBMJHT'])).toBeUndefined();
    expect(normalizeUserCode(undefined)).toBeUndefined();
  });
});
