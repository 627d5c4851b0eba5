import type { Prisma as P } from '../generated/prisma/client.js';
import type { Prisma } from '../platform/db.js';
import { forbidden } from '../platform/errors.js';
import { isSkylightAdmin, SKYLIGHT_ADMIN, TENANT_ADMIN, type Principal } from './principal.js';

/**
 * The privilege policy: the one place that decides whether an actor may act on a
 * principal or confer power over one. Every command that changes who can authenticate
 * as a principal, or what a principal may do, asks it; nothing re-states its rule.
 *
 * The rule: an actor may act on a target only when it holds every role the target
 * holds (so no action can lend it a power it lacks), and a tenant principal never acts
 * outside its own tenant. Holding is ordered: skylight-admin holds every role;
 * tenant-admin holds every role of its tenant but skylight-admin, and every feature
 * role; anyone else holds its own roles and the feature roles they contain.
 */

/** Who acts: a principal, or the operator at the server's console (CLI, bootstrap). */
export type Actor = Principal | 'system';

type Db = Pick<Prisma, 'roleAssignment' | 'customRole'>;

/** What a command acts on; group, idp and role stand for every principal they reach. */
export type Target =
  | { kind: 'user'; id: string }
  | { kind: 'users'; ids: string[] }
  | { kind: 'serviceaccount'; id: string }
  /** The group's own roles and every member: changing it acts on all of them. */
  | { kind: 'group'; id: string }
  /** Every user who logs in through the identity provider. */
  | { kind: 'idp'; id: string }
  /** Every holder of the custom role, directly or through a group. */
  | { kind: 'role'; name: string };

const isOperator = (a: Actor) => a === 'system' || isSkylightAdmin(a);

export function holdsRole(actor: Actor, role: string): boolean {
  if (isOperator(actor)) return true;
  const p = actor as Principal;
  if (role === SKYLIGHT_ADMIN) return false;
  return p.roles.includes(TENANT_ADMIN) || p.roles.includes(role);
}

/** The roles among `roles` that the actor does not hold. */
export const rolesBeyond = (actor: Actor, roles: Iterable<string>) => [...new Set(roles)].filter((r) => !holdsRole(actor, r));

export function mayActInTenant(actor: Actor, tenantId: string): boolean {
  return isOperator(actor) || (actor as Principal).tenantId === tenantId;
}

function assertInTenant(actor: Actor, tenantId: string) {
  if (!mayActInTenant(actor, tenantId)) throw forbidden('You may not act outside your tenant');
}

const NOUN: Record<Target['kind'], string> = {
  user: 'This user',
  users: 'One of these users',
  serviceaccount: 'This service account',
  group: 'This user group or one of its members',
  idp: 'A user of this identity provider',
  role: 'A holder of this role',
};

/** Conferring roles (assigning them, or a group or account that carries them) needs holding them. */
export function assertMayConfer(actor: Actor, tenantId: string, roles: Iterable<string>) {
  assertInTenant(actor, tenantId);
  const beyond = rolesBeyond(actor, roles);
  if (beyond.length) throw forbidden(`You cannot grant the role "${beyond[0]}", which you do not hold`);
}

/** Acting on a target whose roles the caller already has at hand. */
export function assertMayActOnRoles(actor: Actor, tenantId: string, held: Iterable<string>, target: Target['kind'] = 'user') {
  assertInTenant(actor, tenantId);
  const beyond = rolesBeyond(actor, held);
  if (beyond.length) throw forbidden(`${NOUN[target]} holds the role "${beyond[0]}", which you do not hold`);
}

export async function assertMayActOn(db: Db, actor: Actor, tenantId: string, target: Target) {
  assertInTenant(actor, tenantId);
  if (isOperator(actor)) return;
  assertMayActOnRoles(actor, tenantId, await rolesHeldBy(db, tenantId, target), target.kind);
}

/** Putting feature roles into a custom role confers them on its holders. */
export async function assertMayConferFeatures(db: Db, actor: Actor, tenantId: string, features: string[]) {
  assertInTenant(actor, tenantId);
  if (isOperator(actor) || (actor as Principal).roles.includes(TENANT_ADMIN) || !features.length) return;
  const own = await db.customRole.findMany({ where: { tenantId, name: { in: (actor as Principal).roles } }, select: { featureRoles: true } });
  const held = new Set(own.flatMap((r) => r.featureRoles));
  const missing = features.find((f) => !held.has(f));
  if (missing) throw forbidden(`You cannot grant the feature role "${missing}", which you do not hold`);
}

/** Users whose effective roles count: these, and the groups they belong to. */
function rolesOfUsers(users: P.UserWhereInput): P.RoleAssignmentWhereInput[] {
  return [{ user: users }, { group: { members: { some: { user: users } } } }];
}

/** Every role the target holds: its own, those of its groups and, for a set, of every member. */
export async function rolesHeldBy(db: Db, tenantId: string, target: Target): Promise<string[]> {
  let or: P.RoleAssignmentWhereInput[];
  switch (target.kind) {
    case 'user':
      or = rolesOfUsers({ id: target.id });
      break;
    case 'users':
      or = rolesOfUsers({ id: { in: target.ids } });
      break;
    case 'serviceaccount':
      or = [{ serviceAccountId: target.id }];
      break;
    case 'group':
      or = [{ groupId: target.id }, ...rolesOfUsers({ memberships: { some: { groupId: target.id } } })];
      break;
    case 'idp':
      or = rolesOfUsers({ idpId: target.id });
      break;
    case 'role': {
      const holders: P.UserWhereInput = {
        OR: [{ roles: { some: { roleName: target.name } } }, { memberships: { some: { group: { roles: { some: { roleName: target.name } } } } } }],
      };
      or = [{ roleName: target.name }, ...rolesOfUsers(holders), { serviceAccount: { roles: { some: { roleName: target.name } } } }];
      break;
    }
  }
  const rows = await db.roleAssignment.findMany({ where: { tenantId, OR: or }, select: { roleName: true }, distinct: ['roleName'] });
  return rows.map((r) => r.roleName);
}
