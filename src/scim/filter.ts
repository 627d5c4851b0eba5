// SCIM filter and attribute-path grammar (RFC 7644 §3.4.2.2 and §3.5.2). The parser
// builds a tree; queries.ts turns it into Prisma where-clauses (never SQL text) and
// patch.ts evaluates it in memory against multi-valued attributes.
import { invalidFilter, invalidPath } from './errors.js';

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type Value = string | number | boolean | null;

/** An attribute reference: `attr` and optional `sub`, lower-cased, schema URN removed. */
export interface AttrPath {
  /** The schema URN the attribute was qualified with, lower-cased, if any. */
  urn?: string;
  attr: string;
  sub?: string;
}

export type Filter =
  | { op: 'and' | 'or'; left: Filter; right: Filter }
  | { op: 'not'; filter: Filter }
  | { op: 'pr'; path: AttrPath }
  | { op: CompareOp; path: AttrPath; value: Value }
  | { op: 'valuePath'; attr: AttrPath; filter: Filter };

/** A PATCH path: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`. */
export interface PatchPath {
  urn?: string;
  attr: string;
  sub?: string;
  filter?: Filter;
}

const COMPARE = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
export const USER_URN = 'urn:ietf:params:scim:schemas:core:2.0:user';
export const GROUP_URN = 'urn:ietf:params:scim:schemas:core:2.0:group';
export const ENTERPRISE_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:user';
const URNS = [ENTERPRISE_URN, USER_URN, GROUP_URN];

type Token =
  | { t: 'word'; v: string; pos: number }
  | { t: 'str'; v: string; pos: number }
  | { t: 'num'; v: number; pos: number }
  | { t: '(' | ')' | '[' | ']' | '.'; pos: number };

const MAX_LENGTH = 4096;
const MAX_DEPTH = 32;

