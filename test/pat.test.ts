import { describe, expect, it } from 'vitest';
import { generatePat, hashPat, isWellFormedPat } from '../src/principals/pat.js';

describe('PAT format', () => {
  it('has a recognisable prefix, fixed length and a valid checksum', () => {
    const pat = generatePat();
    expect(pat).toMatch(/^pca_[0-9A-Za-z]{46}$/);
    expect(isWellFormedPat(pat)).toBe(true);
    expect(generatePat()).not.toBe(pat);
  });

  it('refuses a single changed character through the checksum', () => {
    const pat = generatePat();
    const i = 10;
    const swapped = pat.slice(0, i) + (pat[i] === 'a' ? 'b' : 'a') + pat.slice(i + 1);
    expect(isWellFormedPat(swapped)).toBe(false);
    expect(isWellFormedPat(pat.slice(0, -1))).toBe(false);
    expect(isWellFormedPat(pat + 'x')).toBe(false);
    expect(isWellFormedPat('pca_' + 'A'.repeat(46))).toBe(false);
  });

  it('is stored as a SHA-256 hex digest', () => {
    expect(hashPat('pca_x')).toMatch(/^[0-9a-f]{64}$/);
  });
});
