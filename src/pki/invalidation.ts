// Certificate status changes reach every instance through PostgreSQL LISTEN/NOTIFY.
// While the listening connection is down, `live` is false and callers must not trust
// their caches (they fall back to the database), so nothing revoked is ever accepted.
import pg from 'pg';
import type { Database } from '../platform/db.js';

export const CHANNEL = 'pki_cert_status';

export interface Invalidation {
  /** True when every status change made anywhere is known to reach this instance. */
  readonly live: boolean;
  onChange(fn: (serial: string) => void): void;
  close(): Promise<void>;
}

export function startInvalidation(db: Database, log: { warn(obj: object, msg: string): void }): Invalidation {
  const listeners: ((serial: string) => void)[] = [];
  const emit = (serial: string) => listeners.forEach((fn) => fn(serial));

  // The embedded database serves one process: the in-process path is complete.
  if (db.kind === 'embedded') {
    return { live: true, onChange: (fn) => void listeners.push(fn), close: async () => {} };
  }

  let client: pg.Client | undefined;
  let live = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const schedule = () => {
    if (!closed && !timer) timer = setTimeout(() => ((timer = undefined), void connect()), 1000);
  };
  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: db.url });
    c.on('error', () => {});
    c.on('end', () => {
      live = false;
      // A notification may have been missed while disconnected: drop every cached entry.
      emit('*');
      schedule();
    });
    c.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) emit(n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
      client = c;
      emit('*');
      live = true;
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, 'pki: LISTEN connection failed; retrying');
      await c.end().catch(() => {});
      schedule();
    }
  };
  void connect();

  return {
    get live() {
      return live;
    },
    onChange: (fn) => void listeners.push(fn),
    async close() {
      closed = true;
      live = false;
      if (timer) clearTimeout(timer);
      await client?.end().catch(() => {});
    },
  };
}
