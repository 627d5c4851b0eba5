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

/** Standard error responses of an operation, for its OpenAPI entry. */
export function errors(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, errorDocument]));
}

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

export function listSchema<T extends z.ZodTypeAny>(item: T) {
  return z.object({
    bodyFilters: z.record(z.string(), z.unknown()),
    links,
    data: z.array(item),
    meta: z.object({ page: z.number(), pageSize: z.number(), total: z.number(), totalPages: z.number() }),
  });
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

export function listDocument<T>(request: FastifyRequest, page: PageQuery, total: number, data: T[], bodyFilters: Record<string, unknown> = {}) {
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
      next: page.page < totalPages ? at(page.page + 1) : null,
      last: at(totalPages),
    },
    data,
    meta: { page: page.page, pageSize: page.pageSize, total, totalPages },
  };
}

export const skipTake = (p: PageQuery) => ({ skip: (p.page - 1) * p.pageSize, take: p.pageSize });

export function sendJsonApi(reply: FastifyReply, status: number, body: unknown) {
  return reply.code(status).type(JSON_API).send(body);
}
