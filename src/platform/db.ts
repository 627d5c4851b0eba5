import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.js';
import { dbQueryDuration } from './metrics.js';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Prisma = PrismaClient;

export interface Database {
  prisma: PrismaClient;
  /** Raw pool: migrations, health checks and metrics; also what Prisma queries through. */
  pool: pg.Pool;
  kind: 'embedded' | 'server';
  /** A connection string other processes (tests, the CLI) can use to reach this database. */
  url: string;
  /**
   * Subscribes to a NOTIFY channel. `onState(false)` reports a lost connection (messages
   * may have been missed); `onState(true)` that it listens again. Returns an unsubscribe.
   */
  listen(channel: string, onMessage: (payload: string) => void, onState: (listening: boolean) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  /**
   * Embedded only: a gzip-compressed tar of the data directory, taken while no statement runs
   * (PGlite runs one at a time), so a crash-consistent copy that PostgreSQL recovers from its
   * WAL on the first start. A server is backed up with pg_dump instead.
   */
  snapshot?(): Promise<Buffer>;
}

export interface DatabaseOptions {
  /** PostgreSQL server URL; absent means the embedded database. */
  url?: string;
  /** Server only: a direct connection for LISTEN, when `url` goes through a transaction pooler. */
  directUrl?: string;
  /** Embedded only: directory of the data files; absent means in memory (tests). */
  dataDir?: string;
  poolMax?: number;
  /** Client-side bound on one query (a silent partition raises no error); default 10 s. */
  queryTimeoutMs?: number;
  /** Embedded only: PostgreSQL's shared_buffers in MB (its default, 128, is most of an idle process). */
  sharedBuffersMb?: number;
  /**
   * Embedded only: maps the socket server's address to the one the pool connects to.
   * Tests interpose a fault-injecting TCP proxy here to cut the database away.
   */
  through?: (host: string, port: number) => Promise<string> | string;
  /**
   * Embedded in DATA_DIR only: called when the database is new; a data directory to start from as a
   * copy instead of running initdb (see embedded-template.ts), or undefined to run it.
   */
  template?: () => string | undefined;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.url) {
    const url = opts.url;
    const db = fromPool(new pg.Pool(poolConfig(url, opts.poolMax ?? 10, opts.queryTimeoutMs)), 'server', url, async () => {});
    const listenUrl = opts.directUrl ?? url;
    return { ...db, listen: (channel, onMessage, onState) => listenOnServer(listenUrl, channel, onMessage, onState) };
  }
  return openEmbedded(opts);
}

/** The listener connection's application_name: how an operator (or a test) tells it apart in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'iam-invalidation-listener';

// A dedicated connection (LISTEN cannot share a pooled one), re-established with backoff.
async function listenOnServer(
  url: string,
  channel: string,
  onMessage: (payload: string) => void,
  onState: (listening: boolean) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let delay = 100;
  // A silent network partition raises no error on an idle connection; a heartbeat
  // bounds how long a dead listener can go unnoticed (and the cache stay trusted).
  const heartbeat = setInterval(() => {
    const c = client;
    if (!c) return;
    const timer = setTimeout(() => c.emit('error', new Error('listener heartbeat timed out')), 2000);
    c.query('SELECT 1').then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
  }, 2000);
  heartbeat.unref();
  const connect = async () => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, keepAlive: true, application_name: LISTENER_APPLICATION_NAME });
    client = c;
    const lost = () => {
      if (client !== c || stopped) return;
      client = undefined;
      c.end().catch(() => {});
      onState(false);
      retry = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 5000);
    };
    c.on('error', lost);
    c.on('end', lost);
    c.on('notification', (n) => n.channel === channel && onMessage(n.payload ?? ''));
    try {
      await c.connect();
      await c.query(`LISTEN "${channel}"`);
      delay = 100;
      onState(true);
    } catch {
      lost();
    }
  };
  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    clearInterval(heartbeat);
    await client?.end().catch(() => {});
  };
}

const CONNECT_TIMEOUT_MS = 5000;

function poolConfig(connectionString: string, max: number, queryTimeoutMs = 10_000): pg.PoolConfig {
  // query_timeout bounds a request when the database stops answering without closing
  // the connection; the pool then discards that connection (pool.query releases it with the error).
  return { connectionString, max, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, idleTimeoutMillis: 30000, query_timeout: queryTimeoutMs, keepAlive: true };
}

async function openEmbedded({ dataDir, through, queryTimeoutMs, sharedBuffersMb = 16, template }: DatabaseOptions): Promise<Database> {
  // Loaded lazily: deployments on a PostgreSQL server never pay for the WASM build.
  const { PGlite } = await import('@electric-sql/pglite');
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  let dir: string | undefined;
  let unlock = () => {};
  if (dataDir) {
    dir = path.resolve(dataDir, 'pgdata');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    unlock = lockDataDir(path.resolve(dataDir));
  }
  let lite: Awaited<ReturnType<typeof PGlite.create>>;
  try {
    if (dir && template) copyTemplate(template, dir);
    lite = await PGlite.create({
      dataDir: dir,
      extensions: { pg_trgm },
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffersMb}MB`],
    });
  } catch (e) {
    unlock();
    throw e;
  }
  const listeners = new Map<string, Set<(payload: string) => void>>();
  tapNotifications(lite as never, listeners);
  const server = new PGLiteSocketServer({ db: lite, host: '127.0.0.1', port: 0, maxConnections: 4 });
  await server.start();
  const [host, port] = server.getServerConn().split(':') as [string, string];
  const address = through ? await through(host, Number(port)) : `${host}:${port}`;
  const url = `postgresql://postgres@${address}/postgres?sslmode=disable`;
  // PGlite is a single session: one connection, so transactions never interleave.
  const pool = new pg.Pool(poolConfig(url, 1, queryTimeoutMs));
  const db = fromPool(pool, 'embedded', url, async () => {
    await server.stop();
    await lite.close();
    unlock();
  });
  const listen: Database['listen'] = async (channel, onMessage, onState) => {
    const handlers = (listeners.get(channel) ?? listeners.set(channel, new Set()).get(channel))!;
    handlers.add(onMessage);
    // PGlite is one session shared by every socket client: one LISTEN there covers all.
    await lite.exec(`LISTEN "${channel}"`);
    onState(true); // in-process: this "connection" cannot drop
    return async () => {
      handlers.delete(onMessage);
    };
  };
  const snapshot = async () => {
    // Most of the WAL is folded into the data files first: a smaller copy that recovers faster.
    await lite.exec('CHECKPOINT');
    return Buffer.from(await (await lite.dumpDataDir('gzip')).arrayBuffer());
  };
  return { ...db, listen, snapshot };
}

/**
 * A new database's directory becomes a copy of the template, made beside it and renamed into place, so
 * that a start killed during the copy leaves no PG_VERSION over half a database. Only an empty directory
 * is replaced; anything else there is left for initdb to report, as before.
 */
