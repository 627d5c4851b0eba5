import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import { scrubUrl } from '../platform/logger.js';

/** The reverse proxies' validate routes (`/api/v3/session/validate`, `-token`, `-cert`): one call per proxied request. */
const PROXY_VALIDATION = /^\/api\/v3\/(?:[^/]+\/)*validate[^/]*$/;

function header(reply: FastifyReply, name: string): string | undefined {
  const v = reply.getHeader(name);
  return typeof v === 'string' ? v : undefined;
}

/**
 * The fields of a request's completion line. The route is the pattern (`/api/v3/users/:id`), never the
 * raw URL, so no identifier a client put into a path or query reaches the log; only a request no route
 * matched carries its path, scrubbed of credentials. The validate routes authenticate without setting a
 * request principal: who they let through is read from the identity headers they answer with.
 */
function completionLine(request: FastifyRequest, reply: FastifyReply, route: string) {
  const p = request.principal;
  const validated = p ? undefined : header(reply, 'x-forwarded-user-id');
  return {
    method: request.method,
    route,
    ...(route === 'unmatched' ? { path: scrubUrl(request.url.split('?')[0]!) } : {}),
    status: reply.statusCode,
    tenantId: request.tenantId ?? p?.tenantId ?? header(reply, 'x-forwarded-tenant-id'),
    principal: p ? { kind: p.kind, id: p.subjectId, credential: p.credential } : validated ? { id: validated } : undefined,
    remoteAddress: request.ip,
    durationMs: Math.round(reply.elapsedTime * 100) / 100,
  };
}

type Levels = { trace: boolean; debug: boolean; info: boolean };

/**
 * Fastify's request lines, replaced: nothing when a request arrives (unless at trace), one line when it completes (at info;
 * at debug for the validate routes, which http_requests_total counts by route and status, so the log does
 * not grow with the proxied traffic). Fastify's error lines stay as they are.
 */
export class RequestLog extends LogController {
  // Read on the first request: the logger's level is fixed for the process, so later requests whose line
  // is off pay one regular-expression test and build no log object.
  #levels: Levels | undefined;

  #levelsOf(log: FastifyBaseLogger): Levels {
    return (this.#levels ??= { trace: enabled(log, 'trace'), debug: enabled(log, 'debug'), info: enabled(log, 'info') });
  }

  // At trace only: the request as it arrived (method, scrubbed URL, host, address; credential headers
  // redacted), for following one request through the lines it causes.
  override incomingRequest(request: FastifyRequest): void {
    if (this.#levelsOf(request.log).trace) request.log.trace({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url ?? 'unmatched';
    if (error) {
      reply.log.error({ ...completionLine(request, reply, route), err: error }, 'request errored');
      return;
    }
    const levels = this.#levelsOf(reply.log);
    const level = PROXY_VALIDATION.test(route) ? 'debug' : 'info';
    if (levels[level]) reply.log[level](completionLine(request, reply, route), 'request completed');
  }
}

/** False for Fastify's silent logger (`logger: false`), which has no levels to ask. */
function enabled(log: FastifyBaseLogger, level: string): boolean {
  const check = (log as FastifyBaseLogger & { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled;
  return typeof check === 'function' && check.call(log, level);
}
