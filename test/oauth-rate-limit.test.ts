import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_LOGIN: '3', RATE_LIMIT_TOKEN: '4', RATE_LIMIT_AUTHORIZE: '2' });
}, 60_000);
afterAll(() => t?.close());

const statuses = async (n: number, send: () => Promise<{ statusCode: number }>) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send()).statusCode);
  return out;
};

describe('rate limits', () => {
  it('limit the login form, the token endpoint and the authorize endpoint per client address', async () => {
    const login = await statuses(4, () =>
      t.app.inject({ method: 'POST', url: '/ui/login', payload: 'email=a%40b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    );
    expect(login.slice(0, 3)).not.toContain(429);
    expect(login[3]).toBe(429);
    const token = await statuses(5, () =>
      t.app.inject({
        method: 'POST',
        url: '/oauth/v2/token',
        payload: 'grant_type=client_credentials',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );
    expect(token.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(token[4]).toBe(429);
    const authorize = await statuses(3, () => t.app.inject({ method: 'GET', url: '/oauth/v2/authorize?client_id=x' }));
    expect(authorize).toEqual([400, 400, 429]);
  });
});
