// No Docker engine runs here, so this test plays the Dockerfile's steps itself: it copies exactly the
// files the build stage's COPY lines name (minus .dockerignore) into an empty directory, runs the same
// RUN commands there, assembles the runtime stage the same way and starts its CMD until its HEALTHCHECK
// passes. A build input missing from the COPY lines (scripts/ importing test/, say) fails here.
// Two substitutions, because the real ones need the network or would damage the shared tree:
// `npm ci` becomes a link to this checkout's node_modules plus the install scripts npm ci would run, and
// `npm prune --omit=dev` becomes a check that the compiled code imports production dependencies only.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedTemplate } from '../src/platform/embedded-template.js';
import { freePort } from './helpers/net.js';
import { scratchDatabase } from './helpers/db.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name?: string;
  steps: Instruction[];
}

/** Instructions per stage, continuation lines joined, comments and parser directives dropped. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(l) ?? [];
    if (op.toUpperCase() === 'FROM') stages.push({ name: /\sAS\s+(\S+)/i.exec(args)?.[1], steps: [] });
    else stages.at(-1)!.steps.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

/** .dockerignore semantics: patterns anchored at the context root, a match covers everything below, `!` re-includes, last match wins. */
function dockerIgnore(text: string): (rel: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      const source = pattern
        .split('')
        .map((c, i, all) => {
          if (c === '*') return all[i + 1] === '*' ? '' : all[i - 1] === '*' ? '.*' : '[^/]*';
          if (c === '?') return '[^/]';
          return /[.+^${}()|[\]\\]/.test(c) ? `\\${c}` : c;
        })
        .join('');
      return { negate, re: new RegExp(`^${source}(/.*)?$`) };
    });
  return (rel) => rules.reduce((ignored, r) => (r.re.test(rel) ? !r.negate : ignored), false);
}

