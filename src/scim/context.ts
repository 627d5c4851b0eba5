import type { Prisma } from '../platform/db.js';
import type { Argon2Params } from '../platform/passwords.js';
import type { Principal } from '../principals/principal.js';
import { ScimError } from './errors.js';
import { versionOf } from './resources.js';

/** A SCIM request acts for one tenant: the one of the calling service account. */
export interface ScimContext {
  prisma: Prisma;
  principal: Principal;
  tenantId: string;
  requestId: string;
  /** Absolute base URL of the SCIM endpoint, for meta.location and $ref. */
  base: string;
  argon: Argon2Params;
}

/** If-Match (RFC 7644 §3.14): refuse the write when the client's version is stale. */
export function checkIfMatch(ifMatch: string | undefined, row: { updatedAt: Date }) {
  if (!ifMatch || ifMatch.trim() === '*') return;
  const current = versionOf(row).replace(/^W\//, '');
  const offered = ifMatch.split(',').map((s) => s.trim().replace(/^W\//, ''));
  if (!offered.includes(current)) throw new ScimError(412, 'The resource was modified since the version named in If-Match');
}

export const sqlLock = {
  user: (tx: Pick<Prisma, '$queryRaw'>, tenantId: string, id: string) =>
    tx.$queryRaw`SELECT 1 FROM "User" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid FOR UPDATE`,
  group: (tx: Pick<Prisma, '$queryRaw'>, tenantId: string, id: string) =>
    tx.$queryRaw`SELECT 1 FROM "UserGroup" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid FOR UPDATE`,
};

/** A version must change on every write, even two writes within one millisecond. */
export const nextVersion = (current: { updatedAt: Date }) => new Date(Math.max(Date.now(), current.updatedAt.getTime() + 1));
