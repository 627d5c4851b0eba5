// One process at a time may open an embedded database: PGlite keeps the database in the
// process's memory and writes it back to DATA_DIR, so a second process (the CLI while the
// server runs, a second server on the same DATA_DIR) works on its own copy, and one of
// the two loses its writes without a word. PostgreSQL guards its data directory with
// postmaster.pid; this is the same guard for ours.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export class DataDirInUse extends Error {}

/** The kernel's start time of a process (Linux), so that a reused pid is not taken for the holder. */
function startTimeOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function holderAlive(pid: number, startTime: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTimeOf(pid);
  return !startTime || !now || now === startTime;
}

/** Takes the lock of `dataDir` or throws DataDirInUse naming its holder; returns the release. */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, 'pgdata.lock');
  const mine = `${process.pid} ${startTimeOf(process.pid)}`;
  for (;;) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, mine);
      closeSync(fd);
      const release = () => {
        try {
          if (readFileSync(file, 'utf8') === mine) unlinkSync(file);
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return () => {
        process.off('exit', release);
        release();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const [pid, startTime = ''] = readFileSync(file, 'utf8').trim().split(' ');
    if (holderAlive(Number(pid), startTime)) {
      throw new DataDirInUse(
        `The embedded database in ${dataDir} is open in another process (pid ${pid}), probably the server. ` +
          'Stop it first, or make the change through the API; a server and the CLI can share a PostgreSQL server (DATABASE_URL).',
      );
    }
    unlinkSync(file); // its holder is gone (a crash, a killed process): take it over
  }
}
