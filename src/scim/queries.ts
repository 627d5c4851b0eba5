// Turns a parsed SCIM filter into a Prisma where-clause. Every value reaches the
// database as a bound parameter through Prisma; no SQL text is ever built here.
import type { Prisma } from '../generated/prisma/client.js';
import { isUuid } from '../platform/ids.js';
import { invalidFilter, invalidValue } from './errors.js';
import { ENTERPRISE_URN, type AttrPath, type CompareOp, type Filter, type Value } from './filter.js';
import { caseFolder } from '../platform/case-fold.js';

type Raw = Parameters<typeof caseFolder>[0];

type Where = Record<string, unknown>;

export type Attribute =
  | { kind: 'string'; field: string; lower?: boolean; insensitive?: boolean; nullable?: boolean; sort?: string }
  | { kind: 'uuid'; field: string }
  | { kind: 'date'; field: string }
  | { kind: 'active' }
  | { kind: 'const'; value: string | boolean }
  | { kind: 'relation'; relation: string; key: string };

/** Filterable attributes by `attr` or `attr.sub` (lower case). */
export type AttributeMap = Record<string, Attribute>;

export const USER_ATTRIBUTES: AttributeMap = {
  id: { kind: 'uuid', field: 'id' },
  username: { kind: 'string', field: 'usernameLower', lower: true },
  externalid: { kind: 'string', field: 'externalId', nullable: true },
  'name.givenname': { kind: 'string', field: 'firstName', insensitive: true },
  'name.familyname': { kind: 'string', field: 'lastName', insensitive: true },
  emails: { kind: 'string', field: 'emailLower', lower: true },
  'emails.value': { kind: 'string', field: 'emailLower', lower: true },
  'emails.type': { kind: 'const', value: 'work' },
  'emails.primary': { kind: 'const', value: true },
  active: { kind: 'active' },
  'meta.created': { kind: 'date', field: 'createdAt' },
  'meta.lastmodified': { kind: 'date', field: 'updatedAt' },
  groups: { kind: 'relation', relation: 'memberships', key: 'groupId' },
  'groups.value': { kind: 'relation', relation: 'memberships', key: 'groupId' },
};

export const GROUP_ATTRIBUTES: AttributeMap = {
  id: { kind: 'uuid', field: 'id' },
  displayname: { kind: 'string', field: 'nameLower', lower: true },
  externalid: { kind: 'string', field: 'externalId', nullable: true },
  members: { kind: 'relation', relation: 'members', key: 'userId' },
  'members.value': { kind: 'relation', relation: 'members', key: 'userId' },
  'meta.created': { kind: 'date', field: 'createdAt' },
  'meta.lastmodified': { kind: 'date', field: 'updatedAt' },
};

const ALL: Where = {};
const NONE: Where = { id: { in: [] } };

function attributeOf(map: AttributeMap, path: AttrPath): Attribute {
  const key = path.sub ? `${path.attr}.${path.sub}` : path.attr;
  const a = path.urn === ENTERPRISE_URN ? undefined : map[key];
  if (!a) throw invalidFilter(`Filtering on "${key}" is not supported`);
  return a;
}

const PRISMA_OP: Record<'gt' | 'ge' | 'lt' | 'le', 'gt' | 'gte' | 'lt' | 'lte'> = { gt: 'gt', ge: 'gte', lt: 'lt', le: 'lte' };

// Prisma passes contains/startsWith/endsWith to LIKE without escaping its wildcards;
// PostgreSQL's default LIKE escape character is the backslash.
const likeLiteral = (v: string) => v.replace(/[\\%_]/g, (c) => '\\' + c);

function stringCondition(a: Extract<Attribute, { kind: 'string' }>, op: CompareOp, value: Value, fold: Fold): Where {
  if (typeof value !== 'string') throw invalidFilter(`"${a.field}" compares with a string`);
  const v = a.lower ? fold(value) : value;
  const mode = a.insensitive ? { mode: 'insensitive' } : {};
  switch (op) {
    case 'eq':
      return { [a.field]: { equals: v, ...mode } };
    case 'ne':
      return a.nullable ? { OR: [{ NOT: { [a.field]: { equals: v, ...mode } } }, { [a.field]: null }] } : { NOT: { [a.field]: { equals: v, ...mode } } };
    case 'co':
      return { [a.field]: { contains: likeLiteral(v), ...mode } };
    case 'sw':
      return { [a.field]: { startsWith: likeLiteral(v), ...mode } };
    case 'ew':
      return { [a.field]: { endsWith: likeLiteral(v), ...mode } };
    default:
      return { [a.field]: { [PRISMA_OP[op]]: v, ...mode } };
  }
}

