// RFC 7644 §3.5.2 PATCH applied to a resource held as a plain object whose attribute
// names are lower-cased (SCIM attribute names are case-insensitive). The services
// map the patched object back onto their columns.
import { invalidPath, invalidSyntax, invalidValue, mutability, noTarget } from './errors.js';
import { ENTERPRISE_URN, matches, parsePatchPath, type Filter, type PatchPath } from './filter.js';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export type Obj = Record<string, unknown>;
export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path?: PatchPath;
  rawPath?: string;
  value?: unknown;
}

export interface ResourceShape {
  /** The resource's core schema URN, lower case: a path may be qualified with it. */
  urn: string;
  multiValued: Set<string>;
  readOnly: Set<string>;
  /** Attributes accepted and discarded because we have nowhere to keep them. */
  ignored: Set<string>;
  known: Set<string>;
}

const MAX_OPERATIONS = 1000;

/** Validates a PatchOp message and parses its paths. */
export function parsePatchRequest(body: unknown): PatchOperation[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidSyntax('The request body is not a JSON object');
  const b = body as Obj;
  const schemas = b.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_SCHEMA.toLowerCase())) {
    throw invalidSyntax(`"schemas" must contain ${PATCH_SCHEMA}`);
  }
  const ops = b.Operations ?? b.operations;
  if (!Array.isArray(ops) || ops.length === 0) throw invalidSyntax('"Operations" must be a non-empty array');
  if (ops.length > MAX_OPERATIONS) throw invalidSyntax(`At most ${MAX_OPERATIONS} operations per request`);
  return ops.map((raw, i) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalidSyntax(`Operations[${i}] is not an object`);
    const o = lowerKeys(raw as Obj);
    const op = typeof o.op === 'string' ? o.op.toLowerCase() : undefined;
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw invalidSyntax(`Operations[${i}].op must be add, replace or remove`);
    if (o.path !== undefined && typeof o.path !== 'string') throw invalidPath(`Operations[${i}].path must be a string`);
    const path = typeof o.path === 'string' ? parsePatchPath(o.path) : undefined;
    if (op === 'remove' && !path) throw noTarget(`Operations[${i}]: remove needs a path`);
    if (op !== 'remove' && o.value === undefined) throw invalidSyntax(`Operations[${i}]: ${op} needs a value`);
    return { op, path, rawPath: o.path as string | undefined, value: o.value };
  });
}

export function lowerKeys(o: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) out[k.toLowerCase()] = v;
  return out;
}

/** Lower-cases attribute names of a value, one level into complex and multi-valued attributes. */
export function normalizeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => (x && typeof x === 'object' && !Array.isArray(x) ? lowerKeys(x as Obj) : x));
  if (v && typeof v === 'object') return lowerKeys(v as Obj);
  return v;
}

function checkAttr(shape: ResourceShape, attr: string, rawPath: string) {
  if (shape.readOnly.has(attr)) throw mutability(`"${attr}" is read-only`);
  if (!shape.known.has(attr) && !shape.ignored.has(attr)) throw invalidPath(`Unknown attribute in path "${rawPath}"`);
}

/** Turns a filter of eq conditions joined by "and" into the item those conditions describe. */
function itemFromFilter(filter: Filter): Obj | undefined {
  if (filter.op === 'eq' && filter.path.sub) return { [filter.path.sub]: filter.value };
  if (filter.op === 'and') {
    const l = itemFromFilter(filter.left);
    const r = itemFromFilter(filter.right);
    return l && r ? { ...l, ...r } : undefined;
  }
  return undefined;
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
}

function setAttribute(shape: ResourceShape, target: Obj, op: 'add' | 'replace', attr: string, value: unknown) {
  const v = normalizeValue(value);
  if (shape.multiValued.has(attr)) {
    const items = asList(v);
    if (op === 'add') {
      let existing = asList(target[attr]);
      // A new primary value takes the flag from the old ones (RFC 7643 §2.4).
      const isPrimary = (i: unknown) => !!i && typeof i === 'object' && ((i as Obj).primary === true || String((i as Obj).primary).toLowerCase() === 'true');
      if (items.some(isPrimary)) existing = existing.map((e) => (isPrimary(e) ? { ...(e as Obj), primary: false } : e));
      // Adding a value already present is not a change (RFC 7644 §3.5.2.1).
      const fresh = items.filter((i) => !existing.some((e) => JSON.stringify(e) === JSON.stringify(i)));
      target[attr] = [...existing, ...fresh];
    } else target[attr] = items;
    return;
  }
  const current = target[attr];
  if (v && typeof v === 'object' && !Array.isArray(v) && current && typeof current === 'object' && !Array.isArray(current)) {
    target[attr] = { ...(current as Obj), ...(v as Obj) };
  } else target[attr] = v;
}

