// Why an org of an import failed, in words safe to send back. The import report goes to
// the client (HTTP) or the operator's terminal (CLI): it carries our own messages, the
// document's validation issues and a short description of what the database refused,
// never the ORM's text (which names our source files and lines) nor a stack. The full
// error is for the log.
import { z } from 'zod';
import { dbErrorFacts } from '../platform/db-errors.js';
import { AppError } from '../platform/errors.js';

/** A refusal of the import itself, whose message is written for the client. */
export class ImportRefusal extends Error {}

// Foreign keys a document can break, by what the document got wrong.
const FOREIGN_KEYS: Record<string, string> = {
  User_tenantId_idpId_fkey: 'a user references an identity provider that is not in the document',
  GroupMembership_tenantId_userId_fkey: 'a group member is not a user of the org',
  GroupMembership_tenantId_groupId_fkey: 'a group membership references a group that is not in the org',
  RoleAssignment_tenantId_userId_fkey: 'a role grant references a user that is not in the org',
  RoleAssignment_tenantId_serviceAccountId_fkey: 'a role grant references a service account that is not in the org',
  RoleAssignment_tenantId_groupId_fkey: 'a role grant references a group that is not in the org',
};

export interface ImportFailure {
  /** For the report. */
  message: string;
  /** Whether the error is one the server should log in full (not a plain refusal of the document). */
  log: boolean;
}

export function describeImportFailure(err: unknown, requestId?: string): ImportFailure {
  if (err instanceof z.ZodError) return { message: err.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; '), log: false };
  if (err instanceof ImportRefusal || err instanceof AppError) return { message: err.message, log: false };
  const { codes, constraints } = dbErrorFacts(err);
  if (codes.has('P2003') || codes.has('23503')) {
    const known = constraints.map((c) => FOREIGN_KEYS[c]).find(Boolean);
    return { message: known ?? 'an item references something that is neither in the document nor in the database', log: true };
  }
  if (codes.has('P2002') || codes.has('23505')) {
    return { message: 'an item clashes with an existing one (a value that must be unique is already used)', log: true };
  }
  // Class 22 (data exception: range, encoding, length, format) and 54000 (too long for an index).
  if ([...codes].some((c) => /^22[0-9A-Z]{3}$/.test(c) || c === '54000' || c === 'P2000' || c === 'P2020')) {
    return { message: 'a value cannot be stored as given (out of range, too long or badly encoded)', log: true };
  }
  return { message: `the import of this org failed; see the server log${requestId ? ` (request id ${requestId})` : ''}`, log: true };
}