/** Splits `COPY [--flag=...] src... dest` (shell form; the JSON form is not used in our Dockerfile). */
function copyArgs(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  expect(rest.length, `COPY ${args}`).toBeGreaterThanOrEqual(2);
  return { from: flags.find((f) => f.startsWith('--from='))?.slice(7), sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

const REPO = process.cwd();
const dockerfile = parseDockerfile(readFileSync('Dockerfile', 'utf8'));
const ignored = dockerIgnore(existsSync('.dockerignore') ? readFileSync('.dockerignore', 'utf8') : '');

/** Copies a build-context path as `docker build` sends it: ignored files are not in the context. */
function copyFromContext(source: string, target: string) {
  const rel = path.posix.normalize(source);
  expect(existsSync(rel), `COPY ${source}: not in the build context`).toBe(true);
  expect(ignored(rel), `COPY ${source}: excluded by .dockerignore`).toBe(false);
  cpSync(rel, target, { recursive: true, filter: (from) => !ignored(path.relative(REPO, from).split(path.sep).join('/') || '.') });
}

/** Where an image path lands in the stage directory (relative paths are under WORKDIR). */
function inStage(root: string, workdir: string, p: string): string {
  return path.join(root, path.posix.resolve(workdir, p));
}

function copyInto(stageRoot: string, workdir: string, args: string, stageDirs: Map<string, { root: string }>) {
  const { from, sources, dest } = copyArgs(args);
  const target = inStage(stageRoot, workdir, dest);
  const intoDir = dest.endsWith('/') || sources.length > 1;
  for (const source of sources) {
    const to = intoDir ? path.join(target, path.posix.basename(source)) : target;
    mkdirSync(path.dirname(to), { recursive: true });
    if (from) {
      const other = stageDirs.get(from);
      expect(other, `COPY --from=${from}: no such stage`).toBeDefined();
      const src = path.join(other!.root, source);
      expect(existsSync(src), `COPY --from=${from} ${source}: the build stage did not produce it`).toBe(true);
      cpSync(src, to, { recursive: true, verbatimSymlinks: true });
    } else copyFromContext(source, to);
  }
}

function run(cmd: string, cwd: string) {
  const r = spawnSync('sh', ['-c', cmd], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${path.join(cwd, 'node_modules/.bin')}:${process.env.PATH}` },
  });
  expect(r.status, `RUN ${cmd} failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
}

/** RUN in the build stage: npm ci is replaced as described at the top; every other command runs as written. */
function runBuildStep(cmd: string, cwd: string, checks: { productionOnly: boolean }) {
  for (const part of cmd.split('&&').map((p) => p.trim())) {
    if (/^npm ci(\s|$)/.test(part)) {
      symlinkSync(path.join(REPO, 'node_modules'), path.join(cwd, 'node_modules'));
      const scripts = JSON.parse(readFileSync(path.join(cwd, 'package.json'), 'utf8')).scripts ?? {};
      for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) if (scripts[s]) run(scripts[s], cwd);
    } else if (/^npm prune --omit=dev$/.test(part)) checks.productionOnly = true;
    else if (/^npm (install|i|update|prune)\b/.test(part)) throw new Error(`RUN ${part}: this test does not know how to reproduce it offline`);
    else run(part, cwd);
  }
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js'))
    .map((f) => path.join(dir, f));
}

/** Packages the compiled code imports (static or dynamic) that are not listed in package.json's dependencies. */
function nonProductionImports(dist: string, dependencies: Record<string, string>): string[] {
  const missing = new Set<string>();
  for (const file of jsFiles(dist)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (!dependencies[pkg]) missing.add(`${pkg} (${path.relative(dist, file)})`);
    }
  }
  return [...missing];
}

let work: string;
let dataDir: string;
let dropDb: (() => Promise<void>) | undefined;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'iam-docker-'));
  dataDir = mkdtempSync(path.join(tmpdir(), 'iam-docker-data-'));
});
afterAll(async () => {
  await dropDb?.();
  if (work) rmSync(work, { recursive: true, force: true });
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('Docker image build, replayed without a Docker engine', () => {
  it('builds from exactly the copied files, needs only production dependencies at run time, and passes its own healthcheck', async () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    const stageDirs = new Map<string, { root: string }>();
    const checks = { productionOnly: false };
    let runtime: { root: string; workdir: string; env: Record<string, string>; user?: string; health?: string; cmd?: string[] } | undefined;

    for (const [i, stage] of dockerfile.entries()) {
      const root = path.join(work, `stage${i}`);
      mkdirSync(root);
      let workdir = '/';
      const env: Record<string, string> = {};
      let user: string | undefined;
      let health: string | undefined;
      let cmd: string[] | undefined;
      const last = i === dockerfile.length - 1;
      for (const { op, args } of stage.steps) {
        if (op === 'WORKDIR') {
          workdir = path.posix.resolve(workdir, args);
          mkdirSync(inStage(root, '/', workdir), { recursive: true });
        } else if (op === 'COPY') copyInto(root, workdir, args, stageDirs);
        else if (op === 'ENV') for (const m of args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
        else if (op === 'USER') user = args;
        else if (op === 'HEALTHCHECK') health = /\bCMD\s+(.*)$/.exec(args)?.[1];
        else if (op === 'CMD') cmd = JSON.parse(args);
        else if (op === 'RUN') {
          if (!last) runBuildStep(args, inStage(root, '/', workdir), checks);
          // The runtime stage only prepares the data volume's directory and its owner: that is the
          // test's DATA_DIR here, and the user check below covers the owner.
          else expect(args, 'a RUN step in the runtime stage this test cannot replay').toMatch(/^mkdir -p \/\S+( && chown \S+ \/\S+)?$/);
        } else if (!['EXPOSE', 'VOLUME', 'ARG', 'LABEL'].includes(op)) throw new Error(`${op}: not understood by this test`);
      }
      if (stage.name) stageDirs.set(stage.name, { root: path.join(root) });
      if (last) runtime = { root: inStage(root, '/', workdir), workdir, env, user, health, cmd };
    }

    // The image runs compiled JavaScript as an unprivileged user, with a healthcheck.
    expect(runtime!.user).toMatch(/^(?!root$|0$)\S+$/);
    expect(runtime!.health).toBeTruthy();
    // The command `npm start` runs, V8 flags included (README: the start command).
    expect(runtime!.cmd).toEqual(JSON.parse(readFileSync('package.json', 'utf8')).scripts.start.split(' '));
    expect(runtime!.cmd).toContain('dist/src/server.js');
    const app = runtime!.root;
    expect(statSync(path.join(app, 'dist/src/server.js')).isFile()).toBe(true);
    // Nothing but the server's own code and the embedded database's template goes into the image: no
    // tests, benchmarks or scripts.
    expect(
      readdirSync(path.join(app, 'dist'))
        .filter((f) => !f.endsWith('.tsbuildinfo'))
        .sort(),
    ).toEqual(['embedded-db', 'src']);
    // The template was made from the image's own migrations, so its first start skips initdb.
    expect(embeddedTemplate(path.join(app, 'dist/embedded-db'), path.join(app, 'prisma/migrations'))).toBe(path.join(app, 'dist/embedded-db/pgdata'));
    // The build stage's user (root) owns it and the runtime's USER copies it: every file readable by others.
    const unreadable = readdirSync(path.join(app, 'dist/embedded-db'), { recursive: true, encoding: 'utf8' })
      .map((f) => path.join(app, 'dist/embedded-db', f))
      .filter((f) => {
        const s = statSync(f);
        const others = s.isDirectory() ? 0o005 : 0o004; // read, and enter a directory
        return (s.mode & others) !== others;
      });
    expect(unreadable).toEqual([]);
    expect(checks.productionOnly, 'the build stage prunes dev dependencies').toBe(true);
    const { dependencies } = JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8'));
    expect(nonProductionImports(path.join(app, 'dist'), dependencies)).toEqual([]);

    // Start it as the image would (its ENV, its CMD, its WORKDIR), on a free port and a temporary volume.
    const port = String(await freePort());
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...runtime!.env,
      PORT: port,
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      MASTER_KEY: randomBytes(32).toString('hex'),
      DATABASE_URL: '',
      LOG_LEVEL: 'warn',
    };
    const serverUrl = process.env.TEST_DATABASE_URL;
    if (serverUrl) {
      const scratch = await scratchDatabase(serverUrl, 'iam_docker');
      env.DATABASE_URL = scratch.url;
      dropDb = scratch.drop;
    }
    let out = '';
    const [exe, ...argv] = runtime!.cmd!;
    const proc = spawn(exe === 'node' ? process.execPath : exe!, argv, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    try {
      const started = Date.now();
      for (;;) {
        expect(proc.exitCode, `the server exited:\n${out}`).toBeNull();
        const probe = spawnSync('sh', ['-c', runtime!.health!], { cwd: app, env, encoding: 'utf8' });
        if (probe.status === 0) break;
        if (Date.now() - started > 90_000) throw new Error(`the healthcheck never passed:\n${out}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    }
    expect(proc.exitCode).toBe(0);
  }, 300_000);
});
