// Export/import throughput: time to export a tenant of BENCH_USERS users (with a group
// holding all of them), import it into an empty database, and re-import it (no-op).
// Usage: npx tsx bench/export.ts   (TEST_DATABASE_URL=postgresql://... for a real server)
// Prints each phase's time, users/s and the process's peak RSS so far.
import { buildExport } from '../src/export/service.js';
import { importDocument } from '../src/export/import.js';
import { freshDatabase } from '../test/helpers/db.js';

const USERS = Number(process.env.BENCH_USERS ?? 10000);
const argon = { memoryCost: 8192, timeCost: 1, parallelism: 1 };

const source = await freshDatabase();
const tenant = await source.prisma.tenant.create({ data: { name: 'Bench' } });
// Seeded in batches: one statement per 100,000 rows outlasts the pool's query timeout.
const BATCH = 5000;
for (let from = 0; from < USERS; from += BATCH) {
  await source.prisma.user.createMany({
    data: Array.from({ length: Math.min(BATCH, USERS - from) }, (_, k) => {
      const i = from + k;
      return {
        tenantId: tenant.id,
        username: `user-${i}`,
        email: `user-${i}@bench.test`,
        firstName: 'User',
        lastName: String(i),
        state: 'active',
        externalId: `ext-${i}`,
      };
    }),
  });
}
const group = await source.prisma.userGroup.create({ data: { tenantId: tenant.id, name: 'All' } });
const ids = await source.prisma.user.findMany({ where: { tenantId: tenant.id }, select: { id: true } });
for (let from = 0; from < ids.length; from += BATCH) {
  await source.prisma.groupMembership.createMany({
    data: ids.slice(from, from + BATCH).map((u) => ({ tenantId: tenant.id, groupId: group.id, userId: u.id })),
  });
}

const ctx = { prisma: source.prisma, actor: 'system' as const, dataDir: '/tmp', baseDomain: 'bench.test', argon };
/** Runs one phase; reports its time, rate and the process's highest RSS while it ran (sampled), beside the RSS before it. */
const time = async <T>(label: string, f: () => Promise<T>) => {
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  const r = await f();
  const ms = performance.now() - t0;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const mib = (b: number) => (b / 2 ** 20).toFixed(0).padStart(5);
  // With the embedded database, RSS includes the database's memory too.
  console.log(
    `${label.padEnd(40)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${((USERS / ms) * 1000).toFixed(0).padStart(7)} users/s  RSS ${mib(before)} MiB before, peak ${mib(peak)} MiB`,
  );
  return r;
};

console.log(`export/import benchmark: ${USERS} users in one tenant, ${source.kind} database`);
const doc = await time('export', () => buildExport(ctx, {}));
console.log(`document size ${(JSON.stringify(doc).length / 1e6).toFixed(1)} MB`);
const target = await freshDatabase();
await time('import into an empty database', () => importDocument(target.prisma, doc, { argon, baseDomain: 'bench.test', actor: 'system' }));
await time('re-import (nothing changes)', () => importDocument(target.prisma, doc, { argon, baseDomain: 'bench.test', actor: 'system' }));
await source.close();
await target.close();
