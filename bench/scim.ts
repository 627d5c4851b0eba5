// SCIM load figures: the lookups and membership patches an IdP sends during a sync.
// Usage: npx tsx bench/scim.ts   (TEST_DATABASE_URL=postgresql://... for a real server;
// BENCH_SECONDS, BENCH_USERS to tune). Prints figures; asserts nothing.
import autocannon from 'autocannon';
import { createTenant, seedServiceAccountPat, startTestApp } from '../test/helpers/app.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const USERS = Number(process.env.BENCH_USERS ?? 5000);

const t = await startTestApp();
const tenantId = await createTenant(t, 'Bench');
const { pat } = await seedServiceAccountPat(t, tenantId, ['tenant-admin']);
await t.db.prisma.user.createMany({
  data: Array.from({ length: USERS }, (_, i) => ({
    tenantId,
    username: `user-${i}@bench.test`,
    email: `user-${i}@bench.test`,
    firstName: 'User',
    lastName: String(i),
    state: 'active',
  })),
});
const ids = (await t.db.prisma.user.findMany({ where: { tenantId }, select: { id: true } })).map((u) => u.id);
const group = await t.db.prisma.userGroup.create({ data: { tenantId, name: 'Everyone' } });
await t.db.prisma.groupMembership.createMany({ data: ids.slice(0, USERS / 2).map((userId) => ({ tenantId, groupId: group.id, userId })) });

const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
const headers = { authorization: `Bearer ${pat}`, 'content-type': 'application/scim+json' };
const pick = () => Math.floor(Math.random() * USERS);

async function run(title: string, opts: Partial<autocannon.Options>) {
  const r = await autocannon({ url: address, connections: 10, duration: SECONDS, headers, ...opts });
  const errors = r.non2xx + r.errors;
  console.log(`${title.padEnd(58)} ${r.requests.average.toFixed(0).padStart(6)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  errors ${errors}`);
}

console.log(`SCIM benchmark: ${USERS} users, ${SECONDS}s per scenario, 10 connections, ${t.db.kind} database`);
await run('GET /Users?filter=userName eq "<random>"', {
  requests: [
    { method: 'GET', setupRequest: (req) => ({ ...req, path: `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "user-${pick()}@bench.test"`)}` }) },
  ],
});
await run('GET /Users?startIndex=<random>&count=100', {
  requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/scim/v2/Users?startIndex=${pick()}&count=100` }) }],
});
await run('GET /Groups/<id>?excludedAttributes=members', { requests: [{ method: 'GET', path: `/scim/v2/Groups/${group.id}?excludedAttributes=members` }] });
await run(`PATCH /Groups/<id> add|remove member (group of ${USERS / 2})`, {
  requests: [
    {
      method: 'PATCH',
      setupRequest: (req) => {
        const id = ids[pick()];
        const op = Math.random() < 0.5 ? { op: 'add', path: 'members', value: [{ value: id }] } : { op: 'remove', path: `members[value eq "${id}"]` };
        return {
          ...req,
          path: `/scim/v2/Groups/${group.id}?excludedAttributes=members`,
          body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [op] }),
        };
      },
    },
  ],
});
await t.close();
