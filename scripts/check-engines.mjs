// Reads npm's output (stdin) and fails on an EBADENGINE warning for any package the server installs in
// production: package.json's "engines" promises the server runs on that Node, so no dependency it loads
// may say otherwise. The production tree is followed through the lockfile exactly as a production
// install resolves it: dependencies, optional dependencies and required peers, never dev dependencies
// and never optional peers (@prisma/client names the prisma CLI as one, which is how npm's own
// `--omit=dev` views still list the CLI's dev-server dependencies). Packages only the development tools
// use are listed without failing: they never run under `npm start` or in the image.
//   npm ci 2>&1 | tee npm-ci.log; node scripts/check-engines.mjs < npm-ci.log
import { readFileSync } from 'node:fs';

const output = readFileSync(0, 'utf8');
const flagged = [...output.matchAll(/EBADENGINE\s+package: '(.+?)@([^@']+)'/g)].map((m) => ({ name: m[1], version: m[2] }));
if (!flagged.length) {
  console.log('engines: no EBADENGINE warning');
  process.exit(0);
}

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const packages = lock.packages;

/** Node's lookup: the nearest node_modules/<name> from `from` up to the root. */
function resolve(from, name) {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up < 0 ? '' : dir.slice(0, up);
  }
}

const production = new Set();
const queue = [''];
while (queue.length) {
  const at = queue.shift();
  const pkg = packages[at];
  const optionalPeers = new Set(Object.keys(pkg.peerDependenciesMeta ?? {}).filter((n) => pkg.peerDependenciesMeta[n].optional));
  const names = [
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.optionalDependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}).filter((n) => !optionalPeers.has(n)),
  ];
  for (const name of names) {
    const path = resolve(at, name);
    if (path && !production.has(path)) {
      production.add(path);
      queue.push(path);
    }
  }
}

const isProduction = ({ name, version }) =>
  Object.entries(packages).some(([path, p]) => production.has(path) && path.endsWith(`node_modules/${name}`) && p.version === version);
const failing = flagged.filter(isProduction);
for (const f of flagged.filter((f) => !isProduction(f))) console.log(`engines: ${f.name}@${f.version} warns, but only development tools use it`);
for (const f of failing) console.error(`engines: ${f.name}@${f.version} does not support the Node versions package.json promises, and the server installs it`);
process.exit(failing.length ? 1 : 0);
