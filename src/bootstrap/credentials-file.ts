import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bootstrapBanner, type BootstrapResult } from './bootstrap.js';

/**
 * Hands the first start's credentials to the operator: on the terminal (stderr, never the JSON log on
 * stdout, which log collectors ship) and in DATA_DIR/bootstrap-credentials.txt, readable by the server's
 * user only, for a start nobody watched (a container, a service manager). DATA_DIR exists in both database
 * modes: against a PostgreSQL server it also holds exports. A file that cannot be written (a read-only
 * filesystem) leaves the terminal copy, and a note saying so.
 */
export function announceBootstrap(created: BootstrapResult, dataDir: string): void {
  const file = path.resolve(dataDir, 'bootstrap-credentials.txt');
  let saved: string | undefined;
  try {
    writeCredentialsFile(file, bootstrapBanner(created));
    saved = file;
  } catch (err) {
    process.stderr.write(`could not write ${file} (${err instanceof Error ? err.message : String(err)}): the credentials below are their only copy\n`);
  }
  process.stderr.write(bootstrapBanner(created, saved) + '\n');
}

/** Mode 0600 from the first byte; an older file (another database's credentials, any mode) is replaced, not reused. */
export function writeCredentialsFile(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  rmSync(file, { force: true });
  writeFileSync(file, text + '\n', { mode: 0o600, flag: 'wx' });
}
