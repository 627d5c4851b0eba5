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

/** For bulk writers: folds every string in one query and answers from memory. */
export async function caseFolder(db: Raw, strings: Iterable<string>): Promise<(s: string) => string> {
  const all = [...new Set(strings)];
  const rows = all.length ? await db.$queryRaw<{ s: string; f: string }[]>`SELECT s, lower(s) AS f FROM unnest(${all}::text[]) AS s` : [];
  const folded = new Map(rows.map((r) => [r.s, r.f]));
  return (s) => {
    const f = folded.get(s);
    if (f === undefined) throw new Error('caseFolder: a string was not folded up front');
    return f;
  };
}
