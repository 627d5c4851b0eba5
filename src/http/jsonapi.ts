import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

export const JSON_API = 'application/vnd.api+json';

export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(500).default(25),
});
export type PageQuery = z.output<typeof pageQuery>;

export const errorDocument = z
  .object({
    errors: z.array(
      z.object({
        status: z.string(),
        code: z.string(),
        title: z.string(),
        detail: z.string().optional(),
        source: z.object({ pointer: z.string().optional(), parameter: z.string().optional(), header: z.string().optional() }).optional(),
      }),
    ),
  })
  .meta({ id: 'ErrorDocument' });

// What each error status means across the API, for the document's response descriptions;
// the error's `code` and `detail` name the particular cause.
const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is malformed: a parameter, header or body field is invalid',
  401: 'No valid credential',
  403: 'The caller may not act on this target',
  404: "No such resource in the caller's tenant (another tenant's resources are not found either)",
  409: 'Conflicts with the current state: a name or identifier already taken, or a concurrent change',
  413: 'The body is larger than the limit',
  415: 'The body is not of a media type this operation takes',
  422: 'Well-formed, but a rule refuses it: the password policy, a built-in or managed resource, settings that contradict each other',
  429: 'Too many requests; retry after the Retry-After header',
  502: 'A service this operation depends on (object storage) failed',
  503: 'Not ready: the database is unavailable or not migrated',
  504: 'A service this operation depends on did not answer in time',
};

/**
 * Standard error responses of an operation, for its OpenAPI entry: a JSON:API error document, the media type
 * sendError answers with. Error documents are sent already serialized, so these schemas document and never filter.
 */
export function errors(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, { description: ERROR_DESCRIPTIONS[s] ?? 'Error', content: { [JSON_API]: { schema: errorDocument } } }]));
}

/**
 * Who may call an operation, for the first line of its description. The route's `config.auth` enforces the level
 * (src/http/plugins/auth.ts); the services apply the privilege policy (src/principals/policy.ts, docs/roles.md).
 */
export const WHO = {
  public: 'Public: no credential.',
  anyone: 'Any authenticated principal.',
  admin: 'Tenant-admins of the tenant, and skylight-admins (who name the tenant with X-Forwarded-Tenant-Id).',
  adminOrSelf: (self: string) => `Tenant-admins of the tenant and skylight-admins, and ${self} itself.`,
  sky: 'Skylight-admins only.',
  policy: 'The privilege policy applies: the caller must hold every role the target holds and every role it confers (docs/roles.md).',
};

/** An operation's description: who may call it, then what it does. */
export const access = (rules: string[], details?: string) => `**Authorization:** ${rules.join(' ')}${details ? `\n\n${details}` : ''}`;

/** A success response as sendJsonApi sends it, under the JSON:API media type (which also picks this schema's serializer). */
export function jsonApi<T extends z.ZodTypeAny>(description: string, schema: T) {
  return { description, content: { [JSON_API]: { schema } } } as const;
}

/** A text/plain response, such as the validate routes' answers to a proxy, which reads only the status and the headers. */
export const plainText = (description: string) => ({ description, content: { 'text/plain': { schema: z.string() } } });

/** A response without a body. */
export const noContent = (description: string) => z.null().describe(description);

export function resourceSchema<T extends z.ZodTypeAny>(type: string, attributes: T) {
  return z.object({ type: z.literal(type), id: z.string(), attributes });
}

export function documentSchema<T extends z.ZodTypeAny>(data: T) {
  return z.object({ data, meta: z.record(z.string(), z.unknown()).optional() });
}

const links = z.object({
  self: z.string(),
  first: z.string(),
  prev: z.string().nullable(),
  next: z.string().nullable(),
  last: z.string(),
});

// The description names the answer of routes that give none of their own (through jsonApi).
export function listSchema<T extends z.ZodTypeAny>(item: T) {
  return z
    .object({
      bodyFilters: z.record(z.string(), z.unknown()),
      links,
      data: z.array(item),
      meta: z.object({
        page: z.number(),
        pageSize: z.number(),
        total: z.number(),
        totalPages: z.number(),
        totalIsLowerBound: z
          .boolean()
          .optional()
          .describe('Present (true) when the list stopped counting: there are at least `total` matches, and `next` is set while pages are full'),
      }),
    })
    .describe('One page of the list, with links to the others');
}

/** Request body `{ data: { type, attributes } }` for create and update. */
export function inputDocument<T extends z.ZodTypeAny>(type: string, attributes: T) {
  return z.object({
    data: z.object({ type: z.literal(type).optional(), id: z.string().optional(), attributes }),
  });
}

export function resource<A>(type: string, id: string, attributes: A) {
  return { type, id, attributes };
}

/** `lowerBound`: the total is a capped count (there may be more), so `next` follows a full page. */
export function listDocument<T>(
  request: FastifyRequest,
  page: PageQuery,
  total: number,
  data: T[],
  bodyFilters: Record<string, unknown> = {},
  { lowerBound = false } = {},
) {
  const totalPages = Math.max(1, Math.ceil(total / page.pageSize));
  const url = new URL(request.url, 'http://x');
  const at = (n: number) => {
    url.searchParams.set('page', String(n));
    url.searchParams.set('pageSize', String(page.pageSize));
    return url.pathname + url.search;
  };
  return {
    bodyFilters,
    links: {
      self: at(page.page),
      first: at(1),
      prev: page.page > 1 ? at(Math.min(page.page - 1, totalPages)) : null,
      next: page.page < totalPages || (lowerBound && data.length === page.pageSize) ? at(page.page + 1) : null,
      last: at(totalPages),
    },
    data,
    meta: { page: page.page, pageSize: page.pageSize, total, totalPages, ...(lowerBound ? { totalIsLowerBound: true } : {}) },
  };
}

export const skipTake = (p: PageQuery) => ({ skip: (p.page - 1) * p.pageSize, take: p.pageSize });

export function sendJsonApi(reply: FastifyReply, status: number, body: unknown) {
  return reply.code(status).type(JSON_API).send(body);
}
