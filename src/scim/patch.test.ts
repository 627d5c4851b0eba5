import { describe, expect, it } from 'vitest';
import { ScimError } from './errors.js';
import { ENTERPRISE_URN, USER_URN } from './filter.js';
import { applyPatch, lowerKeys, normalizeValue, PATCH_SCHEMA, parsePatchRequest, type Obj, type ResourceShape } from './patch.js';

const shape: ResourceShape = {
  urn: USER_URN,
  multiValued: new Set(['emails', 'phonenumbers']),
  readOnly: new Set(['id', 'groups']),
  ignored: new Set(['nickname']),
  known: new Set(['id', 'username', 'displayname', 'active', 'name', 'title', 'emails', 'phonenumbers', 'groups']),
};

const user = (): Obj => ({
  id: 'u1',
  username: 'ann',
  displayname: 'Ann',
  active: true,
  name: { givenname: 'Ann', familyname: 'Lee' },
  emails: [
    { value: 'ann@work.example', type: 'work', primary: true },
    { value: 'ann@home.example', type: 'home' },
  ],
});

/** Parses a PatchOp body and applies it to `resource`. */
const patch = (resource: Obj, ...Operations: unknown[]) => applyPatch(shape, resource, parsePatchRequest({ schemas: [PATCH_SCHEMA], Operations }));

function failure(run: () => unknown): ScimError {
  try {
    run();
  } catch (e) {
    if (e instanceof ScimError) return e;
    throw e;
  }
  throw new Error('expected a ScimError');
}

describe('parsePatchRequest', () => {
  it('accepts the message schema in any case and operations under either key', () => {
    const ops = parsePatchRequest({ schemas: [PATCH_SCHEMA.toUpperCase()], operations: [{ OP: 'Replace', Path: 'title', Value: 'x' }] });
    expect(ops).toEqual([{ op: 'replace', path: { urn: undefined, attr: 'title', sub: undefined }, rawPath: 'title', value: 'x' }]);
  });

  it.each([
    [null, 'invalidSyntax', 'The request body is not a JSON object'],
    [[], 'invalidSyntax', 'The request body is not a JSON object'],
    [{ Operations: [] }, 'invalidSyntax', `"schemas" must contain ${PATCH_SCHEMA}`],
    [{ schemas: [PATCH_SCHEMA], Operations: [] }, 'invalidSyntax', '"Operations" must be a non-empty array'],
    [{ schemas: [PATCH_SCHEMA], Operations: ['x'] }, 'invalidSyntax', 'Operations[0] is not an object'],
    [{ schemas: [PATCH_SCHEMA], Operations: [{ op: 'move', path: 'a' }] }, 'invalidSyntax', 'Operations[0].op must be add, replace or remove'],
    [{ schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 7, value: 1 }] }, 'invalidPath', 'Operations[0].path must be a string'],
    [{ schemas: [PATCH_SCHEMA], Operations: [{ op: 'remove' }] }, 'noTarget', 'Operations[0]: remove needs a path'],
    [{ schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'title' }] }, 'invalidSyntax', 'Operations[0]: add needs a value'],
    [{ schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'emails[', value: 1 }] }, 'invalidPath', 'Filter ends where an expression was expected'],
  ])('refuses %j', (body, scimType, detail) => {
    const e = failure(() => parsePatchRequest(body));
    expect(e).toMatchObject({ status: 400, scimType, message: detail });
  });

  it('bounds the number of operations', () => {
    const op = { op: 'add', path: 'title', value: 'x' };
    expect(parsePatchRequest({ schemas: [PATCH_SCHEMA], Operations: Array(1000).fill(op) })).toHaveLength(1000);
    expect(failure(() => parsePatchRequest({ schemas: [PATCH_SCHEMA], Operations: Array(1001).fill(op) })).message).toBe('At most 1000 operations per request');
  });
});