function applyOne(shape: ResourceShape, target: Obj, o: PatchOperation) {
  if (!o.path) {
    // No path: the value is a partial resource whose attributes are added or replaced.
    if (!o.value || typeof o.value !== 'object' || Array.isArray(o.value)) throw invalidSyntax(`${o.op} without a path needs an object value`);
    for (const [rawKey, v] of Object.entries(o.value as Obj)) {
      const key = rawKey.toLowerCase();
      if (key === 'schemas' || key === ENTERPRISE_URN || key === 'meta') continue;
      if (key.startsWith('urn:')) {
        // "urn:...:User:userName" as a key of a pathless value (Entra ID sends these).
        const p = parsePatchPath(rawKey);
        if (p.urn === ENTERPRISE_URN) continue;
        applyOne(shape, target, { op: o.op, path: p, rawPath: rawKey, value: v });
        continue;
      }
      if (key === 'id' && v === target.id) continue; // Okta echoes the id back
      checkAttr(shape, key, rawKey);
      if (shape.ignored.has(key)) continue;
      setAttribute(shape, target, o.op as 'add' | 'replace', key, v);
    }
    return;
  }

  const p = o.path;
  const raw = o.rawPath ?? p.attr;
  if (p.urn === ENTERPRISE_URN) return;
  if (p.urn && p.urn !== shape.urn) throw invalidPath(`"${raw}" names another resource's schema`);
  if (!p.attr) throw invalidPath(`"${raw}" does not name an attribute`);
  checkAttr(shape, p.attr, raw);
  if (shape.ignored.has(p.attr)) return;

  if (p.filter) {
    if (!shape.multiValued.has(p.attr)) throw invalidPath(`"${p.attr}" is not multi-valued`);
    const items = asList(target[p.attr]) as unknown[];
    const hit = items.map((item) => matches(p.filter!, item));
    if (o.op === 'remove') {
      if (!hit.some(Boolean)) return; // removing what is not there leaves it not there
      target[p.attr] = p.sub ? items.map((item, i) => (hit[i] ? omit(item as Obj, p.sub!) : item)) : items.filter((_, i) => !hit[i]);
      return;
    }
    const v = normalizeValue(o.value);
    if (!hit.some(Boolean)) {
      const seed = itemFromFilter(p.filter);
      if (!seed || (o.op === 'replace' && !p.sub)) throw noTarget(`No value of "${p.attr}" matches the filter of "${raw}"`);
      target[p.attr] = [...items, p.sub ? { ...seed, [p.sub]: v } : { ...seed, ...(v as Obj) }];
      return;
    }
    target[p.attr] = items.map((item, i) => {
      if (!hit[i]) return item;
      if (p.sub) return { ...(item as Obj), [p.sub]: v };
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalidValue(`"${raw}" needs an object value`);
      return o.op === 'replace' ? v : { ...(item as Obj), ...(v as Obj) };
    });
    return;
  }

  if (p.sub) {
    if (shape.multiValued.has(p.attr)) {
      const items = asList(target[p.attr]) as Obj[];
      if (o.op === 'remove') target[p.attr] = items.map((i) => omit(i, p.sub!));
      else target[p.attr] = items.map((i) => ({ ...i, [p.sub!]: normalizeValue(o.value) }));
      return;
    }
    const current = (target[p.attr] && typeof target[p.attr] === 'object' ? target[p.attr] : {}) as Obj;
    target[p.attr] = o.op === 'remove' ? omit(current, p.sub) : { ...current, [p.sub]: normalizeValue(o.value) };
    return;
  }

  if (o.op === 'remove') {
    delete target[p.attr];
    return;
  }
  setAttribute(shape, target, o.op, p.attr, o.value);
}

function omit(o: Obj, key: string): Obj {
  const { [key]: _, ...rest } = o ?? {};
  return rest;
}

/** Applies the operations to a copy of `resource` (lower-cased keys) and returns it. */
export function applyPatch(shape: ResourceShape, resource: Obj, ops: PatchOperation[]): Obj {
  const target = structuredClone(resource);
  for (const o of ops) applyOne(shape, target, o);
  return target;
}
