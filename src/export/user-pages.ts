// The per-user sections of an export (grants, second factors) are read alongside the
// tenant's users, one page of user ids at a time, so that none is read whole.
import type { Tx } from './write-step.js';

/** The ids of a tenant's users in id order, a page at a time. */
export async function* userIdPages(tx: Tx, tenantId: string, size: number): AsyncGenerator<string[]> {
  let after: string | undefined;
  for (;;) {
    const page = await tx.user.findMany({
      where: { tenantId, ...(after ? { id: { gt: after } } : {}) },
      orderBy: { id: 'asc' },
      take: size,
      select: { id: true },
    });
    if (page.length) yield page.map((u) => u.id);
    if (page.length < size) return;
    after = page.at(-1)!.id;
  }
}

/** The list under `key`, created empty the first time (appending in place: a group may hold 100,000 members). */
export function listIn<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}

/** Rows by the user they belong to. */
export function byUser<T extends { userId: string }>(rows: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const r of rows) listIn(map, r.userId).push(r);
  return map;
}
