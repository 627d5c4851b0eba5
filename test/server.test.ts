// The server as a newcomer runs it: a real process, the embedded database under
// DATA_DIR (or a fresh PostgreSQL database when TEST_DATABASE_URL is set).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/net.js';
import { scratchDatabase } from './helpers/db.js';

interface Running {
  proc: ChildProcess;
  out: () => string;
  base: string;
}

async function start(env: Record<string, string>): Promise<Running> {
  const port = await freePort();
  let out = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const base = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${out}`);
    const ok = await fetch(`${base}/api/v3/health/readiness`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    // Generous: a loaded CI machine is slower; the time to ready is a figure, not an assertion.
    if (Date.now() - started > 30_000) throw new Error(`not ready within 30 s: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, out: () => out, base };
}

async function stop(r: Running): Promise<number | null> {
  r.proc.kill('SIGTERM');
  await new Promise((resolve) => r.proc.once('exit', resolve));
  return r.proc.exitCode;
}

let env: Record<string, string>;
let dataDir: string;
let dropDb: (() => Promise<void>) | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'iam-server-'));
  env = { DATA_DIR: dataDir, DATABASE_URL: '', MASTER_KEY: randomBytes(32).toString('hex'), BASE_DOMAIN: 'iam.test' };
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    const scratch = await scratchDatabase(serverUrl, 'iam_server');
    env.DATABASE_URL = scratch.url;
    dropDb = scratch.drop;
  }
});
afterAll(async () => {
  await dropDb?.();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('server process', () => {
  let pat = '';

  it('starts ready and prints the bootstrap credentials once', async () => {
    const r = await start(env);
    try {
      const out = r.out();
      expect(out).toContain('shown ONCE');
      pat = /Operator PAT\s+: (pca_\S+)/.exec(out)![1]!;
      expect(/Admin password\s+: (\S+)/.exec(out)![1]).toMatch(/^A[0-9A-Za-z]{22}7z$/);

      // The done-when flow over real HTTP: create a tenant, register its subdomain, read it back.
      const auth = { authorization: `Bearer ${pat}`, 'content-type': 'application/vnd.api+json' };
      const created = await fetch(`${r.base}/api/v3/tenants`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ data: { attributes: { name: 'Acme' } } }),
      });
      expect(created.status).toBe(201);
      const id = (await created.json()).data.id;
      const put = await fetch(`${r.base}/api/v3/onboarding/tenant-identity`, {
        method: 'PUT',
        headers: auth,
        body: JSON.stringify({ data: { type: 'tenantInfo', attributes: { tenantId: id, subdomain: 'acme', name: 'Acme' } } }),
      });
      expect(put.status).toBe(200);
      const { request } = await import('node:http');
      const info = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${r.base}/api/v3/onboarding/tenant-info`, { headers: { host: 'acme.iam.test' } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(info.status).toBe(200);
      expect(JSON.parse(info.body).data.attributes).toMatchObject({ tenantId: id, subdomain: 'acme' });
    } finally {
      expect(await stop(r)).toBe(0);
      expect(r.out()).toContain('shutting down');
    }
  });

  it('does not print credentials again on the next start, and the PAT still works', async () => {
    const r = await start(env);
    try {
      expect(r.out()).not.toContain('shown ONCE');
      expect(r.out()).not.toContain(pat);
      const res = await fetch(`${r.base}/api/v3/tenants`, { headers: { authorization: `Bearer ${pat}` } });
      expect(res.status).toBe(200);
    } finally {
      await stop(r);
    }
  });

  it('takes the bootstrap credentials from the environment and never prints them', async () => {
    const { generatePat } = await import('../src/principals/pat.js');
    const myPat = generatePat();
    const dir = mkdtempSync(path.join(tmpdir(), 'iam-server-env-'));
    const r = await start({
      ...env,
      DATABASE_URL: '',
      DATA_DIR: dir,
      BOOTSTRAP_ADMIN_USERNAME: 'root@ops.test',
      BOOTSTRAP_ADMIN_PASSWORD: 'Correct-Horse-9-Battery',
      BOOTSTRAP_ADMIN_PAT: myPat,
    });
    try {
      expect(r.out()).toContain('(from BOOTSTRAP_ADMIN_PAT)');
      expect(r.out()).not.toContain(myPat);
      expect(r.out()).not.toContain('Correct-Horse-9-Battery');
      const res = await fetch(`${r.base}/api/v3/tenants`, { headers: { authorization: `Bearer ${myPat}` } });
      expect(res.status).toBe(200);
    } finally {
      await stop(r);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
