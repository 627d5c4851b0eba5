// Runs before `npm start` and `npm run cli`: compiles src/ into dist/ when a source changed since the
// last build, and otherwise costs a directory walk (tens of milliseconds instead of tsc's second or more
// to find out that nothing changed). A production install without dev dependencies (no TypeScript)
// runs the dist/ it was shipped with.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const STAMP = 'dist/.inputs-stamp';
const ENTRY = 'dist/src/server.js';

/**
 * A fingerprint of the build's inputs: every path with its size and nanosecond mtime. Comparing it for
 * equality, not "newer than the last build", is what makes a file written a moment after a build count:
 * file times come from the kernel's coarse clock, which can lag the wall clock by a tick.
 */
function inputsFingerprint() {
  const hash = createHash('sha256');
  const visit = (p) => {
    const s = statSync(p, { bigint: true });
    hash.update(`${p}\0${s.size}\0${s.mtimeNs}\n`);
    if (s.isDirectory()) for (const name of readdirSync(p).sort()) visit(path.join(p, name));
  };
  for (const p of ['src', 'prisma/migrations', 'tsconfig.json', 'tsconfig.build.json', 'package.json']) if (existsSync(p)) visit(p);
  return hash.digest('hex');
}

if (!existsSync('node_modules/typescript')) {
  if (existsSync(ENTRY)) process.exit(0);
  console.error(`${ENTRY} is missing and TypeScript is not installed: run \`npm ci && npm run build\` where dev dependencies are installed.`);
  process.exit(1);
}
const inputs = inputsFingerprint();
if (existsSync(ENTRY) && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === inputs) process.exit(0);

// The same two steps as `npm run build`: compile, then the embedded database's template (a no-op when
// current; a project without the template's entry point, as in this script's own test, has only the first).
const TEMPLATE = 'dist/src/write-embedded-template.js';
let r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b', 'tsconfig.build.json'], { stdio: 'inherit' });
if (r.status === 0 && existsSync(TEMPLATE)) r = spawnSync(process.execPath, [TEMPLATE], { stdio: 'inherit' });
// The stamp is of the inputs as they were before tsc read them, so an edit during the build counts as a
// change; a failed build (type errors) leaves no stamp, so the next start reports the errors again.
if (r.status === 0) writeFileSync(STAMP, inputs);
else rmSync(STAMP, { force: true });
process.exit(r.status ?? 1);
