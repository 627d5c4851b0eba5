// Runs before `npm start` and `npm run cli`: compiles src/ into dist/ when a source changed since the
// last build, and otherwise costs a directory walk (tens of milliseconds instead of tsc's second or more
// to find out that nothing changed). A production install without dev dependencies (no TypeScript)
// runs the dist/ it was shipped with.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';

const BUILD_INFO = 'dist/tsconfig.build.tsbuildinfo';
const ENTRY = 'dist/src/server.js';

/** Newest mtime under the build's inputs; directories count, so a deleted or renamed file counts too. */
function newestInput() {
  let newest = 0;
  const visit = (p) => {
    const s = statSync(p);
    newest = Math.max(newest, s.mtimeMs);
    if (s.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
  };
  for (const p of ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json']) if (existsSync(p)) visit(p);
  return newest;
}

if (!existsSync('node_modules/typescript')) {
  if (existsSync(ENTRY)) process.exit(0);
  console.error(`${ENTRY} is missing and TypeScript is not installed: run \`npm ci && npm run build\` where dev dependencies are installed.`);
  process.exit(1);
}
if (existsSync(BUILD_INFO) && existsSync(ENTRY) && statSync(BUILD_INFO).mtimeMs >= newestInput()) process.exit(0);

const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b', 'tsconfig.build.json'], { stdio: 'inherit' });
// tsc leaves the build info untouched when sources changed in time only: mark a good build current, and a
// failed one (type errors) stale, so the next start reports the errors again instead of running past them.
if (existsSync(BUILD_INFO)) {
  const when = r.status === 0 ? new Date() : new Date(0);
  utimesSync(BUILD_INFO, when, when);
}
process.exit(r.status ?? 1);
