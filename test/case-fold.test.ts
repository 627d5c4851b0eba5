// Case-insensitive uniqueness lives in columns the database generates with lower(), and
// lookups are folded by the database too (src/platform/case-fold.ts), so the two agree on
// every server and locale, and no entry point writes the folded copy itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const SAMPLES = [
  'Admins',
  'ÉQUIPE',
  'İstanbul', // U+0130: JavaScript's toLowerCase() gives "i" plus a combining dot
  'ΟΔΟΣ', // final sigma: JavaScript's toLowerCase() gives "ς"
  'ДОБРО Ёж',
  'ÅNGSTRÖM Å K', // Ångström and Kelvin signs
  'Ⓐ Ⅻ', // circled letters and roman numerals: lower() folds them on some servers only
  'Dave%X_Y',
];
const group = (name: string) => call(t.app, t.adminPat, 'POST', '/api/v3/usergroups', { data: { type: 'usergroups', attributes: { name } } });

describe('the case-folded columns', () => {
  it('are written by the database from the name, never by the application', async () => {
    await expect(t.db.pool.query(`UPDATE "UserGroup" SET "nameLower" = 'x'`)).rejects.toThrow(/nameLower/);
    const res = await group('Folded Once');
    expect(res.statusCode).toBe(201);
    const { rows } = await t.db.pool.query<{ nameLower: string }>(`SELECT "nameLower" FROM "UserGroup" WHERE id = $1`, [res.json().data.id]);
    expect(rows[0]!.nameLower).toBe('folded once');
  });

  it.each(SAMPLES)('make "%s" and its lower-case form one name, in any script', async (name) => {
    expect((await group(name)).statusCode).toBe(201);
    const { rows } = await t.db.pool.query<{ l: string; u: string }>('SELECT lower($1) AS l, upper($1) AS u', [name]);
    for (const other of new Set([rows[0]!.l, rows[0]!.u].filter((n) => n !== name))) {
      const res = await group(other);
      expect({ other, status: res.statusCode }).toEqual({ other, status: 409 });
    }
  });

  it('find a username and an email written in another case, through REST and SCIM', async () => {
    const created = await call(t.app, t.adminPat, 'POST', '/api/v3/users', {
      data: { attributes: { username: 'Fold.User', email: 'Fold.User@Example.TEST' } },
    });
    expect(created.statusCode).toBe(201);
    const clash = await call(t.app, t.adminPat, 'POST', '/api/v3/users', { data: { attributes: { username: 'fold.user', email: 'other@example.test' } } });
    expect(clash.statusCode).toBe(409);
    const emailClash = await call(t.app, t.adminPat, 'POST', '/api/v3/users', {
      data: { attributes: { username: 'fold-2', email: 'fold.user@example.test' } },
    });
    expect(emailClash.statusCode).toBe(409);
    const scim = await t.app.inject({
      method: 'GET',
      url: `/scim/v2/Users?filter=${encodeURIComponent('userName eq "FOLD.USER"')}`,
      headers: { authorization: `Bearer ${t.adminPat}` },
    });
    expect(scim.statusCode).toBe(200);
    expect(scim.json().Resources.map((r: { id: string }) => r.id)).toEqual([created.json().data.id]);
  });
});
