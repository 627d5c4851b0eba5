// npm start's prestart step (scripts/build-if-changed.mjs) on a one-file project with the real tsconfig
// files: it compiles when a source changed, skips tsc when nothing did, keeps reporting a failed build,
// and runs a shipped dist/ where TypeScript is not installed.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SCRIPT = path.resolve('scripts/build-if-changed.mjs');
let dir: string;

function prestart(cwd = dir) {
  return spawnSync(process.execPath, [SCRIPT], { cwd, encoding: 'utf8' });
}
const buildInfo = () => statSync(path.join(dir, 'dist/tsconfig.build.tsbuildinfo')).mtimeMs;
const compiled = () => readFileSync(path.join(dir, 'dist/src/server.js'), 'utf8');

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'iam-prestart-'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) copyFileSync(f, path.join(dir, f));
  symlinkSync(path.resolve('node_modules'), path.join(dir, 'node_modules'));
  mkdirSync(path.join(dir, 'src'));
  writeFileSync(path.join(dir, 'src/server.ts'), 'export const answer: number = 1;\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('prestart build', () => {
  it('compiles src/ the first time, then leaves an up-to-date dist/ alone without running tsc', () => {
    const first = prestart();
    expect(first.status, first.stdout + first.stderr).toBe(0);
    expect(compiled()).toContain('answer = 1');
    const built = buildInfo();
    const again = prestart();
    expect(again.status).toBe(0);
    // The build info is touched only after tsc runs: unchanged means tsc was not started.
    expect(buildInfo()).toBe(built);
  }, 120_000);

  it('recompiles after a source changes, and after a file is added', () => {
    writeFileSync(path.join(dir, 'src/server.ts'), 'export const answer: number = 2;\n');
    expect(prestart().status).toBe(0);
    expect(compiled()).toContain('answer = 2');
    writeFileSync(path.join(dir, 'src/extra.ts'), 'export const extra = 3;\n');
    expect(prestart().status).toBe(0);
    expect(existsSync(path.join(dir, 'dist/src/extra.js'))).toBe(true);
  }, 120_000);

  it('fails on a type error, and again on the next start instead of running the stale build', () => {
    writeFileSync(path.join(dir, 'src/server.ts'), "export const answer: number = 'two';\n");
    const broken = prestart();
    expect(broken.status).not.toBe(0);
    expect(broken.stdout + broken.stderr).toContain('TS2322');
    expect(prestart().status).not.toBe(0);
    writeFileSync(path.join(dir, 'src/server.ts'), 'export const answer: number = 4;\n');
    expect(prestart().status).toBe(0);
    expect(compiled()).toContain('answer = 4');
  }, 120_000);

  it('without TypeScript (a production install) runs a shipped dist/, and says what to do when there is none', () => {
    const prod = mkdtempSync(path.join(tmpdir(), 'iam-prestart-prod-'));
    try {
      const none = prestart(prod);
      expect(none.status).toBe(1);
      expect(none.stderr).toContain('npm run build');
      mkdirSync(path.join(prod, 'dist/src'), { recursive: true });
      writeFileSync(path.join(prod, 'dist/src/server.js'), '');
      expect(prestart(prod).status).toBe(0);
    } finally {
      rmSync(prod, { recursive: true, force: true });
    }
  });
});
