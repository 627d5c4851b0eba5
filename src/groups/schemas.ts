import { z } from 'zod';
import { isUuid } from '../platform/ids.js';

const groupName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');
const roles = z.array(z.string().min(1).max(100)).max(50);

export const groupAttributes = z.object({
  name: z.string(),
  description: z.string(),
  roles: z.array(z.string()),
  memberCount: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const groupCreate = z.strictObject({
  name: groupName,
  description: z.string().max(1000).optional(),
  roles: roles.optional().describe('role names granted to every member'),
});
export type GroupCreate = z.output<typeof groupCreate>;

export const groupUpdate = z.strictObject({
  name: groupName.optional(),
  description: z.string().max(1000).optional(),
  roles: roles.optional().describe('replaces the roles of the group'),
});
export type GroupUpdate = z.output<typeof groupUpdate>;

export const groupSearch = z.object({
  data: z
    .strictObject({
      name: z.string().max(200).optional().describe('case-insensitive substring'),
      userId: z.string().refine(isUuid, 'must be a UUID').optional().describe('exact: groups this user belongs to'),
    })
    .default({}),
});
export type GroupSearch = z.output<typeof groupSearch>['data'];
