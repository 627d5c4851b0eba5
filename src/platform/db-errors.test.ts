import { describe, expect, it } from 'vitest';
import { dbErrorFacts } from './db-errors.js';

describe('dbErrorFacts', () => {
  it('collects codes, messages, names and constraints along causes and the adapter error in meta', () => {
    const pg = Object.assign(new Error('duplicate key value violates unique constraint "User_tenantId_username_key"'), {
      code: '23505',
      constraint: 'User_tenantId_username_key',
    });
    const adapter = { kind: 'UniqueConstraintViolation', originalCode: '23505', constraint: { index: 'User_tenantId_email_key' }, cause: pg };
    const prisma = Object.assign(new Error('Unique constraint failed'), {
      name: 'PrismaClientKnownRequestError',
      code: 'P2002',
      meta: { constraint: 'User_pkey', driverAdapterError: adapter },
    });
    const facts = dbErrorFacts(prisma);
    expect([...facts.codes]).toEqual(['P2002', '23505', 'UniqueConstraintViolation']);
    expect(facts.names).toEqual(['PrismaClientKnownRequestError', 'Error']);
    expect(facts.messages).toEqual(['Unique constraint failed', pg.message]);
    expect(facts.constraints).toEqual(['User_pkey', 'User_tenantId_email_key', 'User_tenantId_username_key']);
  });

  it('reads errno codes and the error code of a wrapped connection failure', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errorCode: 'P1001' });
    expect([...dbErrorFacts(new Error('wrapped', { cause: refused })).codes]).toEqual(['ECONNREFUSED', 'P1001']);
  });

  it('ignores values that are not objects, and stops on deep or circular chains', () => {
    for (const v of [undefined, null, 'text', 42]) expect(dbErrorFacts(v)).toEqual({ codes: new Set(), messages: [], names: [], constraints: [] });
    const loop: { code: string; cause?: unknown } = { code: 'X' };
    loop.cause = loop;
    expect([...dbErrorFacts(loop).codes]).toEqual(['X']);
  });
});
