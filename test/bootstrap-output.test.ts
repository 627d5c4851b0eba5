// Where the first start's credentials go: the terminal (stderr) and a file only the server's user can
// read, never the JSON log on stdout that log collectors ship.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCredentialsFile } from '../src/bootstrap/credentials-file.js';
import { freePort } from './helpers/net.js';
import { scratchDatabase } from './helpers/db.js';

let dir: string;
let dropDb: (() => Promise<void>) | undefined;
let databaseUrl = '';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'iam-bootstrap-out-'));
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    const scratch = await scratchDatabase(serverUrl, 'iam_bootout');
    databaseUrl = scratch.url;
    dropDb = scratch.drop;
  }
});
afterAll(async () => {
  await dropDb?.();
  rmSync(dir, { recursive: true, force: true });
});

describe('bootstrap credentials', () => {
  it('go to stderr and DATA_DIR/bootstrap-credentials.txt (0600), while stdout carries JSON log lines only', async () => {
    const dataDir = path.join(dir, 'data');
    const port = await freePort();
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: databaseUrl, MASTER_KEY: randomBytes(32).toString('hex'), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d) => (stdout += d));
    proc.stderr!.on('data', (d) => (stderr += d));
    try {
      const started = Date.now();
      for (;;) {
        expect(proc.exitCode, `server exited: ${stderr}`).toBeNull();
        const ok = await fetch(`http://127.0.0.1:${port}/api/v3/health/readiness`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (Date.now() - started > 90_000) throw new Error(`not ready within 90 s: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      const exited = new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      proc.kill('SIGTERM');
      await exited;
    }

    const pat = /Operator PAT\s+: (pca_\S+)/.exec(stderr)?.[1];
    const password = /Admin password\s+: (\S+)/.exec(stderr)?.[1];
    expect(pat).toMatch(/^pca_/);
    expect(password).toBeTruthy();
    const file = path.resolve(dataDir, 'bootstrap-credentials.txt');
    expect(stderr).toContain(`Also written to    : ${file} (mode 0600)`);
    // Both names the login form takes (username or email), and where that form is reached.
    expect(stderr).toContain(' Admin sign-in      : admin  (or admin@localhost; the login form takes either)');
    expect(stderr).toContain(`Sign in at         : http://localhost:${port}/docs`);

    const saved = readFileSync(file, 'utf8');
    expect(saved).toContain(pat);
    expect(saved).toContain(password);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const lines = stdout.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    expect(stdout).not.toContain(pat);
    expect(stdout).not.toContain(password);
    expect(stdout).not.toContain('shown ONCE');
  }, 120_000);

  it('the file replaces an older one of any mode instead of inheriting its permissions', () => {
    const file = path.join(dir, 'nested', 'bootstrap-credentials.txt');
    writeCredentialsFile(file, 'first');
    chmodSync(file, 0o644);
    writeFileSync(file, 'stale');
    writeCredentialsFile(file, 'second');
    expect(readFileSync(file, 'utf8')).toBe('second\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o077).toBe(0);
  });
});
