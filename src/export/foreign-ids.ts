import { createHash } from 'node:crypto';
import { isUuid } from '../platform/ids.js';

/**
 * Our ids are UUIDs; ZITADEL's are numeric strings. A foreign id becomes a UUID derived
 * from it, so importing the same file twice finds the rows of the first import.
 */
export function toUuid(id: string, scope: string): string {
  if (isUuid(id)) return id.toLowerCase();
  const h = createHash('sha256').update(`${scope}\u0000${id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
