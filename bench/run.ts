// npm run bench -- <name> [args]: runs bench/<name>.ts. Benchmarks print figures; they never assert timings.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const available = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3));
const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.log(`usage: npm run bench -- <${available.join('|') || 'none yet'}> [args]`);
  process.exit(name ? 2 : 0);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', new URL(`./${name}.ts`, import.meta.url).pathname, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
