// SCIM error answers for client input that PostgreSQL cannot take (NUL characters):
// 400 in the SCIM error format, never a 500, never database or ORM text in the body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { createTenant, seedServiceAccountPat, startTestApp, type TestApp } from './helpers/app.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

let t: TestApp;
let pat: string;

beforeAll(async () => {
  t = await startTestApp();
  const tenant = await createTenant(t, 'SCIM errors', 'scim-errors');
  pat = (await seedServiceAccountPat(t, tenant, ['tenant-admin'])).pat;
}, 60_000);
afterAll(async () => t?.close());

function scim(method: 'GET' | 'POST', url: string, body?: unknown, type = 'application/scim+json'): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method,
    url: `/scim/v2${url}`,
    headers: { authorization: `Bearer ${pat}`, ...(body !== undefined ? { 'content-type': type } : {}) },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A SCIM error with this status and scimType, and nothing of the database, the ORM or the source in it. */
function expectCleanScimError(res: LightMyRequestResponse, status: number, scimType: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
  const body = res.json();
  expect(body).toMatchObject({ schemas: [ERROR], status: String(status), scimType });
  expect(typeof body.detail).toBe('string');
  expect(Object.keys(body).sort()).toEqual(['detail', 'schemas', 'scimType', 'status']);
  expect(res.body).not.toMatch(/prisma|postgres|invalid byte sequence|0x00|22021|driverAdapter|\bat \S+ \(|\.ts:\d+|node_modules|\/src\//i);
}

describe('a filter string with an escaped NUL character', () => {
  // The SCIM filter's string escape \u0000 (backslash, u, four zeros) inside the filter text.
  const nul = '\\u0000';

  it('is 400 invalidFilter on GET /Users and GET /Groups', async () => {
    for (const filter of [`userName eq "a${nul}b"`, `name.givenName co "${nul}"`, `emails[value sw "x${nul}"]`, `userName eq "ok" or externalId eq "${nul}"`]) {
      expectCleanScimError(await scim('GET', '/Users?filter=' + encodeURIComponent(filter)), 400, 'invalidFilter');
    }
    for (const filter of [`displayName eq "a${nul}b"`, `externalId sw "${nul}"`]) {
      expectCleanScimError(await scim('GET', '/Groups?filter=' + encodeURIComponent(filter)), 400, 'invalidFilter');
    }
  });

  it('is 400 invalidFilter on POST /Users/.search and /Groups/.search', async () => {
    const users = await scim('POST', '/Users/.search', { schemas: [SEARCH], filter: `userName eq "a${nul}b"` });
    expectCleanScimError(users, 400, 'invalidFilter');
    const groups = await scim('POST', '/Groups/.search', { schemas: [SEARCH], filter: `displayName eq "a${nul}b"` });
    expectCleanScimError(groups, 400, 'invalidFilter');
  });

  it('other escapes still decode: a filter written with \\u escapes finds the user', async () => {
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'escaped-alice', emails: [{ value: 'escaped-alice@x.test' }] });
    expect(created.statusCode, created.body).toBe(201);
    const res = await scim('GET', '/Users?filter=' + encodeURIComponent('userName eq "escaped-\\u0061lice"'));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().Resources.map((r: { userName: string }) => r.userName)).toEqual(['escaped-alice']);
  });
});

describe('a value PostgreSQL refuses, reaching the database from SCIM', () => {
  // A date JavaScript accepts but PostgreSQL's timestamp cannot hold (before 4713 BC): the
  // database refuses the query, and the SCIM handler maps that refusal as the main handler
  // does (400), not as an internal error.
  it('is a 400 in the SCIM format, on list and .search, for users and groups', async () => {
    const filter = 'meta.created gt "-271821-04-20T00:00:00Z"';
    for (const kind of ['Users', 'Groups']) {
      expectCleanScimError(await scim('GET', `/${kind}?filter=` + encodeURIComponent(filter)), 400, 'invalidValue');
      expectCleanScimError(await scim('POST', `/${kind}/.search`, { schemas: [SEARCH], filter }), 400, 'invalidValue');
    }
  });
});