function copyTemplate(template: () => string | undefined, dir: string) {
  // A database already there (PG_VERSION among its files) or anything else: not ours to replace.
  if (readdirSync(dir).length > 0) return;
  const from = template();
  if (!from) return;
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  cpSync(from, partial, { recursive: true });
  chmodSync(partial, 0o700);
  rmdirSync(dir);
  renameSync(partial, dir);
}

/**
 * Puts a snapshot (Database.snapshot) in place as the embedded database of `dataDir`, which
 * must hold none yet: a restore never overwrites a database.
 */
export async function restoreEmbedded(dataDir: string, tarball: Buffer): Promise<void> {
  const dir = path.resolve(dataDir, 'pgdata');
  if (existsSync(path.join(dir, 'PG_VERSION'))) throw new Error(`${dataDir} already holds a database; restore into an empty DATA_DIR`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(path.resolve(dataDir));
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
    const lite = await PGlite.create({ dataDir: dir, extensions: { pg_trgm }, loadDataDir: new Blob([new Uint8Array(tarball)]) });
    await lite.close();
  } finally {
    unlock();
  }
}

/**
 * PGlite's socket bridge streams protocol bytes to clients without dispatching
 * NotificationResponse messages to PGlite's own listeners, so we read them off the
 * stream: each message is a type byte and a length; 'A' carries pid, channel, payload.
 */
// PGlite's internal protocol stream, wrapped as it is: its arguments are not part of its typed API.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function tapNotifications(lite: { execProtocolRawStream: (...a: any[]) => Promise<void> }, listeners: Map<string, Set<(p: string) => void>>) {
  const original = lite.execProtocolRawStream.bind(lite);
  lite.execProtocolRawStream = async (message: Uint8Array, opts: { onRawData: (chunk: Uint8Array) => void }) => {
    const chunks: Uint8Array[] = [];
    await original(message, {
      ...opts,
      onRawData: (chunk: Uint8Array) => {
        if (listeners.size) chunks.push(chunk.slice());
        opts.onRawData(chunk);
      },
    });
    if (chunks.length) dispatch(Buffer.concat(chunks), listeners);
  };
}

function dispatch(buf: Buffer, listeners: Map<string, Set<(p: string) => void>>) {
  for (let at = 0; at + 5 <= buf.length;) {
    const type = buf[at];
    const length = buf.readInt32BE(at + 1);
    if (length < 4) return;
    if (type === 0x41 /* 'A' */) {
      const body = buf.subarray(at + 9, at + 1 + length);
      const nul = body.indexOf(0);
      const channel = body.subarray(0, nul).toString('utf8');
      const payload = body.subarray(nul + 1, body.indexOf(0, nul + 1)).toString('utf8');
      for (const handler of listeners.get(channel) ?? []) handler(payload);
    }
    at += 1 + length;
  }
}

function fromPool(pool: pg.Pool, kind: Database['kind'], url: string, after: () => Promise<void>): Omit<Database, 'listen'> {
  // A dropped idle connection must not crash the process; the pool reconnects on demand.
  pool.on('error', () => {});
  pool.on('connect', timeQueries);
  // Prisma's default maxWait (2 s) would fail a write transaction while a plain read
  // still waits for a connection: under a burst, writes were refused first. Wait as long
  // as the pool does for a connection (connectionTimeoutMillis).
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), transactionOptions: { maxWait: CONNECT_TIMEOUT_MS, timeout: 10_000 } });
  let closed = false;
  return {
    prisma,
    pool,
    kind,
    url,
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect().catch(() => {});
      await pool.end().catch(() => {});
      await after();
    },
  };
}

/*
 * pg has no per-statement hook, so each pooled connection's query() is timed as it is
 * called: Prisma's adapter and raw pool.query both end up there. Only the promise form is
 * timed (callback and cursor forms are not used on pooled connections here).
 */
function timeQueries(client: pg.PoolClient) {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const done = dbQueryDuration.startTimer();
    const result = query(...args);
    if (result instanceof Promise)
      result.then(
        () => done({ outcome: 'ok' }),
        () => done({ outcome: 'error' }),
      );
    return result;
  };
}
