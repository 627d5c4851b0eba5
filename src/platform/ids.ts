const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else cannot name a row, so callers answer 404 without a query. */
export const isUuid = (value: string) => UUID.test(value);

/** Escapes LIKE wildcards: Prisma's `contains` passes `%` and `_` through to ILIKE. */
export const likeLiteral = (value: string) => value.replace(/[\\%_]/g, '\\$&');
