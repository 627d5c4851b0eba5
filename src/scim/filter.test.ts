import { describe, expect, it } from 'vitest';
import { ScimError } from './errors.js';
import { ENTERPRISE_URN, matches, parseAttrName, parseFilter, parsePatchPath, USER_URN, type Filter } from './filter.js';

/** The SCIM error a parse throws (RFC 7644 §3.12): status 400 and the scimType. */
function failure(parse: () => unknown): ScimError {
  try {
    parse();
  } catch (e) {
    if (e instanceof ScimError) return e;
    throw e;
  }
  throw new Error('expected a ScimError');
}

describe('parseFilter', () => {
  it('parses a comparison, lower-casing attribute names and operators', () => {
    expect(parseFilter('userName EQ "Alice"')).toEqual({ op: 'eq', path: { attr: 'username', sub: undefined, urn: undefined }, value: 'Alice' });
  });

  it('reads every operator of RFC 7644 §3.4.2.2', () => {
    for (const op of ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const) {
      expect(parseFilter(`title ${op} "x"`)).toMatchObject({ op, value: 'x' });
    }
    expect(parseFilter('title pr')).toEqual({ op: 'pr', path: { attr: 'title', sub: undefined, urn: undefined } });
  });

  it('reads strings with JSON escapes, numbers, booleans and null', () => {
    expect(parseFilter('displayName eq "a \\"quoted\\" \\u00e9"')).toMatchObject({ value: 'a "quoted" é' });
    expect(parseFilter('x eq -12.5e2')).toMatchObject({ value: -1250 });
    expect(parseFilter('active eq TRUE')).toMatchObject({ value: true });
    expect(parseFilter('active eq false')).toMatchObject({ value: false });
    expect(parseFilter('title eq null')).toMatchObject({ value: null });
  });

  it('binds and tighter than or, and honours parentheses and not', () => {
    const a = { op: 'pr', path: { attr: 'a', sub: undefined, urn: undefined } };
    const b = { op: 'pr', path: { attr: 'b', sub: undefined, urn: undefined } };
    const c = { op: 'pr', path: { attr: 'c', sub: undefined, urn: undefined } };
    expect(parseFilter('a pr or b pr and c pr')).toEqual({ op: 'or', left: a, right: { op: 'and', left: b, right: c } });
    expect(parseFilter('(a pr or b pr) and c pr')).toEqual({ op: 'and', left: { op: 'or', left: a, right: b }, right: c });
    expect(parseFilter('not (a pr)')).toEqual({ op: 'not', filter: a });
    expect(parseFilter('a pr or b pr or c pr')).toEqual({ op: 'or', left: { op: 'or', left: a, right: b }, right: c });
  });

  it('takes a sub-attribute and a schema-qualified name', () => {
    expect(parseFilter('name.familyName sw "O"')).toMatchObject({ path: { attr: 'name', sub: 'familyname' } });
    expect(parseFilter('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"')).toMatchObject({ path: { urn: USER_URN, attr: 'username' } });
    expect(parseFilter(`${ENTERPRISE_URN}:manager.value eq "m"`)).toMatchObject({ path: { urn: ENTERPRISE_URN, attr: 'manager', sub: 'value' } });
  });

  it('parses a value filter on a multi-valued attribute', () => {
    expect(parseFilter('emails[type eq "work" and value co "@example.com"]')).toEqual({
      op: 'valuePath',
      attr: { attr: 'emails', sub: undefined, urn: undefined },
      filter: {
        op: 'and',
        left: { op: 'eq', path: { attr: 'emails', sub: 'type', urn: undefined }, value: 'work' },
        right: { op: 'co', path: { attr: 'emails', sub: 'value', urn: undefined }, value: '@example.com' },
      },
    });
  });

  it.each([
    ['', 'The filter is empty'],
    ['   ', 'The filter is empty'],
    ['userName', 'Expected an operator after "userName"'],
    ['userName eq', 'Expected a value after "eq"'],
    ['userName like "a"', 'Unknown operator "like" at position 9'],
    ['userName eq "a', 'Unterminated string at position 12'],
    ['userName eq "a" extra', 'Unexpected input at position 16'],
    ['(userName pr', 'Expected ")" at the end'],
    ['userName eq bare', 'Expected a value at position 12'],
    ['userName eq "\\u0000"', 'NUL characters are not allowed (string at position 12)'],
    ['userName eq "a" & x pr', 'Unexpected character "&" at position 16'],
    ['emails[type[value pr] pr]', 'Value filters cannot be nested'],
    ['name.givenName[value pr]', 'A value filter applies to a multi-valued attribute, not "name.givenName"'],
    ['emails[name.x pr]', '"name.x" is not a sub-attribute of "emails"'],
    ['urn:example:unknown:attr pr', 'Unknown schema in attribute "urn:example:unknown:attr"'],
    [`${USER_URN} pr`, `"${USER_URN}" names a schema, not an attribute`],
  ])('refuses %j: %s', (input, detail) => {
    const e = failure(() => parseFilter(input));
    expect(e.status).toBe(400);
    expect(e.scimType).toBe('invalidFilter');
    expect(e.message).toBe(detail);
  });

  it('refuses raw control characters inside a string', () => {
    expect(failure(() => parseFilter('userName eq "a\u0001"')).message).toBe('Unterminated string at position 12');
  });

  it('bounds the input length and the nesting depth', () => {
    expect(failure(() => parseFilter(`userName eq "${'a'.repeat(4096)}"`)).message).toBe('Longer than 4096 characters');
    expect(() => parseFilter('('.repeat(31) + 'a pr' + ')'.repeat(31))).not.toThrow();
    expect(failure(() => parseFilter('('.repeat(40) + 'a pr' + ')'.repeat(40))).message).toBe('Filter nested too deeply');
  });
});