describe('applyPatch', () => {
  it('leaves the input untouched', () => {
    const before = user();
    patch(before, { op: 'replace', path: 'displayName', value: 'Changed' }, { op: 'remove', path: 'name.familyName' });
    expect(before).toEqual(user());
  });

  it('adds and replaces single-valued attributes, merging complex ones', () => {
    const out = patch(user(), { op: 'replace', path: 'displayName', value: 'Ann Lee' }, { op: 'add', path: 'name', value: { middleName: 'M' } });
    expect(out.displayname).toBe('Ann Lee');
    expect(out.name).toEqual({ givenname: 'Ann', familyname: 'Lee', middlename: 'M' });
  });

  it('sets and removes a sub-attribute', () => {
    expect(patch(user(), { op: 'replace', path: 'name.givenName', value: 'Anne' }).name).toEqual({ givenname: 'Anne', familyname: 'Lee' });
    expect(patch(user(), { op: 'remove', path: 'name.familyName' }).name).toEqual({ givenname: 'Ann' });
  });

  it('removes an attribute', () => {
    expect(patch(user(), { op: 'remove', path: 'title' })).not.toHaveProperty('title');
    expect(patch(user(), { op: 'remove', path: 'displayName' })).not.toHaveProperty('displayname');
  });

  it('takes a pathless value as a partial resource, skipping schemas, meta, the echoed id and the enterprise extension', () => {
    const out = patch(user(), {
      op: 'replace',
      value: { schemas: ['x'], meta: {}, id: 'u1', Active: false, [ENTERPRISE_URN]: { department: 'R&D' }, [`${USER_URN}:title`]: 'CTO' },
    });
    expect(out).toMatchObject({ active: false, title: 'CTO' });
    expect(out).not.toHaveProperty('schemas');
  });

  it('adds values to a multi-valued attribute without duplicates, moving the primary flag', () => {
    const out = patch(user(), {
      op: 'add',
      path: 'emails',
      value: [
        { value: 'ann@home.example', type: 'home' },
        { value: 'ann@new.example', type: 'other', primary: true },
      ],
    });
    expect(out.emails).toEqual([
      { value: 'ann@work.example', type: 'work', primary: false },
      { value: 'ann@home.example', type: 'home' },
      { value: 'ann@new.example', type: 'other', primary: true },
    ]);
  });

  it('replaces a multi-valued attribute as a whole, accepting a single value for a list', () => {
    expect(patch(user(), { op: 'replace', path: 'emails', value: { Value: 'only@example.com' } }).emails).toEqual([{ value: 'only@example.com' }]);
  });

  it('addresses values through a filter', () => {
    const out = patch(user(), { op: 'replace', path: 'emails[type eq "work"].value', value: 'ann@corp.example' });
    expect((out.emails as Obj[])[0]).toEqual({ value: 'ann@corp.example', type: 'work', primary: true });
    const removed = patch(user(), { op: 'remove', path: 'emails[type eq "home"]' });
    expect(removed.emails).toEqual([{ value: 'ann@work.example', type: 'work', primary: true }]);
    const merged = patch(user(), { op: 'add', path: 'emails[type eq "home"]', value: { display: 'Home' } });
    expect((merged.emails as Obj[])[1]).toEqual({ value: 'ann@home.example', type: 'home', display: 'Home' });
  });

  it('creates the value a filter of equalities describes when nothing matches', () => {
    const out = patch(user(), { op: 'add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555' });
    expect(out.phonenumbers).toEqual([{ type: 'mobile', value: '+1 555' }]);
  });

  it('ignores removal of what is not there', () => {
    expect(patch(user(), { op: 'remove', path: 'emails[type eq "fax"]' })).toEqual(user());
  });

  it('skips ignored attributes and the enterprise extension', () => {
    expect(patch(user(), { op: 'add', path: 'nickName', value: 'A' }, { op: 'add', path: `${ENTERPRISE_URN}:department`, value: 'x' })).toEqual(user());
  });

  it.each([
    [{ op: 'replace', path: 'id', value: 'x' }, 'mutability', '"id" is read-only'],
    [{ op: 'add', path: 'favouriteColour', value: 'x' }, 'invalidPath', 'Unknown attribute in path "favouriteColour"'],
    [
      { op: 'add', path: 'urn:ietf:params:scim:schemas:core:2.0:Group:displayName', value: 'x' },
      'invalidPath',
      '"urn:ietf:params:scim:schemas:core:2.0:Group:displayName" names another resource\'s schema',
    ],
    [{ op: 'add', path: USER_URN, value: 'x' }, 'invalidPath', `"${USER_URN}" does not name an attribute`],
    [{ op: 'add', path: 'name[givenName eq "x"]', value: {} }, 'invalidPath', '"name" is not multi-valued'],
    [{ op: 'replace', path: 'emails[type eq "fax"]', value: {} }, 'noTarget', 'No value of "emails" matches the filter of "emails[type eq "fax"]"'],
    [{ op: 'add', path: 'emails[value co "zzz"].type', value: 'y' }, 'noTarget', 'No value of "emails" matches the filter of "emails[value co "zzz"].type"'],
    [{ op: 'replace', path: 'emails[type eq "work"]', value: 'text' }, 'invalidValue', '"emails[type eq "work"]" needs an object value'],
    [{ op: 'add', value: 'text' }, 'invalidSyntax', 'add without a path needs an object value'],
  ])('refuses %j', (op, scimType, detail) => {
    expect(failure(() => patch(user(), op))).toMatchObject({ status: 400, scimType, message: detail });
  });
});

describe('lowerKeys and normalizeValue', () => {
  it('lower-case attribute names one level deep', () => {
    expect(lowerKeys({ UserName: 'a', Name: { GivenName: 'b' } })).toEqual({ username: 'a', name: { GivenName: 'b' } });
    expect(normalizeValue([{ Value: 'a' }, 'b'])).toEqual([{ value: 'a' }, 'b']);
    expect(normalizeValue('Text')).toBe('Text');
  });
});
