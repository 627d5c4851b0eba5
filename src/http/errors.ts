import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, type ErrorItem } from '../platform/errors.js';

const JSON_API = 'application/vnd.api+json';

export function sendError(reply: FastifyReply, status: number, items: ErrorItem[]) {
  return reply.code(status).type(JSON_API).send(JSON.stringify({ errors: items }));
}

// Fastify's own 4xx errors, named in our vocabulary.
const FASTIFY_CODES: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', 'Payload too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'Unsupported media type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'bad_request', 'Bad request'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'bad_request', 'Bad request'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json', 'Malformed JSON'],
  FST_ERR_RATE_LIMIT_EXCEEDED: [429, 'rate_limited', 'Too many requests'],
};

// Connection-level failures of the database, from pg, the Prisma adapter or PostgreSQL itself.
const DB_DOWN = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND',
  // P2028: an interactive transaction could not start (no connection within maxWait) or outlived its timeout.
  'P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028',
  '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '53300',
  // Kinds of Prisma driver-adapter errors.
  'ConnectionClosed', 'SocketTimeout', 'DatabaseNotReachable', 'TooManyConnections', 'TransactionAlreadyClosed',
]);

// Values PostgreSQL cannot store as given: NUL bytes, unencodable text, out-of-range
// numbers, strings too long for a column or an index. The client sent them: 400.
const BAD_VALUE = new Set(['22021', '22P05', '22001', '22003', '22007', '22008', '54000', '2200D']);

/** Error codes along an error's causes, including those Prisma's driver adapter nests in meta. */
function codesOf(err: unknown): { codes: Set<string>; messages: string[]; names: string[] } {
  const codes = new Set<string>();
  const messages: string[] = [];
  const names: string[] = [];
  const visit = (e: any, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 6) return;
    for (const c of [e.code, e.errorCode, e.originalCode, e.kind]) if (typeof c === 'string') codes.add(c);
    if (typeof e.message === 'string') messages.push(e.message);
    if (typeof e.name === 'string') names.push(e.name);
    visit(e.cause, depth + 1);
    visit(e.meta?.driverAdapterError, depth + 1);
  };
  visit(err, 0);
  return { codes, messages, names };
}

function isDatabaseDown(err: unknown): boolean {
  const { codes, messages, names } = codesOf(err);
  if ([...codes].some((c) => DB_DOWN.has(c))) return true;
  if (names.some((n) => n === 'PrismaClientInitializationError' || n === 'PrismaClientRustPanicError')) return true;
  return messages.some((m) => /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Can't reach database|Timed out fetching a new connection|Connection refused|Client has encountered a connection error/i.test(m));
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof AppError) return sendError(reply, err.status, err.toItems());

  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = (err as FastifyError).validationContext ?? 'body';
    const items: ErrorItem[] = err.validation.map((v) => {
      const path = v.instancePath || '';
      const source =
        where === 'body'
          ? { pointer: path || '/' }
          : where === 'headers'
            ? { header: path.slice(1) }
            : { parameter: path.slice(1) || where };
      return { status: '400', code: 'invalid_value', title: 'Invalid value', detail: v.message, source };
    });
    return sendError(reply, 400, items);
  }

  if (isResponseSerializationError(err)) {
    request.log.error({ err: { message: err.message, issues: err.cause.issues } }, 'response does not match its schema');
    return sendError(reply, 500, [{ status: '500', code: 'internal', title: 'Internal server error' }]);
  }

  const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
  if (mapped) {
    const [status, code, title] = mapped;
    return sendError(reply, status, [{ status: String(status), code, title, detail: err.message }]);
  }

  if ([...codesOf(err).codes].some((c) => BAD_VALUE.has(c))) {
    return sendError(reply, 400, [{ status: '400', code: 'invalid_value', title: 'Invalid value', detail: 'A value cannot be stored as given (NUL character, encoding, length or range)' }]);
  }

  // A unique index refused a write that raced past the service's own duplicate check.
  if ((err as { code?: string }).code === 'P2002') {
    return sendError(reply, 409, [{ status: '409', code: 'conflict', title: 'Conflict', detail: 'A resource with these values already exists' }]);
  }

  if (isDatabaseDown(err)) {
    request.log.warn({ err: { message: err.message, code: err.code } }, 'database unavailable');
    reply.header('retry-after', '2');
    return sendError(reply, 503, [
      { status: '503', code: 'unavailable', title: 'Service unavailable', detail: 'The database is unavailable; retry shortly' },
    ]);
  }

  // Other 4xx raised by Fastify or a plugin (malformed JSON, prototype poisoning...).
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return sendError(reply, status, [{ status: String(status), code: 'bad_request', title: 'Bad request', detail: err.message }]);
  }

  request.log.error({ err }, 'unhandled error');
  return sendError(reply, 500, [{ status: '500', code: 'internal', title: 'Internal server error' }]);
}
