import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import { notFound } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { assertMayActOnRoles } from '../principals/policy.js';
import { accountForSelfService } from './service.js';

const generate = promisify(generateKeyPair);

export type KeyType = 'RSA' | 'EC';
export const KEY_ALGORITHM: Record<KeyType, string> = { RSA: 'RS256', EC: 'ES256' };

async function newKeyPair(type: KeyType): Promise<{ publicKey: string; privateKey: string }> {
  const pair = type === 'EC' ? await generate('ec', { namedCurve: 'P-256' }) : await generate('rsa', { modulusLength: 2048 });
  return {
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * The key file handed to the account's owner, in ZITADEL's machine-key format so that
 * tools written for it work unchanged. It holds the only copy of the private key.
 */
export interface KeyFile {
  type: 'serviceaccount';
  keyId: string;
  key: string;
  userId: string;
}

export async function createKey(ctx: ServiceContext, machineUserId: string, input: { expirationDate: Date; keyType: KeyType }) {
  const sa = await accountForSelfService(ctx, machineUserId);
  assertMayActOnRoles(
    ctx.principal,
    ctx.tenantId,
    sa.roles.map((r) => r.roleName),
    'serviceaccount',
  );
  const { publicKey, privateKey } = await newKeyPair(input.keyType);
  const row = await ctx.prisma.$transaction(async (tx) => {
    const key = await tx.serviceAccountKey.create({
      data: {
        tenantId: ctx.tenantId,
        serviceAccountId: sa.id,
        keyType: input.keyType,
        algorithm: KEY_ALGORITHM[input.keyType],
        publicKeyPem: publicKey,
        expiresAt: input.expirationDate,
      },
    });
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'serviceaccount.key.created',
        targetType: 'key',
        targetId: key.id,
        details: { serviceAccountId: sa.id, keyType: key.keyType, expiresAt: key.expiresAt.toISOString() },
      },
      ctx.requestId,
    );
    return key;
  });
  const file: KeyFile = { type: 'serviceaccount', keyId: row.id, key: privateKey, userId: sa.id };
  return {
    expirationDate: row.expiresAt.toISOString(),
    key: Buffer.from(JSON.stringify(file)).toString('base64'),
    keyId: row.id,
    // No organisations or projects here: the tenant plays both parts.
    organizationId: ctx.tenantId,
    projectId: ctx.tenantId,
    type: file.type,
    userId: sa.id,
  };
}

export async function deleteKey(ctx: ServiceContext, machineUserId: string, credentialId: string) {
  const sa = await accountForSelfService(ctx, machineUserId);
  assertMayActOnRoles(
    ctx.principal,
    ctx.tenantId,
    sa.roles.map((r) => r.roleName),
    'serviceaccount',
  );
  if (!isUuid(credentialId)) throw notFound('Key');
  const id = credentialId.toLowerCase();
  await ctx.prisma.$transaction(async (tx) => {
    const { count } = await tx.serviceAccountKey.deleteMany({ where: { tenantId: ctx.tenantId, serviceAccountId: sa.id, id } });
    if (!count) throw notFound('Key');
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'serviceaccount.key.deleted', targetType: 'key', targetId: id, details: { serviceAccountId: sa.id } },
      ctx.requestId,
    );
  });
}
