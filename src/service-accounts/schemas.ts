import { z } from 'zod';

/** An RFC 3339 date-time with offset, in the future at the time of the request. */
export const futureDate = z.iso
  .datetime({ offset: true })
  .transform((v) => new Date(v))
  .refine((d) => d.getTime() > Date.now(), 'must be in the future');

export const roleName = z.string().trim().min(1).max(100);

export const serviceAccountCreate = z.strictObject({
  accessTokenType: z.enum(['Bearer', 'Jwt']).default('Bearer'),
  description: z.string().max(400).default(''),
  expirationDate: futureDate.optional(),
  name: z.string().trim().min(1).max(150),
  roles: z.array(roleName).max(50).optional(),
  // Import holds service accounts to these rules too; SignCSR is narrower (a certificate's CN).
  username: z.string().trim().min(1).max(150).regex(/^\S+$/, 'must not contain whitespace'),
});
export type ServiceAccountCreate = z.output<typeof serviceAccountCreate>;

// `roles` may be repeated (?roles=a&roles=b) or comma-separated (?roles=a,b).
const queryRoles = z
  .union([z.string(), z.array(z.string())])
  .transform((v) =>
    [v]
      .flat()
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(roleName).max(50));

export const serviceAccountCreateQuery = z.object({
  withPAT: z.stringbool().default(false).describe('true also creates and returns a PAT; requires expirationDate'),
  roles: queryRoles.optional().describe('roles to assign (repeated or comma-separated); default tenant-admin'),
});

export const credentialCreate = z.strictObject({ expirationDate: futureDate });

export const keyCreate = z.strictObject({
  expirationDate: futureDate,
  keyType: z.enum(['RSA', 'EC']).default('RSA').describe('RSA (2048 bits, RS256) by default, or EC (P-256, ES256)'),
});

export const serviceAccountSearch = z.object({
  data: z
    .strictObject({
      name: z.string().max(150).optional(),
      username: z.string().max(150).optional(),
      role: z.string().max(100).optional().describe('exact role name (case-insensitive)'),
    })
    .default({}),
});
export type ServiceAccountSearch = z.output<typeof serviceAccountSearch>['data'];

export const serviceAccountAttributes = z.object({
  name: z.string(),
  username: z.string(),
  description: z.string(),
  accessTokenType: z.enum(['Bearer', 'Jwt']),
  roles: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const patAttributes = z.object({
  credentialId: z.string(),
  machineUserId: z.string(),
  expirationDate: z.string(),
  lastUsedAt: z.string().nullable(),
  createdAt: z.string(),
});
