// The embedded database lives in one process's memory: a second process on the same
// DATA_DIR (the CLI while the server runs) must be refused, not left to lose its writes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/platform/db.js';
import { runCli } from './helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'data-dir-lock-'));
let db: Database | undefined;
afterAll(() => db?.close());

const cli = (...args: string[]) => runCli(dir, ...args);

describe('an embedded data directory', () => {
  it('is refused to a second process while one has it open, in one line, and nothing is written', async () => {
    db = await openDatabase({ dataDir: dir });
    const run = await cli('create-tenant', '--name', 'Lost Write');
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      `error: The embedded database in ${dir} is open in another process (pid ${process.pid}), probably the server. ` +
        'Stop it first, or make the change through the API; a server and the CLI can share a PostgreSQL server (DATABASE_URL).',
    );
    await db.close();
    db = undefined;
  }, 120_000);

  it('is taken over from a holder that is gone, and the write lands', async () => {
    // A lock left by a process that died without releasing it (kill -9, a crash).
    writeFileSync(path.join(dir, 'pgdata.lock'), '999999999 1');
    const run = await cli('create-tenant', '--name', 'After A Crash');
    expect(run.code, run.stderr).toBe(0);
    expect(() => readFileSync(path.join(dir, 'pgdata.lock'))).toThrow(); // released at exit
    db = await openDatabase({ dataDir: dir });
    expect(await db.prisma.tenant.count({ where: { name: 'After A Crash' } })).toBe(1);
    expect(await db.prisma.tenant.count({ where: { name: 'Lost Write' } })).toBe(0);
  }, 120_000);
});
