// Rendering of SCIM resources and list responses, and attribute projection
// (RFC 7644 §3.4.2.5 attributes / excludedAttributes).
import type { User, UserGroup } from '../generated/prisma/client.js';
import { invalidValue } from './errors.js';
import { parseAttrName } from './filter.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

type Obj = Record<string, unknown>;

/** Weak ETag of a row: changes whenever the row is written (groups are touched on membership changes). */
export const versionOf = (row: { updatedAt: Date }) => `W/"${row.updatedAt.getTime().toString(36)}"`;

export const isActive = (state: string) => state !== 'inactive';

export function renderUser(base: string, u: User, groups?: { id: string; name: string }[]): Obj {
  const formatted = `${u.firstName} ${u.lastName}`.trim();
  return {
    schemas: [USER_SCHEMA],
    id: u.id,
    ...(u.externalId != null ? { externalId: u.externalId } : {}),
    userName: u.username,
    name: { givenName: u.firstName, familyName: u.lastName, ...(formatted ? { formatted } : {}) },
    displayName: formatted || u.username,
    emails: [{ value: u.email, type: 'work', primary: true }],
    active: isActive(u.state),
    ...(groups ? { groups: groups.map((g) => ({ value: g.id, display: g.name, $ref: `${base}/Groups/${g.id}`, type: 'direct' })) } : {}),
    meta: {
      resourceType: 'User',
      created: u.createdAt.toISOString(),
      lastModified: u.updatedAt.toISOString(),
      location: `${base}/Users/${u.id}`,
      version: versionOf(u),
    },
  };
}

export function renderGroup(base: string, g: UserGroup, members?: { id: string; username: string }[]): Obj {
  return {
    schemas: [GROUP_SCHEMA],
    id: g.id,
    ...(g.externalId != null ? { externalId: g.externalId } : {}),
    displayName: g.name,
    ...(members ? { members: members.map((m) => ({ value: m.id, display: m.username, $ref: `${base}/Users/${m.id}`, type: 'User' })) } : {}),
    meta: {
      resourceType: 'Group',
      created: g.createdAt.toISOString(),
      lastModified: g.updatedAt.toISOString(),
      location: `${base}/Groups/${g.id}`,
      version: versionOf(g),
    },
  };
}

export interface Projection {
  attributes?: string[][];
  excluded?: string[][];
}

const ALWAYS = new Set(['id', 'schemas']);

function parseList(value: string | undefined): string[][] | undefined {
  if (value === undefined) return undefined;
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return names.map((n) => {
    const p = parseAttrName(n, invalidValue);
    return p.sub ? [p.attr, p.sub] : [p.attr];
  });
}

export function projection(attributes?: string, excludedAttributes?: string): Projection {
  return { attributes: parseList(attributes), excluded: parseList(excludedAttributes) };
}

/** Whether the projection leaves `attr` in the output, so callers can skip loading it. */
export function wants(p: Projection, attr: string): boolean {
  if (p.attributes) return p.attributes.some((a) => a[0] === attr);
  if (p.excluded) return !p.excluded.some((a) => a[0] === attr && a.length === 1);
  return true;
}

export function project(resource: Obj, p: Projection): Obj {
  if (!p.attributes && !p.excluded) return resource;
  const out: Obj = {};
  for (const [key, value] of Object.entries(resource)) {
    const k = key.toLowerCase();
    if (ALWAYS.has(k)) {
      out[key] = value;
      continue;
    }
    if (p.attributes) {
      const picks = p.attributes.filter((a) => a[0] === k);
      if (!picks.length) continue;
      if (picks.some((a) => a.length === 1)) out[key] = value;
      else
        out[key] = pickSubs(
          value,
          picks.map((a) => a[1]!),
        );
      continue;
    }
    const drops = p.excluded!.filter((a) => a[0] === k);
    if (drops.some((a) => a.length === 1)) continue;
    out[key] = drops.length
      ? dropSubs(
          value,
          drops.map((a) => a[1]!),
        )
      : value;
  }
  return out;
}

function mapItems(value: unknown, f: (o: Obj) => Obj): unknown {
  if (Array.isArray(value)) return value.map((v) => (v && typeof v === 'object' ? f(v as Obj) : v));
  if (value && typeof value === 'object') return f(value as Obj);
  return value;
}
const pickSubs = (value: unknown, subs: string[]) =>
  mapItems(value, (o) => Object.fromEntries(Object.entries(o).filter(([k]) => subs.includes(k.toLowerCase()))));
const dropSubs = (value: unknown, subs: string[]) =>
  mapItems(value, (o) => Object.fromEntries(Object.entries(o).filter(([k]) => !subs.includes(k.toLowerCase()))));

export function listResponse(total: number, startIndex: number, resources: Obj[]) {
  return { schemas: [LIST_SCHEMA], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources };
}
