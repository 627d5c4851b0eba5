import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeImportFailure, ImportRefusal } from './failures.js';

// The shape Prisma 7 with @prisma/adapter-pg gives a refused write (checked against PGlite).
function prismaError(code: string, cause: Record<string, unknown>) {
  return Object.assign(new Error('\nInvalid `tx.user.createMany()` invocation in\n/srv/app/src/export/import.ts:367:80\n\n→ 367 ...'), {
    name: 'PrismaClientKnownRequestError',
    code,
    meta: { modelName: 'User', driverAdapterError: { name: 'DriverAdapterError', cause } },
  });
}

describe('describeImportFailure', () => {
  it('names a broken foreign key by what the document got wrong', () => {
    const err = prismaError('P2003', { originalCode: '23503', kind: 'ForeignKeyConstraintViolation', constraint: { index: 'User_tenantId_idpId_fkey' } });
    expect(describeImportFailure(err, 'req-1')).toEqual({ message: 'a user references an identity provider that is not in the document', log: true });
    const other = prismaError('P2003', { originalCode: '23503', kind: 'ForeignKeyConstraintViolation', constraint: { index: 'Something_else_fkey' } });
    expect(describeImportFailure(other).message).toBe('an item references something that is neither in the document nor in the database');
  });

  it('describes unique and value errors without the database text', () => {
    expect(describeImportFailure(prismaError('P2002', { originalCode: '23505', kind: 'UniqueConstraintViolation' })).message).toMatch(/^an item clashes/);
    const range = prismaError('P2039', { originalCode: '22009', kind: 'postgres', message: 'time zone displacement out of range: "-200000-01-01"' });
    expect(describeImportFailure(range).message).toMatch(/^a value cannot be stored as given/);
  });

  it('falls back to the request id for anything else, never the error text', () => {
    const err = new TypeError("Cannot read properties of undefined (reading 'x')\n    at writeOrg (/srv/app/src/export/import.ts:10:5)");
    expect(describeImportFailure(err, 'req-42')).toEqual({ message: 'the import of this org failed; see the server log (request id req-42)', log: true });
    expect(describeImportFailure(err).message).toBe('the import of this org failed; see the server log');
  });

  it("passes on the import's own refusals and document validation issues, unlogged", () => {
    expect(describeImportFailure(new ImportRefusal('not an object'))).toEqual({ message: 'not an object', log: false });
    const zerr = z.object({ org: z.object({ name: z.string().min(1) }) }).safeParse({ org: { name: '' } }).error!;
    const out = describeImportFailure(zerr);
    expect(out.log).toBe(false);
    expect(out.message).toMatch(/^org\.name: /);
  });
});
