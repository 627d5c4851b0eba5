// What every section's import writer works with: the org's transaction, the report it
// fills, its counters, and the conflict policy the request chose.
import type { BlockList } from 'node:net';
import type { Prisma } from '../platform/db.js';
import { ImportRefusal } from './failures.js';

export type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

/**
 * What to do when a row of the document meets an existing one: its id exists with other
 * values, or a name it needs is taken by another row.
 * - `overwrite`: rows with the same id take the document's values; name clashes skip the item.
 * - `skip`: existing rows stay as they are; name clashes skip the item.
 * - `fail`: either case fails the whole org (nothing of it is written).
 */
export type ConflictPolicy = 'fail' | 'skip' | 'overwrite';

export interface ItemError {
  /** The document section (humanUser, oidcApp, samlIdp, userLink, machineKey, pat, certificate...). */
  type: string;
  /** The item's id in the document. */
  id?: string;
  /** The field of the item at fault, when one is. */
  field?: string;
  message: string;
}

export class Counter {
  created = 0;
  updated = 0;
  unchanged = 0;
}

export interface Step {
  tx: Tx;
  tenantId: string;
  errors: ItemError[];
  n: Counter;
  onConflict: ConflictPolicy;
  /** The master key of this deployment: sealed keys of the document are usable only if it opens them. */
  masterKey?: Buffer;
  /** Private addresses a client's jwksUri may point to (CLIENT_JWKS_ALLOW_CIDRS), as through the API. */
  jwksAllow: BlockList;
  /** Told how many users and service accounts were just written, for progress on a terminal. */
  onRows?: (rows: number) => void;
}

/** JSON with sorted keys: jsonb does not keep key order, so compare this way. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString('base64'));
  return JSON.stringify(v ?? null);
}

export function differs(current: Record<string, unknown>, next: Record<string, unknown>): boolean {
  return Object.entries(next).some(([k, v]) => canonical(current[k]) !== canonical(v));
}

/** An item that cannot land because of existing data: skipped and reported, or the org fails under `fail`. */
export function clash(w: Step, e: ItemError) {
  if (w.onConflict === 'fail') throw new ImportRefusal(`${e.type}${e.id ? ` ${e.id}` : ''}${e.field ? ` (${e.field})` : ''}: ${e.message}`);
  w.errors.push(e);
}

/**
 * Writes one row matched by id: creates it, leaves it, or (an existing row with other
 * values) updates it as the conflict policy says.
 */
export async function upsertRow<T extends Record<string, unknown>>(
  w: Step,
  what: { type: string; id: string },
  current: T | null | undefined,
  next: Record<string, unknown>,
  create: () => Promise<unknown>,
  update: () => Promise<unknown>,
): Promise<void> {
  if (!current) {
    await create();
    w.n.created++;
  } else if (!differs(current, next)) w.n.unchanged++;
  else if (w.onConflict === 'overwrite') {
    await update();
    w.n.updated++;
  } else if (w.onConflict === 'skip') {
    w.errors.push({ ...what, message: 'exists with other values; left as it is (onConflict: skip)' });
    w.n.unchanged++;
  } else throw new ImportRefusal(`${what.type} ${what.id}: exists with other values (onConflict: fail)`);
}
