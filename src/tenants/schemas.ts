import { z } from 'zod';

export const subdomain = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, hyphen)');

export const passwordPolicy = z.object({
  minLength: z.number().int().min(8).max(128),
  requireUpper: z.boolean(),
  requireLower: z.boolean(),
  requireDigit: z.boolean(),
  requireSymbol: z.boolean(),
});

export const lockoutPolicy = z.object({
  maxAttempts: z
    .number()
    .int()
    .min(0)
    .max(100)
    .describe(
      'Failed logins, from all client addresses together, before the account locks for LOGIN_LOCKOUT_SECONDS; 0 disables this lock (each address is still throttled)',
    ),
});

export const branding = z.record(z.string().max(64), z.string().max(2048)).refine((b) => Object.keys(b).length <= 32, 'at most 32 entries');

export const tenantAttributes = z.object({
  name: z.string(),
  subdomain: z.string().nullable(),
  state: z.enum(['active', 'disabled']),
  isOperator: z.boolean(),
  branding: z.record(z.string(), z.string()),
  termsRequired: z.boolean(),
  passwordPolicy,
  lockoutPolicy,
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const tenantCreate = z.strictObject({
  name: z.string().trim().min(1).max(200),
  subdomain: subdomain.optional(),
  state: z.enum(['active', 'disabled']).optional(),
  branding: branding.optional(),
  termsRequired: z.boolean().optional(),
  passwordPolicy: passwordPolicy.partial().optional(),
  lockoutPolicy: lockoutPolicy.partial().optional(),
});
export type TenantCreate = z.output<typeof tenantCreate>;

export const tenantUpdate = tenantCreate.partial().extend({ subdomain: subdomain.nullable().optional() });
export type TenantUpdate = z.output<typeof tenantUpdate>;