function tokenize(input: string, fail: (d: string) => Error): Token[] {
  if (input.length > MAX_LENGTH) throw fail(`Longer than ${MAX_LENGTH} characters`);
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === '[' || c === ']' || c === '.') {
      out.push({ t: c, pos: i });
      i++;
      continue;
    }
    if (c === '"') {
      const m = /^"(?:[^"\\\u0000-\u001f]|\\.)*"/.exec(input.slice(i));
      if (!m) throw fail(`Unterminated string at position ${i}`);
      let v: string;
      try {
        v = JSON.parse(m[0]) as string;
      } catch {
        throw fail(`Invalid string escape at position ${i}`);
      }
      // The pattern refuses raw control characters; an escape (\u0000) only appears once
      // decoded. PostgreSQL text cannot hold NUL, so it is the client's error, not the database's.
      if (v.includes('\0')) throw fail(`NUL characters are not allowed (string at position ${i})`);
      out.push({ t: 'str', v, pos: i });
      i += m[0].length;
      continue;
    }
    const num = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(input.slice(i));
    if (num) {
      out.push({ t: 'num', v: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    // Attribute names may carry a schema URN, which contains ':' and the '.' of "2.0".
    const word = /^[A-Za-z_$][\w$:-]*(?:\.\d+(?:[\w$:-]*))*(?:\.[A-Za-z_$][\w$-]*)?/.exec(input.slice(i));
    if (word) {
      out.push({ t: 'word', v: word[0], pos: i });
      i += word[0].length;
      continue;
    }
    throw fail(`Unexpected character "${c}" at position ${i}`);
  }
  return out;
}

/** Splits `urn:...:User:name.givenName` into its URN, attribute and sub-attribute. */
export function parseAttrName(name: string, fail: (d: string) => Error = invalidFilter): AttrPath {
  let rest = name;
  let urn: string | undefined;
  const lower = name.toLowerCase();
  if (lower.startsWith('urn:')) {
    urn = URNS.find((u) => lower.startsWith(u + ':'));
    if (!urn) {
      // A bare schema URN addresses the whole extension (used by PATCH without a sub-path).
      if (URNS.includes(lower)) return { urn: lower, attr: '' };
      throw fail(`Unknown schema in attribute "${name}"`);
    }
    rest = name.slice(urn.length + 1);
  }
  const parts = rest.split('.');
  if (parts.length > 2 || parts.some((p) => !/^[A-Za-z_$][\w$-]*$/.test(p))) throw fail(`Invalid attribute name "${name}"`);
  return { urn, attr: parts[0]!.toLowerCase(), sub: parts[1]?.toLowerCase() };
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly fail: (d: string) => Error,
  ) {}

  private peek() {
    return this.tokens[this.i];
  }
  private next() {
    return this.tokens[this.i++];
  }
  private isWord(tok: Token | undefined, w: string) {
    return tok?.t === 'word' && tok.v.toLowerCase() === w;
  }
  private expect(t: Token['t']) {
    const tok = this.next();
    if (!tok || tok.t !== t) throw this.fail(tok ? `Expected "${t}" at position ${tok.pos}` : `Expected "${t}" at the end`);
    return tok;
  }
  done() {
    return this.i >= this.tokens.length;
  }
  rest() {
    const tok = this.peek();
    if (tok) throw this.fail(`Unexpected input at position ${tok.pos}`);
  }

  filter(parent?: AttrPath): Filter {
    if (++this.depth > MAX_DEPTH) throw this.fail('Filter nested too deeply');
    let left = this.conjunction(parent);
    while (this.isWord(this.peek(), 'or')) {
      this.next();
      left = { op: 'or', left, right: this.conjunction(parent) };
    }
    this.depth--;
    return left;
  }

  private conjunction(parent?: AttrPath): Filter {
    let left = this.unary(parent);
    while (this.isWord(this.peek(), 'and')) {
      this.next();
      left = { op: 'and', left, right: this.unary(parent) };
    }
    return left;
  }

  private unary(parent?: AttrPath): Filter {
    const tok = this.peek();
    if (!tok) throw this.fail('Filter ends where an expression was expected');
    if (this.isWord(tok, 'not') && this.tokens[this.i + 1]?.t === '(') {
      this.next();
      this.next();
      const inner = this.filter(parent);
      this.expect(')');
      return { op: 'not', filter: inner };
    }
    if (tok.t === '(') {
      this.next();
      const inner = this.filter(parent);
      this.expect(')');
      return inner;
    }
    if (tok.t !== 'word') throw this.fail(`Expected an attribute name at position ${tok.pos}`);
    this.next();
    const path = this.attrPath(tok.v, parent);
    const after = this.peek();
    if (after?.t === '[') {
      if (parent) throw this.fail('Value filters cannot be nested');
      if (path.sub) throw this.fail(`A value filter applies to a multi-valued attribute, not "${tok.v}"`);
      this.next();
      const inner = this.filter(path);
      this.expect(']');
      return { op: 'valuePath', attr: path, filter: inner };
    }
    const opTok = this.next();
    if (!opTok || opTok.t !== 'word') throw this.fail(`Expected an operator after "${tok.v}"`);
    const op = opTok.v.toLowerCase();
    if (op === 'pr') return { op: 'pr', path };
    if (!COMPARE.has(op)) throw this.fail(`Unknown operator "${opTok.v}" at position ${opTok.pos}`);
    const vTok = this.next();
    if (!vTok) throw this.fail(`Expected a value after "${opTok.v}"`);
    let value: Value;
    if (vTok.t === 'str' || vTok.t === 'num') value = vTok.v;
    else if (vTok.t === 'word' && ['true', 'false', 'null'].includes(vTok.v.toLowerCase())) {
      const w = vTok.v.toLowerCase();
      value = w === 'null' ? null : w === 'true';
    } else throw this.fail(`Expected a value at position ${vTok.pos}`);
    return { op: op as CompareOp, path, value };
  }

  private attrPath(name: string, parent?: AttrPath): AttrPath {
    const p = parseAttrName(name, this.fail);
    if (!p.attr) throw this.fail(`"${name}" names a schema, not an attribute`);
    if (!parent) return p;
    // Inside brackets names are sub-attributes of the filtered attribute.
    if (p.sub || p.urn) throw this.fail(`"${name}" is not a sub-attribute of "${parent.attr}"`);
    return { urn: parent.urn, attr: parent.attr, sub: p.attr };
  }

  /** PATCH path grammar: attrPath | valuePath [ "." subAttr ]. */
  patchPath(): PatchPath {
    const tok = this.next();
    if (!tok || tok.t !== 'word') throw this.fail('A path starts with an attribute name');
    const base = parseAttrName(tok.v, this.fail);
    if (this.peek()?.t !== '[') return base;
    if (base.sub) throw this.fail(`A value filter applies to a multi-valued attribute, not "${tok.v}"`);
    this.next();
    const filter = this.filter(base);
    this.expect(']');
    let sub: string | undefined;
    if (this.peek()?.t === '.') {
      this.next();
      const s = this.next();
      if (!s || s.t !== 'word' || !/^[A-Za-z_$][\w$-]*$/.test(s.v)) throw this.fail('Expected a sub-attribute after "]."');
      sub = s.v.toLowerCase();
    }
    return { urn: base.urn, attr: base.attr, filter, sub };
  }
}

