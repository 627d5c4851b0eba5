import { z } from 'zod';

export const roleName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} ._:-]*$/u, 'letters, digits, space, ".", "_", ":" and "-", starting with a letter or digit');

export const roleAttributes = z.object({
  name: z.string(),
  description: z.string(),
  featureRoles: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const roleCreate = z.strictObject({
  name: roleName,
  description: z.string().max(1000).optional(),
  featureRoles: z.array(z.string().min(1).max(100)).max(100).default([]),
});
export type RoleCreate = z.output<typeof roleCreate>;

export const roleUpdate = z.strictObject({
  name: roleName.optional(),
  description: z.string().max(1000).optional(),
  featureRoles: z.array(z.string().min(1).max(100)).max(100).optional(),
});
export type RoleUpdate = z.output<typeof roleUpdate>;

export const featureRoleAttributes = z.object({ name: z.string(), category: z.string(), description: z.string() });

export const listRolesQuery = z.object({
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(500).default(25),
  NameFilter: z.string().optional(),
  FeatureRolesFilter: z.string().max(1000).optional(),
});
