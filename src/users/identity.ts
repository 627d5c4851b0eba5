// The identity rule of a tenant, the same for every entry point that writes a user or a
// service account (REST, SCIM, SignCSR, import, the CLI):
// - a username is unique across the tenant's users AND service accounts (both log in by
//   username), an email across its users, both compared case-insensitively;
// - a user's username and email, and a service account's username, have one syntax each.
// Each entry point words the refusal in its own protocol; the decision is made here.
import type { Prisma as P } from '../generated/prisma/client.js';
import { foldCase } from '../platform/case-fold.js';

type Tx = P.TransactionClient;

export type Holder = 'user' | 'serviceAccount';

export interface IdentityClash {
  field: 'username' | 'email';
  value: string;
  /** What holds it already: a user, or a service account (usernames only). */
  holder: Holder;
}

export interface IdentityInput {
  username?: string;
  email?: string;
}

/** Who is being written, so that its own current names are no clash. */
export interface IdentitySelf {
  kind: Holder;
  id: string;
}

const isSelf = (self: IdentitySelf | undefined, kind: Holder, id: string) => self?.kind === kind && self.id === id;

/**
 * The identities `input` would take that another principal of the tenant holds. Inside
 * the writing transaction: the advisory lock on the username serialises this check with
 * concurrent writes of the same name by any entry point (users and service accounts
 * live in two tables, so no unique index alone can refuse the second).
 */
export async function identityClashes(tx: Tx, tenantId: string, input: IdentityInput, self?: IdentitySelf): Promise<IdentityClash[]> {
  const out: IdentityClash[] = [];
  if (input.username !== undefined) {
    const lower = await foldCase(tx, input.username);
    // Shared with other single writers, exclusive against a bulk writer (lockTenantIdentities).
    await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(hashtext(${`identities:${tenantId}`}))`;
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`username:${tenantId}:${lower}`}))`;
    const [user, sa] = await Promise.all([
      tx.user.findUnique({ where: { tenantId_usernameLower: { tenantId, usernameLower: lower } }, select: { id: true } }),
      tx.serviceAccount.findUnique({ where: { tenantId_usernameLower: { tenantId, usernameLower: lower } }, select: { id: true } }),
    ]);
    if (user && !isSelf(self, 'user', user.id)) out.push({ field: 'username', value: input.username, holder: 'user' });
    else if (sa && !isSelf(self, 'serviceAccount', sa.id)) out.push({ field: 'username', value: input.username, holder: 'serviceAccount' });
  }
  if (input.email !== undefined) {
    const user = await tx.user.findUnique({ where: { tenantId_emailLower: { tenantId, emailLower: await foldCase(tx, input.email) } }, select: { id: true } });
    if (user && !isSelf(self, 'user', user.id)) out.push({ field: 'email', value: input.email, holder: 'user' });
  }
  return out;
}

/**
 * For a bulk writer (import) that checks thousands of names in memory: one lock instead of
 * one per name (a lock table holds a few thousand), so no single writer takes a name
 * between its check and its insert.
 */
export async function lockTenantIdentities(tx: Tx, tenantId: string) {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`identities:${tenantId}`}))`;
}

/**
 * The same rule over a tenant's identities held in memory, for bulk writers (import)
 * that check thousands of rows against rows loaded once and insert them in batches.
 * `fold` folds as the database does (platform/case-fold.ts: caseFolder), for every name
 * the index will see.
 */
export class IdentityIndex {
  private readonly usernames = new Map<string, { kind: Holder; id: string }>();
  private readonly emails = new Map<string, string>();

  constructor(
    private readonly fold: (s: string) => string,
    users: { id: string; username: string; email: string }[],
    accounts: { id: string; username: string }[],
  ) {
    for (const u of users) this.claim({ kind: 'user', id: u.id }, u);
    for (const s of accounts) this.claim({ kind: 'serviceAccount', id: s.id }, s);
  }

  clashes(input: IdentityInput, self?: IdentitySelf): IdentityClash[] {
    const out: IdentityClash[] = [];
    if (input.username !== undefined) {
      const holder = this.usernames.get(this.fold(input.username));
      if (holder && !isSelf(self, holder.kind, holder.id)) out.push({ field: 'username', value: input.username, holder: holder.kind });
    }
    if (input.email !== undefined) {
      const holder = this.emails.get(this.fold(input.email));
      if (holder && !isSelf(self, 'user', holder)) out.push({ field: 'email', value: input.email, holder: 'user' });
    }
    return out;
  }

  /** Records that `who` now holds `now`, releasing what it held before. */
  claim(who: IdentitySelf, now: IdentityInput, before?: IdentityInput) {
    if (before?.username !== undefined) this.usernames.delete(this.fold(before.username));
    if (before?.email !== undefined) this.emails.delete(this.fold(before.email));
    if (now.username !== undefined) this.usernames.set(this.fold(now.username), who);
    if (now.email !== undefined && who.kind === 'user') this.emails.set(this.fold(now.email), who.id);
  }
}

/** A sentence naming the clash, for entry points without a richer format. */
export function describeClash(c: IdentityClash): string {
  if (c.field === 'email') return `The email "${c.value}" is already in use`;
  return c.holder === 'serviceAccount' ? `The username "${c.value}" is already taken by a service account` : `The username "${c.value}" is already taken`;
}

export interface SyntaxProblem {
  field: 'username' | 'email';
  message: string;
}

// What a stored user's username and email may be, whoever writes it. REST's input schema
// (./schemas.ts) is narrower for usernames it is given; SCIM and import take the names an
// IdP or another IAM chose (e.g. "dave%x"), within these bounds.
export const USERNAME_MAX = 256;
export const EMAIL_MAX = 320;
const CONTROL = /[\u0000-\u001f\u007f]/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

/** What is wrong with a user's username and email (already trimmed); empty when valid. */
export function userIdentityProblems(input: IdentityInput): SyntaxProblem[] {
  const out: SyntaxProblem[] = [];
  const u = input.username;
  if (u !== undefined && (!u || u.length > USERNAME_MAX || CONTROL.test(u)))
    out.push({ field: 'username', message: `must be 1 to ${USERNAME_MAX} printable characters` });
  const e = input.email;
  if (e !== undefined && (e.length > EMAIL_MAX || !EMAIL.test(e))) out.push({ field: 'email', message: 'is not an email address' });
  return out;
}