describe('parseAttrName', () => {
  it('splits URN, attribute and sub-attribute', () => {
    expect(parseAttrName('name.givenName')).toEqual({ urn: undefined, attr: 'name', sub: 'givenname' });
    expect(parseAttrName(`${ENTERPRISE_URN}:employeeNumber`)).toEqual({ urn: ENTERPRISE_URN, attr: 'employeenumber', sub: undefined });
  });

  it('refuses a name with more than one dot or an invalid character', () => {
    expect(failure(() => parseAttrName('a.b.c')).message).toBe('Invalid attribute name "a.b.c"');
    expect(failure(() => parseAttrName('1abc')).message).toBe('Invalid attribute name "1abc"');
  });

  it('takes a bare schema URN as the whole extension', () => {
    expect(parseAttrName(ENTERPRISE_URN.toUpperCase())).toEqual({ urn: ENTERPRISE_URN, attr: '' });
  });
});

describe('parsePatchPath', () => {
  it('reads attr, attr.sub, attr[filter] and attr[filter].sub', () => {
    expect(parsePatchPath('displayName')).toEqual({ urn: undefined, attr: 'displayname', sub: undefined });
    expect(parsePatchPath('name.familyName')).toEqual({ urn: undefined, attr: 'name', sub: 'familyname' });
    expect(parsePatchPath('members[value eq "id-1"]')).toMatchObject({ attr: 'members', filter: { op: 'eq', value: 'id-1' }, sub: undefined });
    expect(parsePatchPath('emails[type eq "work"].Value')).toMatchObject({ attr: 'emails', filter: { op: 'eq' }, sub: 'value' });
  });

  it('refuses bad paths with scimType invalidPath', () => {
    for (const [input, detail] of [
      ['', 'The path is empty'],
      ['[x]', 'A path starts with an attribute name'],
      ['emails[type eq "work"].', 'Expected a sub-attribute after "]."'],
      ['emails[type eq "work"', 'Expected "]" at the end'],
      ['name.givenName[value pr]', 'A value filter applies to a multi-valued attribute, not "name.givenName"'],
    ] as const) {
      const e = failure(() => parsePatchPath(input));
      expect(e.scimType).toBe('invalidPath');
      expect(e.message).toBe(detail);
    }
  });
});

describe('matches', () => {
  const inner = (text: string): Filter => parsePatchPath(`emails[${text}]`).filter as Filter;
  const work = { value: 'Ann@Example.com', type: 'work', primary: true };
  const home = { value: 'ann@home.example', type: 'home' };

  it('compares strings case-insensitively', () => {
    expect(matches(inner('value eq "ann@example.com"'), work)).toBe(true);
    expect(matches(inner('value sw "ANN@"'), work)).toBe(true);
    expect(matches(inner('value ew ".COM"'), work)).toBe(true);
    expect(matches(inner('value co "example"'), home)).toBe(true);
    expect(matches(inner('value ne "ann@example.com"'), work)).toBe(false);
    expect(matches(inner('type gt "hoMe"'), work)).toBe(true);
    expect(matches(inner('type le "home"'), home)).toBe(true);
  });

  it('finds sub-attributes whatever their case', () => {
    expect(matches(inner('type eq "work"'), { Type: 'WORK' })).toBe(true);
  });

  it('treats booleans, also when given as strings', () => {
    expect(matches(inner('primary eq true'), work)).toBe(true);
    expect(matches(inner('primary eq true'), { primary: 'TRUE' })).toBe(true);
    expect(matches(inner('primary ne true'), home)).toBe(true);
    expect(failure(() => matches(inner('primary gt true'), work)).message).toBe('Operator "gt" does not apply to booleans');
  });

  it('compares numbers', () => {
    expect(matches(inner('n gt 2'), { n: 3 })).toBe(true);
    expect(matches(inner('n le 2'), { n: 3 })).toBe(false);
    expect(failure(() => matches(inner('n co 2'), { n: 3 })).message).toBe('Operator "co" does not apply to numbers');
  });

  it('answers absent values: only "eq null" and "ne <value>" hold', () => {
    expect(matches(inner('display eq null'), work)).toBe(true);
    expect(matches(inner('display ne "x"'), work)).toBe(true);
    expect(matches(inner('display eq "x"'), work)).toBe(false);
    expect(matches(inner('display ne null'), work)).toBe(false);
  });

  it('evaluates presence, and, or, not', () => {
    expect(matches(inner('primary pr'), work)).toBe(true);
    expect(matches(inner('primary pr'), home)).toBe(false);
    expect(matches(inner('value pr'), { value: '' })).toBe(false);
    expect(matches(inner('value pr'), { value: [] })).toBe(false);
    expect(matches(inner('type eq "work" and primary eq true'), work)).toBe(true);
    expect(matches(inner('type eq "x" or type eq "home"'), home)).toBe(true);
    expect(matches(inner('not (type eq "home")'), home)).toBe(false);
  });

  it('matches nothing in a non-object', () => {
    expect(matches(inner('value pr'), 'a string')).toBe(false);
    expect(matches(inner('value eq null'), null)).toBe(true);
  });
});