function condition(a: Attribute, op: CompareOp, value: Value, fold: Fold): Where {
  switch (a.kind) {
    case 'string':
      return stringCondition(a, op, value, fold);
    case 'uuid': {
      if (typeof value !== 'string') throw invalidFilter('"id" compares with a string');
      if (op === 'eq') return isUuid(value) ? { [a.field]: value.toLowerCase() } : NONE;
      if (op === 'ne') return isUuid(value) ? { NOT: { [a.field]: value.toLowerCase() } } : ALL;
      throw invalidFilter(`Operator "${op}" does not apply to "id"`);
    }
    case 'date': {
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw invalidFilter('Dates compare with an xsd:dateTime string');
      const d = new Date(value);
      if (op === 'eq') return { [a.field]: d };
      if (op === 'ne') return { NOT: { [a.field]: d } };
      if (op === 'co' || op === 'sw' || op === 'ew') throw invalidFilter(`Operator "${op}" does not apply to dates`);
      return { [a.field]: { [PRISMA_OP[op]]: d } };
    }
    case 'active': {
      if (typeof value !== 'boolean') throw invalidFilter('"active" compares with true or false');
      if (op !== 'eq' && op !== 'ne') throw invalidFilter(`Operator "${op}" does not apply to booleans`);
      const wantActive = op === 'eq' ? value : !value;
      return wantActive ? { NOT: { state: 'inactive' } } : { state: 'inactive' };
    }
    case 'const': {
      if (typeof a.value === 'boolean') {
        if (typeof value !== 'boolean' || (op !== 'eq' && op !== 'ne')) throw invalidFilter('Boolean attributes compare with eq or ne and true or false');
        return (op === 'eq') === (a.value === value) ? ALL : NONE;
      }
      if (typeof value !== 'string') throw invalidFilter('String attributes compare with a string');
      const x = a.value.toLowerCase();
      const e = value.toLowerCase();
      const hit = { eq: x === e, ne: x !== e, co: x.includes(e), sw: x.startsWith(e), ew: x.endsWith(e), gt: x > e, ge: x >= e, lt: x < e, le: x <= e }[op];
      return hit ? ALL : NONE;
    }
    case 'relation': {
      if (typeof value !== 'string') throw invalidFilter('Member values compare with a string');
      const some = isUuid(value) ? { [a.relation]: { some: { [a.key]: value.toLowerCase() } } } : NONE;
      if (op === 'eq') return some;
      if (op === 'ne') return { NOT: some };
      throw invalidFilter(`Operator "${op}" does not apply to references`);
    }
  }
}

function present(a: Attribute): Where {
  switch (a.kind) {
    case 'string':
      return a.nullable ? { AND: [{ NOT: { [a.field]: null } }, { NOT: { [a.field]: '' } }] } : { NOT: { [a.field]: '' } };
    case 'relation':
      return { [a.relation]: { some: {} } };
    default:
      return ALL;
  }
}

/** Operands of a chain of one operator, so "a or b or c ..." becomes one flat OR. */
function chain(filter: Filter, op: 'and' | 'or', out: Filter[] = []): Filter[] {
  if (filter.op === op) {
    chain(filter.left, op, out);
    chain(filter.right, op, out);
  } else out.push(filter);
  return out;
}

function toWhere(filter: Filter, map: AttributeMap, fold: Fold): Where {
  switch (filter.op) {
    case 'and':
      return { AND: chain(filter, 'and').map((f) => toWhere(f, map, fold)) };
    case 'or':
      return { OR: chain(filter, 'or').map((f) => toWhere(f, map, fold)) };
    case 'not':
      return { NOT: toWhere(filter.filter, map, fold) };
    case 'pr':
      return present(attributeOf(map, filter.path));
    // Each condition inside brackets was parsed as parent.sub, so it maps on its own.
    case 'valuePath':
      return toWhere(filter.filter, map, fold);
    default:
      return condition(attributeOf(map, filter.path), filter.op, filter.value, fold);
  }
}

/** Folds as the database's lower() does: the case-insensitive attributes compare with generated lower() columns. */
type Fold = (s: string) => string;

function stringsOf(filter: Filter, out: string[] = []): string[] {
  if (filter.op === 'and' || filter.op === 'or') {
    stringsOf(filter.left, out);
    stringsOf(filter.right, out);
  } else if (filter.op === 'not' || filter.op === 'valuePath') stringsOf(filter.filter, out);
  else if ('value' in filter && typeof filter.value === 'string') out.push(filter.value);
  return out;
}

export async function userWhere(db: Raw, filter: Filter): Promise<Prisma.UserWhereInput> {
  return toWhere(filter, USER_ATTRIBUTES, await caseFolder(db, stringsOf(filter))) as Prisma.UserWhereInput;
}
export async function groupWhere(db: Raw, filter: Filter): Promise<Prisma.UserGroupWhereInput> {
  return toWhere(filter, GROUP_ATTRIBUTES, await caseFolder(db, stringsOf(filter))) as Prisma.UserGroupWhereInput;
}

/** Columns `sortBy` may name; anything else is refused rather than silently ignored. */
export function orderBy(map: AttributeMap, sortBy: string | undefined, sortOrder: string | undefined, parse: (s: string) => AttrPath) {
  const dir: 'asc' | 'desc' = sortOrder?.toLowerCase() === 'descending' ? 'desc' : 'asc';
  if (sortOrder && !['ascending', 'descending'].includes(sortOrder.toLowerCase())) throw invalidValue('sortOrder is "ascending" or "descending"');
  if (!sortBy) return [{ createdAt: 'asc' as const }, { id: 'asc' as const }];
  const p = parse(sortBy);
  const a = map[p.sub ? `${p.attr}.${p.sub}` : p.attr];
  const field = a && (a.kind === 'string' || a.kind === 'date' || a.kind === 'uuid') ? a.field : undefined;
  if (!field) throw invalidValue(`Sorting by "${sortBy}" is not supported`);
  return [{ [field]: dir }, { id: 'asc' as const }];
}
