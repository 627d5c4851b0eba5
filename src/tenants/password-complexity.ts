import { z } from 'zod';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';

/*
 * A tenant's password rules under ZITADEL's passwordComplexityPolicy names (seed 004), as the
 * export writes them: the same columns the tenant's `passwordPolicy` attribute shows, for a
 * tenant admin who configures the login the way ZITADEL's console does.
 */

export const passwordComplexitySchema = z.strictObject({
  minLength: z.number().int().min(8).max(128).describe('Fewest characters a password may have (8 to 128)'),
  hasUppercase: z.boolean().describe('A password needs an uppercase letter'),
  hasLowercase: z.boolean().describe('A password needs a lowercase letter'),
  hasNumber: z.boolean().describe('A password needs a digit'),
  hasSymbol: z.boolean().describe('A password needs a character that is neither a letter nor a digit'),
});
export type PasswordComplexity = z.output<typeof passwordComplexitySchema>;

/** The rules of a tenant created without any (prisma/schema.prisma's column defaults). */
export const DEFAULT_PASSWORD_COMPLEXITY: PasswordComplexity = { minLength: 12, hasUppercase: true, hasLowercase: true, hasNumber: true, hasSymbol: false };

export const passwordComplexityInput = passwordComplexitySchema.partial();

type Columns = { pwMinLength: number; pwRequireUpper: boolean; pwRequireLower: boolean; pwRequireDigit: boolean; pwRequireSymbol: boolean };

const complexityOf = (t: Columns): PasswordComplexity => ({
  minLength: t.pwMinLength,
  hasUppercase: t.pwRequireUpper,
  hasLowercase: t.pwRequireLower,
  hasNumber: t.pwRequireDigit,
  hasSymbol: t.pwRequireSymbol,
});

export async function passwordComplexityOf(ctx: Pick<ServiceContext, 'prisma'>, tenantId: string): Promise<PasswordComplexity> {
  return complexityOf(await ctx.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId } }));
}

/** Replaces the rules of the context's tenant; fields left out take their defaults. New passwords obey them at once. */
export async function setPasswordComplexity(ctx: ServiceContext, input: z.output<typeof passwordComplexityInput>): Promise<PasswordComplexity> {
  const p = { ...DEFAULT_PASSWORD_COMPLEXITY, ...input };
  return ctx.prisma.$transaction(async (tx) => {
    const t = await tx.tenant.update({
      where: { id: ctx.tenantId },
      data: {
        pwMinLength: p.minLength,
        pwRequireUpper: p.hasUppercase,
        pwRequireLower: p.hasLowercase,
        pwRequireDigit: p.hasNumber,
        pwRequireSymbol: p.hasSymbol,
      },
    });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'tenant.updated', targetType: 'tenant', targetId: ctx.tenantId, details: { fields: ['passwordPolicy'] } },
      ctx.requestId,
    );
    return complexityOf(t);
  });
}
