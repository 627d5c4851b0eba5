// Resident memory of the compiled server (what `npm start` runs), idle and after a validate
// load, against a PostgreSQL server and on the embedded database (first start, which copies the
// build's template, and a later start on the same DATA_DIR), beside a bare Fastify app with one route.
// Targets (issue 17): idle <= 150 MB against a server, <= 300 MB embedded.
//   npm run bench -- memory [seconds of load, default 10]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { freePort, startBenchServer, type BenchServer } from './server.js';

const seconds = Number(process.argv[2] ?? 10);
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const settle = () => new Promise((r) => setTimeout(r, 3000));

if (spawnSync(process.execPath, ['scripts/build-if-changed.mjs'], { stdio: 'inherit' }).status !== 0) process.exit(1);
process.env.BENCH_COMPILED = '1';

async function bareFastify(): Promise<number> {
  const port = await freePort();
  const code = `import('fastify').then(async ({ default: f }) => { const app = f(); app.get('/', async () => ({ ok: true })); await app.listen({ port: ${port}, host: '127.0.0.1' }); })`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  while (
    !(await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.ok,
      () => false,
    ))
  )
    await new Promise((r) => setTimeout(r, 50));
  await settle();
  const rss = rssMiB(proc.pid!);
  proc.kill();
  return rss;
}

async function loaded(server: BenchServer): Promise<number> {
  await autocannon({
    url: `${server.base}/api/v3/session/validate-token`,
    headers: { authorization: `Bearer ${server.pat}` },
    connections: 50,
    duration: seconds,
  });
  await settle();
  return rssMiB(server.pid);
}

const rows: [string, number, number][] = [];
const measure = async (label: string, env: Record<string, string> = {}) => {
  const server = await startBenchServer(env);
  try {
    await settle();
    const idle = rssMiB(server.pid);
    rows.push([label, idle, await loaded(server)]);
  } finally {
    await server.stop();
  }
};

const floor = await bareFastify();
await measure('PostgreSQL server');
process.env.BENCH_DATABASE_URL = 'embedded';
const dataDir = mkdtempSync(path.join(tmpdir(), 'iam-bench-memory-'));
await measure('embedded, first start', { DATA_DIR: dataDir });
await measure('embedded, later start', { DATA_DIR: dataDir });
rmSync(dataDir, { recursive: true, force: true });

console.log(`\nRSS in MiB (bare Fastify 5 app with one route: ${floor.toFixed(0)})`);
console.log(`${'mode'.padEnd(24)} ${'idle'.padStart(7)} ${`after ${seconds} s validate`.padStart(22)}`);
for (const [label, idle, after] of rows) console.log(`${label.padEnd(24)} ${idle.toFixed(0).padStart(7)} ${after.toFixed(0).padStart(22)}`);
