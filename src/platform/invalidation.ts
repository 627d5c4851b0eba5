// Cross-instance cache invalidation: the one LISTEN on channel "iam_invalidate".
//
// Database triggers (prisma/migrations/*_invalidation) notify that channel with
// space-separated tags ("cred:<id>", "subject:<id>", "tenant:<id>", "group:<id>",
// "grant:<id>", "users:<tenant>", "crl:<authority>") whenever a change can alter what a
// cached answer says; every in-process cache subscribes here and evicts the entries
// carrying those tags. While the listening connection is down (the database's listener
// has a heartbeat, see db.ts), notifications may be missed: subscribers are told, forget
// everything and serve nothing until it listens again.
import { randomUUID } from 'node:crypto';
import type { Database } from './db.js';
import { invalidationLag, invalidationLossesTotal, invalidationsTotal, setInvalidationListening } from './metrics.js';

const CHANNEL = 'iam_invalidate';

/** A cache fed by the invalidation channel. */
export interface InvalidationSubscriber {
  invalidate(tags: string[]): void;
  /** Called on every change of state, and when notifications may have been missed: forget everything. */
  setListening(listening: boolean): void;
}

export interface Invalidation {
  /** True while every change committed anywhere is known to reach this instance. */
  readonly listening: boolean;
  /** Feeds a cache from the channel; it is told the current state at once. Returns an unsubscribe. */
  subscribe(subscriber: InvalidationSubscriber): () => void;
  /**
   * Read-your-writes on this instance: resolves once every invalidation committed before the
   * call has been applied here (bounded; past the bound every cache forgets everything).
   */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** Longest a successful change waits for its own invalidation marker (normally 1–3 ms). */
const BARRIER_MS = 200;

export async function startInvalidation(db: Pick<Database, 'kind' | 'listen' | 'pool'>, log: { warn(msg: string): void }): Promise<Invalidation> {
  const subscribers: InvalidationSubscriber[] = [];
  // Barriers of this instance waiting for their own marker (see settle()).
  const barriers = new Map<string, () => void>();
  let listening = false;

  const forgetAll = () => {
    for (const s of subscribers) s.setListening(listening); // which forgets everything
  };

  const unlisten = await db.listen(
    CHANNEL,
    (payload) => {
      if (payload.startsWith('sync:')) return barriers.get(payload)?.();
      invalidationsTotal.inc();
      const tags = payload.split(' ');
      for (const s of subscribers) s.invalidate(tags);
    },
    (now) => {
      if (listening && !now) invalidationLossesTotal.inc();
      listening = now;
      setInvalidationListening(now);
      forgetAll(); // messages may have been missed while not listening
      if (!listening) log.warn('cache invalidation channel lost; verifying every credential against the database');
    },
  );

  /*
   * Triggers notify at commit, but the notification reaches the listener a moment later; a
   * client that revokes a credential and at once presents it here must already be refused.
   * So a marker is notified and awaited: notifications arrive in commit order, hence once the
   * marker is back every invalidation committed before it has been applied. (The embedded
   * database delivers notifications before the query returns: nothing to wait for.)
   */
  async function settle(): Promise<void> {
    if (db.kind !== 'server' || !listening) return;
    const marker = `sync:${randomUUID()}`;
    const lag = invalidationLag.startTimer();
    let timer: NodeJS.Timeout | undefined;
    // Bounded: a slow or unreachable database must not hold a finished change's answer
    // back; if the marker is late, forgetting every cache is just as safe.
    const deadline = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), BARRIER_MS)));
    const arrived = new Promise<boolean>((resolve) => barriers.set(marker, () => resolve(true)));
    db.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, marker]).catch(() => {});
    const confirmed = await Promise.race([arrived, deadline]);
    clearTimeout(timer);
    barriers.delete(marker);
    if (confirmed) lag();
    else forgetAll();
  }

  return {
    get listening() {
      return listening;
    },
    subscribe(subscriber) {
      subscribers.push(subscriber);
      subscriber.setListening(listening);
      return () => {
        const at = subscribers.indexOf(subscriber);
        if (at >= 0) subscribers.splice(at, 1);
      };
    },
    settle,
    close: () => unlisten(),
  };
}
