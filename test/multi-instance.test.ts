// Several instances on one PostgreSQL server: revocation through one reaches the
// caches of the others through NOTIFY, and a lost listener never serves stale access.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testLogger } from './helpers/log-capture.js';
import { buildApp } from '../src/http/app.js';
import { LISTENER_APPLICATION_NAME, openDatabase, type Database } from '../src/platform/db.js';
import { bearer, createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';

describe.runIf(process.env.TEST_DATABASE_URL)('multiple instances on one PostgreSQL', () => {
  let a: TestApp;
  const others: { app: FastifyInstance; db: Database }[] = [];
  let tenantId: string;

  beforeAll(async () => {
    a = await startTestApp();
    for (let i = 0; i < 2; i++) {
      const db = await openDatabase({ url: a.db.url, poolMax: 3 });
      const app = await buildApp({ config: a.config, db, masterKey: randomBytes(32), logger: testLogger() });
      await app.ready();
      others.push({ app, db });
    }
    tenantId = await createTenant(a, 'Shared');
  });
  afterAll(async () => {
    for (const o of others) {
      await o.app.close();
      await o.db.close();
    }
    await a?.close();
  });

  const validate = (app: FastifyInstance, token: string) =>
    app.inject({ method: 'GET', url: '/api/v3/session/validate-token', headers: bearer(token) }).then((r) => r.statusCode);

  it('a PAT revoked through one instance is refused by the others within 1 s', async () => {
    const { pat, patId } = await seedServiceAccountPat(t(), tenantId, ['tenant-user']);
    // Warm every instance's cache.
    for (let i = 0; i < 5; i++) for (const o of others) await validate(o.app, pat);
    for (const o of others) expect(await validate(o.app, pat)).toBe(200);

    const revokedAt = Date.now();
    await a.db.prisma.personalAccessToken.delete({ where: { id: patId } });
    const delays: number[] = [];
    for (const o of others) {
      while ((await validate(o.app, pat)) === 200) {
        if (Date.now() - revokedAt > 1000) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      delays.push(Date.now() - revokedAt);
      expect(await validate(o.app, pat)).toBe(401);
    }
    console.log(`revocation propagated to ${others.length} instances in ${delays.join(', ')} ms`);
    expect(Math.max(...delays)).toBeLessThan(1000);
  });

  it('with its listener cut, an instance checks the database and still refuses revoked credentials', async () => {
    const { pat, patId } = await seedServiceAccountPat(t(), tenantId, ['tenant-user']);
    const b = others[0]!.app;
    expect(await validate(b, pat)).toBe(200);
    let lost = false;
    const unsubscribe = b.invalidation.subscribe({ invalidate() {}, setListening: (listening) => void (lost ||= !listening) });
    // Cut every listener connection of this database (found by name: its last query is a heartbeat as
    // often as its LISTEN): notifications sent now are lost.
    const dbName = new URL(a.db.url).pathname.slice(1);
    const cut = await a.db.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`, [
      dbName,
      LISTENER_APPLICATION_NAME,
    ]);
    expect(cut.rowCount).toBeGreaterThanOrEqual(2);
    // The backend dies a moment after the signal, and the instance learns of it from the
    // closed socket (or, on a silent partition, from its heartbeat within ~4 s).
    const noticeBy = Date.now() + 6000;
    while (!lost && Date.now() < noticeBy) await new Promise((r) => setTimeout(r, 5));
    unsubscribe();
    expect(lost).toBe(true);
    await a.db.prisma.personalAccessToken.delete({ where: { id: patId } });
    expect(await validate(b, pat)).toBe(401);
    // The listener comes back by itself and the cache is used again.
    const until = Date.now() + 10_000;
    while (!b.credentialCache.enabled && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(b.credentialCache.enabled).toBe(true);
  });

  const t = () => a;
});
