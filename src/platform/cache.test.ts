// The cache primitive and the invalidation channel's fan-out, without a database.
import { describe, expect, it } from 'vitest';
import { Cache } from './cache.js';
import { startInvalidation } from './invalidation.js';

describe('Cache', () => {
  it('evicts every entry carrying a notified tag, and only those', () => {
    const c = new Cache<string>({ max: 10 });
    c.set('a', 'A', ['cred:1', 'tenant:t'], c.generation);
    c.set('b', 'B', ['cred:2', 'tenant:t'], c.generation);
    c.set('c', 'C', ['cred:3', 'tenant:u'], c.generation);
    c.invalidate(['cred:1']);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([undefined, 'B', 'C']);
    c.invalidate(['tenant:t']);
    expect([c.get('b'), c.get('c')]).toEqual([undefined, 'C']);
  });

  it('refuses a value loaded before an invalidation of one of its tags', () => {
    const c = new Cache<string>({ max: 10 });
    const since = c.generation;
    c.invalidate(['cred:other']);
    expect(c.set('a', 'A', ['cred:other2'], since)).toBe(true);
    c.invalidate(['cred:1']);
    expect(c.set('b', 'B', ['cred:1'], since)).toBe(false);
    const before = c.generation;
    c.clear();
    expect(c.set('c', 'C', ['cred:9'], before)).toBe(false);
  });

  it('re-indexes a key stored again under other tags', () => {
    const c = new Cache<string>({ max: 10 });
    c.set('a', 'A1', ['x'], c.generation);
    c.set('a', 'A2', ['y'], c.generation);
    c.invalidate(['x']);
    expect(c.get('a')).toBe('A2');
    c.invalidate(['y']);
    expect(c.get('a')).toBeUndefined();
  });

  it('keeps entries no longer than their lifetime, and the least recently used go first', async () => {
    const c = new Cache<string>({ max: 2 });
    c.set('short', 'S', [], c.generation, 20);
    expect(c.set('none', 'N', [], c.generation, 0)).toBe(false);
    await new Promise((r) => setTimeout(r, 40));
    expect(c.get('short')).toBeUndefined();
    c.set('a', 'A', [], c.generation);
    c.set('b', 'B', [], c.generation);
    c.get('a');
    c.set('c', 'C', [], c.generation);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual(['A', undefined, 'C']);
  });

  it('serves nothing while the channel is down, unless its lifetime alone keeps it correct', () => {
    const strict = new Cache<string>({ max: 10 });
    const timed = new Cache<string>({ max: 10, needsChannel: false });
    for (const c of [strict, timed]) {
      c.set('a', 'A', [], c.generation);
      c.setListening(false);
      expect(c.get('a')).toBeUndefined(); // forgotten either way: notifications may have been missed
      c.set('a', 'A', [], c.generation);
    }
    expect(strict.get('a')).toBeUndefined();
    expect(timed.get('a')).toBe('A');
    expect(new Cache<string>({ max: 0 }).set('a', 'A', [], 0)).toBe(false);
  });
});

describe('invalidation channel', () => {
  it('fans each notification out to every subscriber and tells them when it stops listening', async () => {
    let onMessage!: (payload: string) => void;
    let onState!: (listening: boolean) => void;
    const db = {
      kind: 'embedded' as const,
      pool: {} as never,
      listen: async (_channel: string, m: (p: string) => void, s: (l: boolean) => void) => {
        onMessage = m;
        onState = s;
        s(true);
        return async () => {};
      },
    };
    const warnings: string[] = [];
    const channel = await startInvalidation(db, { warn: (m) => warnings.push(m) });
    const a = new Cache<string>({ max: 10 });
    const b = new Cache<string>({ max: 10 });
    channel.subscribe(a);
    const off = channel.subscribe(b);
    a.set('k', 'A', ['cred:1'], a.generation);
    b.set('k', 'B', ['cred:1'], b.generation);
    onMessage('subject:9 cred:1');
    expect([a.get('k'), b.get('k')]).toEqual([undefined, undefined]);
    off();
    b.set('k', 'B', ['cred:1'], b.generation);
    onMessage('cred:1');
    expect(b.get('k')).toBe('B');
    onState(false);
    expect(channel.listening).toBe(false);
    expect(a.enabled).toBe(false);
    expect(warnings).toHaveLength(1);
    onState(true);
    expect(a.enabled).toBe(true);
  });
});
