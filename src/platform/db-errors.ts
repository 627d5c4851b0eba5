// What a database error is, from the codes Prisma, its pg driver adapter and PostgreSQL
// put on it. Callers turn these facts into answers of their own: an ORM's message
// (with the calling source file and line) must never reach a client.

export interface DbErrorFacts {
  /** Prisma codes (P2003), SQLSTATEs (23503), errno codes (ECONNREFUSED) and adapter error kinds. */
  codes: Set<string>;
  messages: string[];
  names: string[];
  /** Names of the constraints (indexes, foreign keys) the database refused the write on. */
  constraints: string[];
}

/** The fields of the errors pg, Prisma and its driver adapter throw that we read; any of them may be missing. */
interface ErrorShape {
  code?: unknown;
  errorCode?: unknown;
  originalCode?: unknown;
  kind?: unknown;
  message?: unknown;
  name?: unknown;
  constraint?: unknown;
  cause?: unknown;
  meta?: { constraint?: unknown; driverAdapterError?: unknown } | null;
}

/** Facts along an error's causes, including those Prisma's driver adapter nests in meta. */
export function dbErrorFacts(err: unknown): DbErrorFacts {
  const facts: DbErrorFacts = { codes: new Set(), messages: [], names: [], constraints: [] };
  const visit = (value: unknown, depth: number) => {
    if (!value || typeof value !== 'object' || depth > 6) return;
    const e = value as ErrorShape;
    for (const c of [e.code, e.errorCode, e.originalCode, e.kind]) if (typeof c === 'string') facts.codes.add(c);
    if (typeof e.message === 'string') facts.messages.push(e.message);
    if (typeof e.name === 'string') facts.names.push(e.name);
    const index = (e.constraint as { index?: unknown } | null | undefined)?.index;
    if (typeof e.constraint === 'string') facts.constraints.push(e.constraint);
    else if (typeof index === 'string') facts.constraints.push(index);
    if (typeof e.meta?.constraint === 'string') facts.constraints.push(e.meta.constraint);
    visit(e.cause, depth + 1);
    visit(e.meta?.driverAdapterError, depth + 1);
  };
  visit(err, 0);
  return facts;
}
