// Names are compared case-insensitively through columns the database generates with
// lower() (prisma/schema.prisma), so uniqueness holds whatever entry point writes. A
// lookup must fold its argument exactly as those columns were folded, and lower() depends
// on the server (its version, its C library, the database's locale: Turkish folds "I" to
// "ı"), so no JavaScript function can promise that: the database folds lookups too.
import type { Prisma } from './db.js';

type Raw = Pick<Prisma, '$queryRaw'>;

/** `s` as the database's lower() folds it, as the generated columns hold it. */
export async function foldCase(db: Raw, s: string): Promise<string> {
  const [row] = await db.$queryRaw<{ f: string }[]>`SELECT lower(${s}) AS f`;
  return row!.f;
}

const FOLD_SLICE = 20_000;

/** For bulk writers: folds every string up front and answers from memory. */
export async function caseFolder(db: Raw, strings: Iterable<string>): Promise<(s: string) => string> {
  const all = [...new Set(strings)];
  const folded = new Map<string, string>();
  // In slices: an import of 100,000 users folds 200,000 names, and one answer that size costs more memory than time.
  for (let i = 0; i < all.length; i += FOLD_SLICE) {
    const slice = all.slice(i, i + FOLD_SLICE);
    const rows = await db.$queryRaw<{ s: string; f: string }[]>`SELECT s, lower(s) AS f FROM unnest(${slice}::text[]) AS s`;
    for (const r of rows) folded.set(r.s, r.f);
  }
  return (s) => {
    const f = folded.get(s);
    if (f === undefined) throw new Error('caseFolder: a string was not folded up front');
    return f;
  };
}
