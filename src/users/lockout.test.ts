// The login throttle's rules, without a database (the integration tests are test/login-throttle.test.ts).
import { describe, expect, it } from 'vitest';
import { addressFailures, clientAddressKey, decide, knownAddress, type AccountState, type AddressState, type ThrottlePolicy } from './lockout.js';

const policy: ThrottlePolicy = { maxFailuresPerAddress: 3, lockoutSeconds: 900 };
const now = new Date('2026-11-23T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000);
const account = (a: Partial<AccountState> = {}): AccountState => ({ state: 'active', failedLogins: 0, lockedUntil: null, maxAttempts: 10, ...a });
const address = (a: Partial<AddressState> = {}): AddressState => ({ failures: 0, lastFailureAt: null, lockedUntil: null, lastSuccessAt: null, ...a });

describe('clientAddressKey', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0002:ffff::1', '2001:db8:0:2::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['', 'unknown'],
    [undefined, 'unknown'],
    ['not-an-ip', 'unknown'],
  ])('%s → %s', (ip, key) => expect(clientAddressKey(ip)).toBe(key));

  it('puts every address of one /64 under one key, and another /64 under another', () => {
    expect(clientAddressKey('2001:db8:aa:bb::1')).toBe(clientAddressKey('2001:db8:aa:bb:ffff:ffff:ffff:ffff'));
    expect(clientAddressKey('2001:db8:aa:bb::1')).not.toBe(clientAddressKey('2001:db8:aa:bc::1'));
  });
});

describe('addressFailures', () => {
  it('counts failures until the lock ends or lockoutSeconds after the last one', () => {
    expect(addressFailures(null, policy, now)).toBe(0);
    expect(addressFailures(address({ failures: 2, lastFailureAt: ago(60) }), policy, now)).toBe(2);
    expect(addressFailures(address({ failures: 2, lastFailureAt: ago(900) }), policy, now)).toBe(0);
    expect(addressFailures(address({ failures: 3, lastFailureAt: ago(60), lockedUntil: ago(-10) }), policy, now)).toBe(3);
    expect(addressFailures(address({ failures: 3, lastFailureAt: ago(60), lockedUntil: ago(1) }), policy, now)).toBe(0);
  });
});

describe('decide', () => {
  it('admits an active account from an address under its limit, counting both', () => {
    expect(decide(account(), null, policy, now)).toEqual({ admit: true, release: false, countAccount: true });
    expect(decide(account({ failedLogins: 9 }), address({ failures: 2, lastFailureAt: ago(1) }), policy, now)).toMatchObject({ admit: true });
  });

  it('refuses a locked address without counting, whatever the account', () => {
    const locked = address({ failures: 3, lastFailureAt: ago(1), lockedUntil: ago(-60) });
    expect(decide(account(), locked, policy, now)).toEqual({ admit: false, lockAddress: false, lockAccount: false });
  });

  it('refuses and locks an address already at its limit (attempts in flight)', () => {
    expect(decide(account(), address({ failures: 3, lastFailureAt: ago(1) }), policy, now)).toEqual({ admit: false, lockAddress: true, lockAccount: false });
  });

  it('refuses and locks an account already at the tenant maximum; 0 means no account-wide limit', () => {
    expect(decide(account({ failedLogins: 10 }), null, policy, now)).toEqual({ admit: false, lockAddress: false, lockAccount: true });
    expect(decide(account({ failedLogins: 50, maxAttempts: 0 }), null, policy, now)).toMatchObject({ admit: true });
  });

  it('under a temporary account lock admits only an address the user signed in from, with no failure since', () => {
    const lockedAccount = account({ state: 'locked', failedLogins: 10, lockedUntil: ago(-300) });
    expect(decide(lockedAccount, null, policy, now)).toMatchObject({ admit: false });
    const known = address({ lastSuccessAt: ago(86400) });
    expect(knownAddress(known, policy, now)).toBe(true);
    expect(decide(lockedAccount, known, policy, now)).toEqual({ admit: true, release: false, countAccount: false });
    expect(decide(lockedAccount, { ...known, failures: 1, lastFailureAt: ago(5) }, policy, now)).toMatchObject({ admit: false });
    expect(decide(lockedAccount, address({ lastSuccessAt: ago(31 * 86400) }), policy, now)).toMatchObject({ admit: false });
  });

  it('releases an expired temporary lock and starts counting afresh', () => {
    expect(decide(account({ state: 'locked', failedLogins: 10, lockedUntil: ago(1) }), null, policy, now)).toEqual({
      admit: true,
      release: true,
      countAccount: true,
    });
  });

  it('never admits an admin lock, an inactive or an initial user', () => {
    for (const state of ['locked', 'inactive', 'initial'])
      expect(decide(account({ state }), address({ lastSuccessAt: ago(1) }), policy, now)).toMatchObject({ admit: false });
  });
});
