// Rate limits behind a load balancer: with REDIS_URL, every instance counts in one store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { REDIS_SERVER, startRedis, type RedisServer } from './helpers/redis.js';

const login = (t: TestApp) =>
  t.app.inject({ method: 'POST', url: '/ui/login', payload: 'email=a%40b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' } });

describe.skipIf(!REDIS_SERVER)('rate limits in a shared store (REDIS_URL)', () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    redis = await startRedis();
    a = await startTestApp({ REDIS_URL: redis.url, RATE_LIMIT_LOGIN: '3' });
    b = await startTestApp({ REDIS_URL: redis.url, RATE_LIMIT_LOGIN: '3' });
  }, 120_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('hold for the deployment: requests spread over two instances share one limit', async () => {
    const statuses = [];
    for (const t of [a, b, a, b]) statuses.push((await login(t)).statusCode);
    expect(statuses.slice(0, 3)).not.toContain(429);
    expect(statuses[3]).toBe(429);
    expect((await login(a)).statusCode).toBe(429);
  });

  it('while the store is unreachable, requests are still answered (the limits are skipped)', async () => {
    await redis.stop();
    const res = await login(b);
    expect(res.statusCode).not.toBe(429);
    expect(res.statusCode).toBeLessThan(500);
  });
});

describe('REDIS_URL', () => {
  it('must be a redis:// or rediss:// URL, and the message does not echo it', async () => {
    const { loadConfig } = await import('../src/platform/config.js');
    expect(() => loadConfig({ REDIS_URL: 'http://:s3cret@cache:6379' })).toThrow(/REDIS_URL/);
    try {
      loadConfig({ REDIS_URL: 'http://:s3cret@cache:6379' });
    } catch (e) {
      expect(String(e)).not.toContain('s3cret');
    }
    expect(loadConfig({ REDIS_URL: 'rediss://:pw@cache:6380/2' }).REDIS_URL).toBe('rediss://:pw@cache:6380/2');
  });
});
