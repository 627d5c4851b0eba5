import { describe, expect, it } from 'vitest';
import { AppError } from '../platform/errors.js';
import { assertPasswordComplies, MAX_PASSWORD_LENGTH, passwordViolations, policyOf, type PasswordPolicy } from './password-policy.js';

const none: PasswordPolicy = { minLength: 0, requireUpper: false, requireLower: false, requireDigit: false, requireSymbol: false };
const strict: PasswordPolicy = { minLength: 8, requireUpper: true, requireLower: true, requireDigit: true, requireSymbol: true };

describe('passwordViolations', () => {
  it('accepts a password meeting every rule', () => {
    expect(passwordViolations(strict, 'Abcdef1!')).toEqual([]);
  });

  it('names every rule broken, in a fixed order', () => {
    expect(passwordViolations(strict, 'abc')).toEqual([
      'must be at least 8 characters long',
      'must contain an upper-case letter',
      'must contain a digit',
      'must contain a symbol',
    ]);
    expect(passwordViolations(strict, 'ABCDEFGH')).toEqual(['must contain a lower-case letter', 'must contain a digit', 'must contain a symbol']);
  });

  it('counts characters, not UTF-16 code units', () => {
    const policy = { ...none, minLength: 4 };
    // Three astral characters are six code units but three characters.
    expect(passwordViolations(policy, '😀😀😀')).toEqual(['must be at least 4 characters long']);
    expect(passwordViolations(policy, '😀😀😀😀')).toEqual([]);
  });

  it('caps the length whatever the policy', () => {
    expect(passwordViolations(none, 'a'.repeat(MAX_PASSWORD_LENGTH))).toEqual([]);
    expect(passwordViolations(none, 'a'.repeat(MAX_PASSWORD_LENGTH + 1))).toEqual([`must be at most ${MAX_PASSWORD_LENGTH} characters long`]);
  });

  it('knows letters, digits and symbols beyond ASCII', () => {
    expect(passwordViolations(strict, 'Ähnlich٣€x')).toEqual([]); // Ä upper, h lower, Arabic-Indic three a digit, € a symbol
    expect(passwordViolations({ ...none, requireUpper: true }, 'élan')).toEqual(['must contain an upper-case letter']);
    expect(passwordViolations({ ...none, requireLower: true }, 'ÉLAN')).toEqual(['must contain a lower-case letter']);
  });

  it('does not take white space for a symbol', () => {
    expect(passwordViolations({ ...none, requireSymbol: true }, 'two words')).toEqual(['must contain a symbol']);
    expect(passwordViolations({ ...none, requireSymbol: true }, 'two_words')).toEqual([]);
  });

  it('asks nothing of a password under an empty policy', () => {
    expect(passwordViolations(none, '')).toEqual([]);
  });
});

describe('policyOf', () => {
  it('reads the tenant columns', () => {
    expect(policyOf({ pwMinLength: 12, pwRequireUpper: true, pwRequireLower: false, pwRequireDigit: true, pwRequireSymbol: false })).toEqual({
      minLength: 12,
      requireUpper: true,
      requireLower: false,
      requireDigit: true,
      requireSymbol: false,
    });
  });
});

describe('assertPasswordComplies', () => {
  it('returns quietly for a compliant password', () => {
    expect(() => assertPasswordComplies(strict, 'Abcdef1!')).not.toThrow();
  });

  it('throws one 400 item per rule at the pointer, never echoing the password', () => {
    const secret = 'short';
    let error: unknown;
    try {
      assertPasswordComplies(strict, secret, '/password');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    const items = (error as AppError).toItems();
    expect((error as AppError).status).toBe(400);
    expect(items).toHaveLength(4);
    for (const item of items) {
      expect(item).toMatchObject({ status: '400', code: 'password_policy', source: { pointer: '/password' } });
      expect(JSON.stringify(item)).not.toContain(secret);
    }
    expect(items[0]!.detail).toBe('Password must be at least 8 characters long');
  });

  it('points at the JSON:API attribute by default', () => {
    expect(() => assertPasswordComplies(strict, 'x')).toThrow(AppError);
    try {
      assertPasswordComplies(strict, 'x');
    } catch (e) {
      expect((e as AppError).toItems()[0]!.source).toEqual({ pointer: '/data/attributes/password' });
    }
  });
});
