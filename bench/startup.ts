// npm run bench -- startup [runs]: time from spawning the server to its first ready answer
// (/api/v3/health/readiness) on the embedded database: the first start on an empty DATA_DIR (migrations,
// master key, bootstrap) and later starts on the same directory, for the compiled server (what `npm start`
// and the Docker image run) and through tsx (what `npm run dev` runs), against `node -e ''` as the floor.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, npmStartArgs } from './server.js';

const runs = Math.max(1, Number(process.argv[2] ?? 3));

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function floor(): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['-e', '']);
  if (r.status !== 0) throw new Error('node -e failed');
  return ms(start);
}

/** Spawns the server, polls readiness every 10 ms, stops it; the time to the first 200. */
async function startOnce(argv: string[], dataDir: string): Promise<number> {
  const port = await freePort();
  const start = process.hrtime.bigint();
  const proc = spawn(process.execPath, argv, {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, DATABASE_URL: '', MASTER_KEY: '', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}): ${err}`);
      const ok = await fetch(`http://127.0.0.1:${port}/api/v3/health/readiness`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return ms(start);
      if (ms(start) > 120_000) throw new Error(`not ready within 120 s: ${err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    const exited = new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    proc.kill('SIGTERM');
    await exited;
  }
}

async function measure(label: string, argv: string[]): Promise<{ label: string; first: number; later: number[] }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'iam-startup-'));
  try {
    const first = await startOnce(argv, dataDir);
    const later: number[] = [];
    for (let i = 0; i < runs; i++) later.push(await startOnce(argv, dataDir));
    return { label, first, later };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// The compiled server is what is measured; build it first (a no-op when dist/ is current).
const build = spawnSync(process.execPath, ['scripts/build-if-changed.mjs'], { stdio: 'inherit' });
if (build.status !== 0) console.warn('warning: the build reported errors; measuring the dist/ it produced');

const floors = Array.from({ length: 5 }, floor);
const nodeFloor = median(floors);
const results = [await measure('compiled (npm start)', npmStartArgs()), await measure('tsx (npm run dev)', ['--import', 'tsx', 'src/server.ts'])];

const f = (x: number) => `${(x / 1000).toFixed(2)} s`;
console.log(`\nstart to ready, embedded database; ${runs} later start(s) per mode, median shown`);
console.log(
  `floor: node -e ''  ${nodeFloor.toFixed(0)} ms (median of ${floors.length}); load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}\n`,
);
console.log(['mode'.padEnd(22), 'first start'.padEnd(20), 'later start'.padEnd(20), 'later runs'].join(''));
for (const r of results) {
  const later = median(r.later);
  console.log(
    [
      r.label.padEnd(22),
      `${f(r.first)} (${(r.first / nodeFloor).toFixed(0)}x)`.padEnd(20),
      `${f(later)} (${(later / nodeFloor).toFixed(0)}x)`.padEnd(20),
      r.later.map((x) => f(x)).join(', '),
    ].join(''),
  );
}
const [compiled, tsx] = results;
console.log(
  `\ncompiled vs tsx: first start ${(compiled!.first / tsx!.first).toFixed(2)}, later start ${(median(compiled!.later) / median(tsx!.later)).toFixed(2)}`,
);
