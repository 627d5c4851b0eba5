import { describe, expect, it } from 'vitest';
import { AppError } from '../platform/errors.js';
import { compileNameFilter, NAME_FILTER_MAX_LENGTH } from './name-filter.js';

function refusal(pattern: string): AppError {
  try {
    compileNameFilter(pattern);
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(pattern)} to be refused`);
}

describe('compileNameFilter', () => {
  it('compiles an ordinary pattern as a Unicode regular expression', () => {
    const re = compileNameFilter('^app-(read|write)$');
    expect(re.flags).toBe('u');
    expect(re.test('app-read')).toBe(true);
    expect(re.test('app-delete')).toBe(false);
    expect(compileNameFilter('\\p{Lu}').test('É')).toBe(true);
  });

  it('accepts a pattern of the maximum length and refuses a longer one', () => {
    expect(() => compileNameFilter('a'.repeat(NAME_FILTER_MAX_LENGTH))).not.toThrow();
    const e = refusal('a'.repeat(NAME_FILTER_MAX_LENGTH + 1));
    expect(e.status).toBe(400);
    expect(e.message).toBe(`NameFilter must be at most ${NAME_FILTER_MAX_LENGTH} characters`);
  });

  it('refuses an invalid expression as a 400 on the NameFilter parameter', () => {
    const e = refusal('(unclosed');
    expect(e).toMatchObject({ status: 400, code: 'invalid_value', source: { parameter: 'NameFilter' } });
    expect(e.message).toMatch(/^NameFilter is not a valid regular expression: /);
  });

  it.each(['(a+)+$', '(a*)*b', '([a-z]+)*x', '(.*a){30}'])('refuses %s, whose star height could backtrack exponentially', (pattern) => {
    expect(refusal(pattern).message).toMatch(/exponential time/);
  });

  it.each(['(a|a)*b', '(x|xy)+z', '(?:ab|a)*c'])('refuses the repeated alternation %s', (pattern) => {
    expect(refusal(pattern).message).toBe('NameFilter could take exponential time (a repeated group with alternatives); simplify it');
  });

  it('allows alternation that is not repeated, and repetition of a single branch', () => {
    expect(compileNameFilter('^(admin|viewer)-[a-z]+$').test('admin-x')).toBe(true);
    expect(compileNameFilter('(ab)+c').test('ababc')).toBe(true);
    expect(compileNameFilter('(a|b)?c').test('bc')).toBe(true);
  });
});