export function parseFilter(input: string): Filter {
  if (!input.trim()) throw invalidFilter('The filter is empty');
  const p = new Parser(tokenize(input, invalidFilter), invalidFilter);
  const f = p.filter();
  p.rest();
  return f;
}

export function parsePatchPath(input: string): PatchPath {
  if (!input.trim()) throw invalidPath('The path is empty');
  const p = new Parser(tokenize(input, invalidPath), invalidPath);
  const path = p.patchPath();
  p.rest();
  return path;
}

// ---- in-memory evaluation, for value filters in PATCH paths ----

function lookup(item: unknown, path: AttrPath): unknown {
  if (item === null || typeof item !== 'object') return undefined;
  // Inside a value filter the item is the element of the multi-valued attribute.
  const key = path.sub ?? path.attr;
  const hit = Object.entries(item as Record<string, unknown>).find(([k]) => k.toLowerCase() === key);
  return hit?.[1];
}

function compare(op: CompareOp, actual: unknown, expected: Value): boolean {
  if (actual === undefined || actual === null) return op === 'ne' ? expected !== null : op === 'eq' && expected === null;
  if (typeof expected === 'string' && typeof actual === 'string') {
    const a = actual.toLowerCase();
    const e = expected.toLowerCase();
    switch (op) {
      case 'eq':
        return a === e;
      case 'ne':
        return a !== e;
      case 'co':
        return a.includes(e);
      case 'sw':
        return a.startsWith(e);
      case 'ew':
        return a.endsWith(e);
      case 'gt':
        return a > e;
      case 'ge':
        return a >= e;
      case 'lt':
        return a < e;
      case 'le':
        return a <= e;
    }
  }
  if (typeof expected === 'boolean') {
    const a = typeof actual === 'string' ? actual.toLowerCase() === 'true' : actual === true;
    if (op === 'eq') return a === expected;
    if (op === 'ne') return a !== expected;
    throw invalidFilter(`Operator "${op}" does not apply to booleans`);
  }
  if (typeof expected === 'number' && typeof actual === 'number') {
    switch (op) {
      case 'eq':
        return actual === expected;
      case 'ne':
        return actual !== expected;
      case 'gt':
        return actual > expected;
      case 'ge':
        return actual >= expected;
      case 'lt':
        return actual < expected;
      case 'le':
        return actual <= expected;
      default:
        throw invalidFilter(`Operator "${op}" does not apply to numbers`);
    }
  }
  return op === 'ne';
}

export function matches(filter: Filter, item: unknown): boolean {
  switch (filter.op) {
    case 'and':
      return matches(filter.left, item) && matches(filter.right, item);
    case 'or':
      return matches(filter.left, item) || matches(filter.right, item);
    case 'not':
      return !matches(filter.filter, item);
    case 'pr': {
      const v = lookup(item, filter.path);
      return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
    }
    case 'valuePath':
      throw invalidFilter('Value filters cannot be nested');
    default:
      return compare(filter.op, lookup(item, filter.path), filter.value);
  }
}
