// An export document is written while it is read from the database: its large arrays
// (users, their metadata and grants, a group's members) are `Streamed`, produced page by
// page, so that a tenant of 100,000 users never sits in memory as a whole.

/** An array of the document whose items are read from the database as it is written. */
export class Streamed<T> {
  constructor(private readonly produce: () => AsyncIterable<T>) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.produce()[Symbol.asyncIterator]();
  }

  /** JSON.stringify meets one only in a value that must be written piece by piece (see writeJson). */
  toJSON(): never {
    throw new HasStreamed();
  }
}

class HasStreamed extends Error {}

/** Rows per page: large enough that paging costs little, small enough to bound memory. */
export const PAGE = 2000;

/** Items in pages of `size`, each page read after the previous one has been written. */
export function paged<R, T>(size: number, page: (after: R | undefined) => Promise<R[]>, map: (row: R) => T | T[]): Streamed<T> {
  return new Streamed(async function* () {
    let last: R | undefined;
    for (;;) {
      const rows = await page(last);
      for (const row of rows) {
        const out = map(row);
        if (Array.isArray(out)) yield* out;
        else yield out;
      }
      if (rows.length < size) return;
      last = rows.at(-1);
    }
  });
}

/**
 * Writes `value` as JSON through `write`, streaming the `Streamed` arrays it holds.
 * Everything else is serialised by JSON.stringify, whole subtrees at once.
 */
export async function writeJson(value: unknown, write: (chunk: string) => void | Promise<void>): Promise<void> {
  if (value instanceof Streamed) {
    await write('[');
    let first = true;
    for await (const item of value) {
      if (!first) await write(',');
      first = false;
      await writeJson(item, write);
    }
    await write(']');
    return;
  }
  try {
    const text = JSON.stringify(value);
    await write(text ?? 'null');
    return;
  } catch (err) {
    if (!(err instanceof HasStreamed)) throw err;
  }
  if (Array.isArray(value)) {
    await write('[');
    for (const [i, item] of value.entries()) {
      if (i) await write(',');
      await writeJson(item === undefined ? null : item, write);
    }
    await write(']');
    return;
  }
  await write('{');
  let first = true;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (item === undefined || typeof item === 'function') continue;
    await write(`${first ? '' : ','}${JSON.stringify(key)}:`);
    first = false;
    await writeJson(item, write);
  }
  await write('}');
}

/** Gathers small writes into chunks of about `size` characters before passing them on. */
export function buffered(sink: (chunk: string) => void | Promise<void>, size = 1 << 16) {
  let parts: string[] = [];
  let length = 0;
  const flush = async () => {
    if (!length) return;
    const chunk = parts.join('');
    parts = [];
    length = 0;
    await sink(chunk);
  };
  return {
    write: async (s: string) => {
      parts.push(s);
      length += s.length;
      if (length >= size) await flush();
    },
    flush,
  };
}
