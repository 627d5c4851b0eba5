// Usernames are unique across a tenant's users and service accounts (case-insensitive),
// whatever creates the account (users/identity.ts). SignCSR creates a service account when
// requestedUsername names none: a username a user holds is a conflict, not a second
// identity of that name.
import { AppError } from '../platform/errors.js';
import type { Prisma } from '../platform/db.js';
import { identityClashes } from '../users/identity.js';

type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

/** Inside the transaction that creates the certificate's service account (takes the username lock). */
export async function assertCertUsernameFree(tx: Tx, tenantId: string, username: string): Promise<void> {
  const [clash] = await identityClashes(tx, tenantId, { username });
  if (!clash) return;
  const detail =
    clash.holder === 'user'
      ? `Username "${username}" is already in use by a user: usernames are unique across users and service accounts, and a certificate belongs to a service account. Name an existing service account or a free username in requestedUsername`
      : // Not a user: a service account of that name appeared since the lookup (a concurrent SignCSR).
        `A service account "${username}" was created concurrently; retry`;
  throw new AppError(409, 'conflict', 'Conflict', detail, { parameter: 'requestedUsername' });
}
