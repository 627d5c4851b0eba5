import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { bootstrap } from '../../src/bootstrap/bootstrap.js';
import { buildApp } from '../../src/http/app.js';
import { loadConfig } from '../../src/platform/config.js';
import { openDatabase, type Database } from '../../src/platform/db.js';
import { migrate } from '../../src/platform/migrate.js';
import { generatePat, hashPat } from '../../src/principals/pat.js';
import { TEST_ENV } from './app.js';
import { scratchDatabase } from './db.js';

export interface Instances {
  apps: FastifyInstance[];
  dbs: Database[];
  /** A tenant with a tenant-admin service account whose PAT is `pat`. */
  tenantId: string;
  pat: string;
  close(): Promise<void>;
}

/**
 * `count` app instances sharing one fresh database on the PostgreSQL server at `serverUrl`
 * (migrated once, bootstrapped once), as several replicas behind a load balancer.
 */
export async function startInstances(serverUrl: string, count: number, env: Record<string, string>): Promise<Instances> {
  const scratch = await scratchDatabase(serverUrl, 'iam_test_instances');
  const config = loadConfig({ ...TEST_ENV, ...env });
  const masterKey = randomBytes(32);
  const apps: FastifyInstance[] = [];
  const dbs: Database[] = [];
  for (let i = 0; i < count; i++) {
    const db = await openDatabase({ url: scratch.url, poolMax: 3 });
    if (i === 0) await migrate(db.pool);
    dbs.push(db);
    const app = await buildApp({ config, db, masterKey, logger: false });
    await app.ready();
    apps.push(app);
  }
  await bootstrap(dbs[0]!, config);
  const tenantId = (await dbs[0]!.prisma.tenant.create({ data: { name: 'Tenant' } })).id;
  const pat = generatePat();
  await dbs[0]!.prisma.serviceAccount.create({
    data: {
      tenantId,
      name: 'adm',
      username: 'adm',
      roles: { create: [{ roleName: 'tenant-admin' }] },
      pats: { create: { tokenHash: hashPat(pat), expiresAt: new Date(Date.now() + 3600_000) } },
    },
  });
  return {
    apps,
    dbs,
    tenantId,
    pat,
    async close() {
      for (const app of apps) await app.close();
      for (const db of dbs) await db.close();
      await scratch.drop();
    },
  };
}
