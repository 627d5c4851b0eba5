import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type pg from 'pg';

export interface Metrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
}

/*
 * What operators ask of an IAM server: who logs in and fails, what is issued, whether the
 * caches and their invalidation work. The services increment these where the event
 * happens; every app's registry serves them (one app per process in production). Counters
 * and bounded label sets only: the proxies' hot path pays an increment, and no label takes
 * a value a client chooses.
 */
const operator = [] as Metric[];
function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  const c = new Counter<L>({ name, help, labelNames, registers: [] });
  operator.push(c);
  return c;
}

/** Completed logins by method: pwd (hosted login), ext (SAML federation)... */
export const loginsTotal = counter('iam_logins_total', 'Completed logins by authentication method', ['method'] as const);
/** Refused logins by method and reason (bad_credentials, throttled, refused). */
export const loginFailuresTotal = counter('iam_login_failures_total', 'Refused logins by method and reason', ['method', 'reason'] as const);
export const lockoutsTotal = counter('iam_lockouts_total', 'Users locked for a while after too many failed logins');
export const logoutsTotal = counter('iam_logouts_total', 'Browser sessions ended by RP-initiated logout');
/** Tokens issued by the token endpoint, by grant type (the supported ones only). */
export const tokensIssuedTotal = counter('iam_tokens_issued_total', 'Access tokens issued by grant type', ['grant_type'] as const);
export const cacheHitsTotal = counter('iam_cache_hits_total', 'In-process cache lookups answered from memory, by cache', ['cache'] as const);
export const cacheMissesTotal = counter('iam_cache_misses_total', 'In-process cache lookups not answered from memory (absent, or cache off), by cache', [
  'cache',
] as const);
/** Entries dropped: capacity (LRU), expired, invalidated (a change, or the channel lost). */
export const cacheEvictionsTotal = counter('iam_cache_evictions_total', 'In-process cache entries dropped, by cache and reason', ['cache', 'reason'] as const);
export const invalidationsTotal = counter('iam_invalidation_notifications_total', 'Cache invalidation notifications received');
export const invalidationLossesTotal = counter('iam_invalidation_listener_lost_total', 'Times the invalidation listener lost its connection');
/** good, revoked, unknown, malformed, try_later; cached: a byte-identical request answered from memory. */
export const ocspResponsesTotal = counter('iam_ocsp_responses_total', 'OCSP responses by certificate status (or error)', ['status'] as const);

const listeningGauge = new Gauge({ name: 'iam_invalidation_listening', help: '1 while the cache invalidation listener is connected, else 0', registers: [] });
/** The read-your-writes barrier's round trip: a notification's way through the database back to this instance. */
export const invalidationLag = new Histogram({
  name: 'iam_invalidation_lag_seconds',
  help: 'Time for a notification to travel through the database back to this instance (read-your-writes barrier)',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2],
  registers: [],
});
/** Every statement a pooled connection runs (Prisma's and raw), from submission to its result. */
export const dbQueryDuration = new Histogram<'outcome'>({
  name: 'iam_db_query_duration_seconds',
  help: 'Database statement latency as this instance sees it (queueing on the connection included), by outcome',
  labelNames: ['outcome'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [],
});
operator.push(listeningGauge, invalidationLag, dbQueryDuration);
export const setInvalidationListening = (on: boolean) => listeningGauge.set(on ? 1 : 0);

export function createMetrics(pool: pg.Pool): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const m of operator) registry.registerMetric(m);
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('db_pool_connections_total', 'Database connections open', () => pool.totalCount);
  gauge('db_pool_connections_idle', 'Database connections idle', () => pool.idleCount);
  gauge('db_pool_waiting_requests', 'Queries waiting for a database connection', () => pool.waitingCount);
  return { registry, requests, duration };
}
