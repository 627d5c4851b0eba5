import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const OPENSSL = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find(existsSync);

export async function openssl(args: string[], cwd?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(OPENSSL!, args, { cwd, maxBuffer: 8 << 20 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}

export interface Workdir {
  dir: string;
  file(name: string): string;
  read(name: string): Buffer;
  remove(): void;
}

export function workdir(): Workdir {
  const dir = mkdtempSync(path.join(tmpdir(), 'pki-test-'));
  return {
    dir,
    file: (name) => path.join(dir, name),
    read: (name) => readFileSync(path.join(dir, name)),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A key and CSR made by the openssl CLI; `key` is an openssl -newkey spec such as rsa:2048 or ec:<paramfile>. */
export async function makeCsr(w: Workdir, base: string, opts: { newkey?: string; subj?: string; der?: boolean } = {}) {
  const args = [
    'req',
    '-new',
    '-newkey',
    opts.newkey ?? 'rsa:2048',
    '-nodes',
    '-keyout',
    w.file(`${base}.key`),
    '-out',
    w.file(`${base}.csr`),
    '-subj',
    opts.subj ?? `/CN=${base}`,
  ];
  if (opts.der) args.push('-outform', 'DER');
  const r = await openssl(args);
  if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return w.read(`${base}.csr`);
}
