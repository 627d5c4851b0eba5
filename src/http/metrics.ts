// Who may read the Prometheus metrics, and the optional listener that serves them apart
// from the API. Metrics reveal traffic by route, error rates and the database pool: not
// for the public internet.
//
//   METRICS_TOKEN set     -> /metrics requires `Authorization: Bearer <token>` (both ports).
//   METRICS_LISTEN set    -> /metrics is served only on that address; the API port answers 404.
//   neither               -> the API port answers /metrics to loopback peers only, and only
//                            to requests no proxy relayed (no X-Forwarded-For / Forwarded /
//                            X-Real-IP): a proxy on the same host must not publish it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { BlockList } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../platform/config.js';
import { addressIn } from '../platform/net.js';
import { sendError } from './errors.js';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const digest = (s: string) => createHash('sha256').update(s).digest();

/** `Authorization: Bearer <token>` against the configured token, in constant time (digests of equal length). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? '')?.[1] ?? '';
  return timingSafeEqual(digest(given), digest(token));
}

function relayed(headers: IncomingHttpHeaders): boolean {
  return headers['x-forwarded-for'] !== undefined || headers.forwarded !== undefined || headers['x-real-ip'] !== undefined;
}

export type MetricsAccess = 'ok' | 'unauthorized' | 'forbidden';

/**
 * Whether a request may read the metrics. `remoteAddress` is the socket's peer, never a
 * forwarded address: X-Forwarded-For is the client's word, and a trusted proxy's peer
 * address is the proxy's own.
 */
export function metricsAccess(config: Config, headers: IncomingHttpHeaders, remoteAddress: string | undefined, separateListener: boolean): MetricsAccess {
  if (config.METRICS_TOKEN) return bearerMatches(headers.authorization, config.METRICS_TOKEN) ? 'ok' : 'unauthorized';
  // The operator chose that address for scrapers (an internal interface, a sidecar...).
  if (separateListener) return 'ok';
  return addressIn(LOOPBACK, remoteAddress) && !relayed(headers) ? 'ok' : 'forbidden';
}

const UNAUTHORIZED = 'The metrics require the bearer token configured in METRICS_TOKEN';
const FORBIDDEN = 'Without METRICS_TOKEN or METRICS_LISTEN, the metrics answer only to local clients (loopback, not through a proxy)';

/** GET /metrics on the API port. */
export async function metricsRoute(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
  const { config } = app;
  if (!config.METRICS_ENABLED || config.METRICS_LISTEN) return sendError(reply, 404, [{ status: '404', code: 'not_found', title: 'Not found' }]);
  reply.header('cache-control', 'no-store');
  const access = metricsAccess(config, request.headers, request.socket.remoteAddress, false);
  if (access === 'unauthorized') {
    reply.header('www-authenticate', 'Bearer realm="metrics"');
    return sendError(reply, 401, [{ status: '401', code: 'unauthorized', title: 'Unauthorized', detail: UNAUTHORIZED }]);
  }
  if (access === 'forbidden') return sendError(reply, 403, [{ status: '403', code: 'forbidden', title: 'Forbidden', detail: FORBIDDEN }]);
  reply.type(app.metrics.registry.contentType);
  return app.metrics.registry.metrics();
}

/**
 * Serves GET /metrics on METRICS_LISTEN (host:port), apart from the API. Resolves once
 * listening (undefined when METRICS_LISTEN is unset or metrics are disabled); the caller
 * closes the server on shutdown. A port already in use rejects, so start-up fails loudly.
 */
export async function listenMetrics(app: FastifyInstance): Promise<Server | undefined> {
  const { config } = app;
  if (!config.METRICS_ENABLED || !config.METRICS_LISTEN) return undefined;
  const server = createServer((req, res) => {
    const json = (status: number, detail: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/vnd.api+json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
      res.end(
        JSON.stringify({
          errors: [{ status: String(status), code: status === 401 ? 'unauthorized' : status === 405 ? 'method_not_allowed' : 'not_found', title: detail }],
        }),
      );
    };
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    if (path !== '/metrics') return json(404, 'Not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, 'Method not allowed', { allow: 'GET, HEAD' });
    if (metricsAccess(config, req.headers, req.socket.remoteAddress, true) !== 'ok')
      return json(401, 'Unauthorized', { 'www-authenticate': 'Bearer realm="metrics"' });
    app.metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': app.metrics.registry.contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        app.log.error({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('Internal server error');
      },
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  const { host, port } = config.METRICS_LISTEN;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  app.log.info({ address: server.address() }, 'metrics listening');
  return server;
}

/** Stops the metrics listener, dropping its keep-alive connections. */
export function closeMetrics(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
