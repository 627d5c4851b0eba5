// Bulk inserts for imports: one statement per batch whose parameters are one array per
// column (INSERT ... SELECT FROM unnest), so a batch of thousands of rows is a handful of
// parameters. Prisma's createMany sends every value as its own parameter and plans each
// batch anew, which made a 100,000-user import take minutes and gigabytes.
import type { Prisma } from './db.js';

type Raw = Pick<Prisma, '$executeRawUnsafe'>;

/** The PostgreSQL type of each column written, by column name. */
export type Columns<R> = { [K in keyof R]: 'uuid' | 'text' | 'timestamptz' | 'boolean' | 'integer' };

/**
 * Inserts `rows` into `table` (a name of our schema, never client input). Rows that would
 * break a unique constraint are skipped with `skipDuplicates`. Returns the rows inserted.
 */
export async function insertMany<R extends Record<string, unknown>>(
  db: Raw,
  table: string,
  columns: Columns<R>,
  rows: R[],
  opts: { skipDuplicates?: boolean } = {},
): Promise<number> {
  if (!rows.length) return 0;
  const names = Object.keys(columns) as (keyof R & string)[];
  const arrays = names.map((name) => rows.map((r) => (r[name] instanceof Date ? (r[name] as Date).toISOString() : (r[name] ?? null))));
  const sql =
    `INSERT INTO "${table}" (${names.map((n) => `"${n}"`).join(', ')}) ` +
    `SELECT * FROM unnest(${names.map((n, i) => `$${i + 1}::${columns[n]}[]`).join(', ')})` +
    (opts.skipDuplicates ? ' ON CONFLICT DO NOTHING' : '');
  return db.$executeRawUnsafe(sql, ...arrays);
}
