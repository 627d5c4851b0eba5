import { z } from 'zod';
import { isUuid } from '../platform/ids.js';
import { MAX_PASSWORD_LENGTH } from './password-policy.js';

export const USER_STATES = ['initial', 'active', 'inactive', 'locked'] as const;

export const username = z
  .string()
  .trim()
  .min(1)
  .max(150)
  .regex(/^[\p{L}\p{N}._@+-]+$/u, 'letters, digits and . _ @ + - only');
export const email = z.email().max(254);
const personName = z.string().trim().max(200);
// Length only: the tenant's policy decides the rest, with readable errors.
const password = z.string().min(1).max(MAX_PASSWORD_LENGTH);
const uuid = z.string().refine(isUuid, 'must be a UUID');

export const userAttributes = z.object({
  username: z.string(),
  email: z.string(),
  firstName: z.string(),
  lastName: z.string(),
  state: z.enum(USER_STATES).describe('locked: by an admin, or for a while after too many failed logins (see lockedUntil)'),
  lockedUntil: z.string().nullable().describe('While a lockout after failed logins lasts, when it ends by itself; null otherwise'),
  roles: z.array(z.string()),
  idpId: z.string().nullable(),
  termsAcceptedAt: z.string().nullable(),
  lastLoginAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const userCreate = z.strictObject({
  username,
  email,
  firstName: personName.optional(),
  lastName: personName.optional(),
  password: password.optional(),
  state: z.enum(['active', 'inactive']).optional().describe('Defaults to active with a password, initial without'),
  roles: z.array(z.string().min(1).max(100)).max(50).optional(),
});
export type UserCreate = z.output<typeof userCreate>;

export const userUpdate = z.strictObject({
  username: username.optional(),
  email: email.optional(),
  firstName: personName.optional(),
  lastName: personName.optional(),
  password: password.optional(),
  state: z
    .enum(['active', 'inactive', 'locked'])
    .optional()
    .describe('Setting active unlocks a locked user and clears its failed logins and login throttling; locked locks until an admin unlocks'),
});
export type UserUpdate = z.output<typeof userUpdate>;

export const userSearch = z.object({
  data: z
    .strictObject({
      username: z.string().max(150).optional(),
      email: z.string().max(254).optional(),
      firstName: z.string().max(200).optional(),
      lastName: z.string().max(200).optional(),
      role: z.string().max(100).optional().describe('exact role name, held directly or through a group'),
      usergroupId: uuid.optional().describe('exact'),
      state: z.enum(USER_STATES).optional().describe('exact'),
      idpId: uuid.optional().describe('exact'),
    })
    .default({}),
});
export type UserSearch = z.output<typeof userSearch>['data'];

/** `{ data: [ { type, id } ] }`, the body of the bulk adds. */
export function bulkBody(type: string) {
  return z.object({
    data: z
      .array(z.object({ type: z.literal(type).optional(), id: z.string().max(200) }))
      .min(1)
      .max(500),
  });
}

export const bulkResult = z.object({
  errors: z.array(
    z.object({
      status: z.string(),
      code: z.string(),
      title: z.string(),
      detail: z.string().optional(),
      source: z.object({ pointer: z.string() }),
    }),
  ),
});

export const userRoleAttributes = z.object({
  name: z.string(),
  builtIn: z.boolean(),
  direct: z.boolean().describe('assigned to the user itself'),
  inherited: z.boolean().describe('granted through at least one group'),
  inheritedFrom: z.array(z.object({ id: z.string(), name: z.string() })),
});
