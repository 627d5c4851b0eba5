import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/platform/config.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 8080, HOST: '127.0.0.1', PUBLIC_URL: 'http://localhost:8080', DATA_DIR: './data', LOG_LEVEL: 'info' });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.trustedProxies.check('127.0.0.1')).toBe(false);
    expect(c).toMatchObject({ LOGIN_MAX_FAILURES: 5, LOGIN_LOCKOUT_SECONDS: 900 });
  });

  it('parses lists and CIDRs', () => {
    const c = loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8, ::1, 192.168.1.7', CORS_ORIGINS: 'https://a.test,https://b.test/' });
    expect(c.trustedProxies.check('10.2.3.4')).toBe(true);
    expect(c.trustedProxies.check('::1', 'ipv6')).toBe(true);
    expect(c.trustedProxies.check('192.168.1.8')).toBe(false);
    expect(c.CORS_ORIGINS).toEqual(['https://a.test', 'https://b.test']);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x@y/z'],
    ['PUBLIC_URL', 'ftp://x'],
    ['BASE_DOMAIN', 'not a domain'],
    ['MASTER_KEY', 'short'],
    ['TRUSTED_PROXIES', '10.0.0.0/33'],
    ['TRUSTED_PROXIES', 'example.com'],
    ['CORS_ORIGINS', 'not-a-url'],
    ['LOG_LEVEL', 'loud'],
    ['SMTP_URL', 'http://mail'],
    ['BOOTSTRAP_ADMIN_PASSWORD', 'short'],
    ['LOGIN_MAX_FAILURES', '0'],
    ['LOGIN_LOCKOUT_SECONDS', 'forever'],
  ])('refuses %s=%s with one line naming the variable', (name, value) => {
    let err: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toMatch(new RegExp(`^Invalid configuration: ${name}: `));
    expect(message).not.toContain('\n');
  });

  it('never echoes secret values in the error', () => {
    expect(() => loadConfig({ MASTER_KEY: 'hunter2-secret' })).toThrow(/<redacted>/);
    expect(() => loadConfig({ MASTER_KEY: 'hunter2-secret' })).not.toThrow(/hunter2/);
  });

  it('stops the server at start-up with that one line and exit code 1', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { ...process.env, PORT: 'nope', DATABASE_URL: '' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^Invalid configuration: PORT: /)]);
  });

  it('refuses a BOOTSTRAP_ADMIN_PAT that is not one of our PATs', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { ...process.env, BOOTSTRAP_ADMIN_PAT: 'pca_wrong', DATABASE_URL: '' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^Invalid configuration: BOOTSTRAP_ADMIN_PAT: /);
  });
});
