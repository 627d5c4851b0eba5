import { describe, expect, it } from 'vitest';
import { describeClash, IdentityIndex, userIdentityProblems } from './identity.js';

describe('IdentityIndex (the identity rule over rows held in memory)', () => {
  const index = () =>
    new IdentityIndex((s) => s.toLowerCase(), [{ id: 'u1', username: 'Alice', email: 'Alice@Example.test' }], [{ id: 's1', username: 'Robot-1' }]);

  it('finds a username held by a user or a service account, and an email, in any case', () => {
    expect(index().clashes({ username: 'ALICE', email: 'alice@example.TEST' })).toEqual([
      { field: 'username', value: 'ALICE', holder: 'user' },
      { field: 'email', value: 'alice@example.TEST', holder: 'user' },
    ]);
    expect(index().clashes({ username: 'robot-1' })).toEqual([{ field: 'username', value: 'robot-1', holder: 'serviceAccount' }]);
    expect(index().clashes({ username: 'bob', email: 'bob@example.test' })).toEqual([]);
  });

  it('is no clash with the principal itself, of the same kind only', () => {
    expect(index().clashes({ username: 'alice', email: 'ALICE@example.test' }, { kind: 'user', id: 'u1' })).toEqual([]);
    expect(index().clashes({ username: 'Robot-1' }, { kind: 'user', id: 's1' })).toHaveLength(1);
  });

  it('moves a principal to its new names when it claims them', () => {
    const i = index();
    i.claim({ kind: 'user', id: 'u1' }, { username: 'Alicia', email: 'alicia@example.test' }, { username: 'Alice', email: 'Alice@Example.test' });
    expect(i.clashes({ username: 'alice', email: 'alice@example.test' })).toEqual([]);
    expect(i.clashes({ username: 'ALICIA' })).toHaveLength(1);
    // A service account's claim takes no email.
    i.claim({ kind: 'serviceAccount', id: 's2' }, { username: 'ci', email: 'ci@example.test' });
    expect(i.clashes({ email: 'ci@example.test' })).toEqual([]);
  });

  it('words a clash for reports', () => {
    expect(describeClash({ field: 'username', value: 'X', holder: 'serviceAccount' })).toBe('The username "X" is already taken by a service account');
    expect(describeClash({ field: 'email', value: 'x@y', holder: 'user' })).toBe('The email "x@y" is already in use');
  });
});

describe("userIdentityProblems (the syntax of a stored user's names)", () => {
  it('accepts what IdPs send, refuses empty, overlong and control characters, and non-emails', () => {
    expect(userIdentityProblems({ username: 'dave%x', email: 'dave@f.test' })).toEqual([]);
    expect(userIdentityProblems({ username: '' }).map((p) => p.field)).toEqual(['username']);
    expect(userIdentityProblems({ username: 'a'.repeat(257) }).map((p) => p.field)).toEqual(['username']);
    expect(userIdentityProblems({ username: 'a\u0007b' }).map((p) => p.field)).toEqual(['username']);
    expect(userIdentityProblems({ email: 'not-an-email' }).map((p) => p.field)).toEqual(['email']);
    expect(userIdentityProblems({ email: `${'a'.repeat(315)}@b.test` }).map((p) => p.field)).toEqual(['email']);
  });
});
