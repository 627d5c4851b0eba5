import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, type ErrorItem } from '../platform/errors.js';
import { dbErrorFacts } from '../platform/db-errors.js';
import { DPOP_ALGS } from '../oauth/dpop-proof.js';

const JSON_API = 'application/vnd.api+json';

export function sendError(reply: FastifyReply, status: number, items: ErrorItem[]) {
  return reply
    .code(status)
    .type(JSON_API)
    .send(JSON.stringify({ errors: items }));
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
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  // P2028: an interactive transaction could not start (no connection within maxWait) or outlived its timeout.
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  'P2028',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  '53300',
  // Kinds of Prisma driver-adapter errors.
  'ConnectionClosed',
  'SocketTimeout',
  'DatabaseNotReachable',
  'TooManyConnections',
  'TransactionAlreadyClosed',
]);

// Values PostgreSQL cannot store or compare as given: NUL bytes, unencodable text,
// out-of-range numbers and dates (22009: a date so far out that its time-zone offset
// overflows), strings too long for a column or an index. The client sent them: 400.
const BAD_VALUE = new Set(['22021', '22P05', '22001', '22003', '22007', '22008', '22009', '54000', '2200D']);

function isDatabaseDown(err: unknown): boolean {
  const { codes, messages, names } = dbErrorFacts(err);
  if ([...codes].some((c) => DB_DOWN.has(c))) return true;
  if (names.some((n) => n === 'PrismaClientInitializationError' || n === 'PrismaClientRustPanicError')) return true;
  return messages.some((m) =>
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Can't reach database|Timed out fetching a new connection|Connection refused|Client has encountered a connection error|pool after calling end/i.test(
      m,
    ),
  );
}

/** An error answer in neutral terms, which each error format (JSON:API, SCIM) renders its own way. */
export interface MappedError {
  status: number;
  /** Our error vocabulary (JSON:API `code`): `invalid_json`, `invalid_value`, `conflict`, `unavailable`, `internal`... */
  code: string;
  title: string;
  /** Safe to show the client: never the database's or the ORM's own text, a stack or a source path. */
  detail?: string;
  /** Seconds, for a Retry-After header. */
  retryAfter?: number;
}

/**
 * The one mapping of errors that are neither services' AppErrors nor schema-validation
 * failures: Fastify's own 4xx, values the database refuses, unique-index races, database
 * outages, anything else (500, logged). The main and the SCIM error handlers both use it.
 */
export function mapError(err: FastifyError, request: FastifyRequest): MappedError {
  if (isResponseSerializationError(err)) {
    request.log.error({ err: { message: err.message, issues: err.cause.issues } }, 'response does not match its schema');
    return { status: 500, code: 'internal', title: 'Internal server error' };
  }

  const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
  if (mapped) {
    const [status, code, title] = mapped;
    return { status, code, title, detail: err.message };
  }

  if ([...dbErrorFacts(err).codes].some((c) => BAD_VALUE.has(c))) {
    return { status: 400, code: 'invalid_value', title: 'Invalid value', detail: 'A value cannot be used as given (NUL character, encoding, length or range)' };
  }

  // A unique index refused a write that raced past the service's own duplicate check.
  if ((err as { code?: string }).code === 'P2002') {
    return { status: 409, code: 'conflict', title: 'Conflict', detail: 'A resource with these values already exists' };
  }

  if (isDatabaseDown(err)) {
    request.log.warn({ err: { message: err.message, code: err.code } }, 'database unavailable');
    return { status: 503, code: 'unavailable', title: 'Service unavailable', detail: 'The database is unavailable; retry shortly', retryAfter: 2 };
  }

  // Other 4xx raised by Fastify or a plugin (malformed JSON, prototype poisoning...).
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) return { status, code: 'bad_request', title: 'Bad request', detail: err.message };

  request.log.error({ err }, 'unhandled error');
  return { status: 500, code: 'internal', title: 'Internal server error' };
}

/**
 * The challenge of a 401 from a resource that takes bearer tokens (RFC 6750 §3): the realm,
 * and `invalid_token` when the request carried a bearer token that was refused; the DPoP
 * challenge (RFC 9449 §7.1) when it presented a token with the DPoP scheme or a bound one.
 */
export function bearerChallenge(request: FastifyRequest): string {
  if (request.dpopRefusal) return request.dpopRefusal.challenge;
  const authorization = request.headers.authorization ?? '';
  if (/^DPoP[ ]+\S/i.test(authorization)) return `DPoP algs="${DPOP_ALGS.join(' ')}", error="invalid_token"`;
  return /^Bearer[ ]+\S/i.test(authorization) ? 'Bearer realm="api", error="invalid_token"' : 'Bearer realm="api"';
}

/** A 401's challenge, with the nonce a DPoP client is to put in its next proof (RFC 9449 §8). */
export function setChallenge(reply: FastifyReply) {
  reply.header('www-authenticate', bearerChallenge(reply.request));
  const nonce = reply.request.dpopRefusal?.nonce;
  if (nonce) reply.header('dpop-nonce', nonce);
  return reply;
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof AppError) {
    if (err.status === 401 && !reply.hasHeader('www-authenticate')) setChallenge(reply);
    return sendError(reply, err.status, err.toItems());
  }

  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = (err as FastifyError).validationContext ?? 'body';
    const items: ErrorItem[] = err.validation.map((v) => {
      const path = v.instancePath || '';
      const source = where === 'body' ? { pointer: path || '/' } : where === 'headers' ? { header: path.slice(1) } : { parameter: path.slice(1) || where };
      return { status: '400', code: 'invalid_value', title: 'Invalid value', detail: v.message, source };
    });
    return sendError(reply, 400, items);
  }

  const m = mapError(err, request);
  if (m.retryAfter) reply.header('retry-after', String(m.retryAfter));
  return sendError(reply, m.status, [{ status: String(m.status), code: m.code, title: m.title, ...(m.detail ? { detail: m.detail } : {}) }]);
}
