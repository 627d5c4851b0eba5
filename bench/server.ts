// Starts the real server in a child process (so the load generator does not share its
// event loop), on a fresh PostgreSQL database when BENCH_DATABASE_URL names a server
// (default: the local one), or the embedded database when it is "embedded".
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { generatePat } from '../src/principals/pat.js';

export interface BenchServer {
  base: string;
  /** The server process (RSS sampling). */
  pid: number;
  pat: string;
  databaseUrl?: string;
  /** Shared by further instances on the same database (signing and CA keys are sealed with it). */
  masterKey: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The arguments `npm start` passes to node ("node --flag dist/src/server.js" without "node"). */
export function npmStartArgs(): string[] {
  const [node, ...args] = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ');
  if (node !== 'node') throw new Error('npm start no longer runs node directly: update bench/server.ts');
  return args;
}

export async function startBenchServer(env: Record<string, string> = {}): Promise<BenchServer> {
  const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  // A further instance on an existing database (env.DATABASE_URL): nothing to create or drop.
  let databaseUrl: string | undefined = env.DATABASE_URL || undefined;
  let drop = async () => {};
  if (!databaseUrl && serverUrl !== 'embedded') {
    const name = `iam_bench_${randomBytes(4).toString('hex')}`;
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    await c.query(`CREATE DATABASE "${name}"`);
    await c.end();
    const u = new URL(serverUrl);
    u.pathname = '/' + name;
    databaseUrl = u.toString();
    drop = async () => {
      const d = new pg.Client({ connectionString: serverUrl });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await d.end();
    };
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'iam-bench-'));
  const port = await freePort();
  const pat = env.BOOTSTRAP_ADMIN_PAT ?? generatePat();
  const masterKey = env.MASTER_KEY ?? randomBytes(32).toString('hex');
  // BENCH_COMPILED=1: what `npm start` runs, its node flags included (dist/, built beforehand), instead of the sources through tsx.
  const entry = process.env.BENCH_COMPILED === '1' ? npmStartArgs() : ['--import', 'tsx', 'src/server.ts'];
  const proc: ChildProcess = spawn(process.execPath, entry, {
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl ?? '',
      // Under the test suite, the server's log joins the suite's captured log (scanned for secrets).
      LOG_LEVEL: process.env.TEST_LOG_FILE ? 'trace' : 'warn',
      BOOTSTRAP_ADMIN_PAT: pat,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      ...env,
      MASTER_KEY: masterKey,
    },
    stdio: ['ignore', process.env.TEST_LOG_FILE ? openSync(process.env.TEST_LOG_FILE, 'a') : 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 60_000;
  while (
    !(await fetch(`${base}/api/v3/health/readiness`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (proc.exitCode !== null || Date.now() > until) throw new Error('bench server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    pid: proc.pid!,
    pat,
    databaseUrl,
    masterKey,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      await drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
