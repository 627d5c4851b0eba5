import type { IdentityProvider } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn } from '../principals/policy.js';
import type { Config } from '../platform/config.js';
import { badRequest, notFound, unprocessable } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { allowList, fetchMetadata } from './fetch-metadata.js';
import { parseIdpMetadata } from './metadata.js';
import { generateSpKeyPair, seal } from './sp-keys.js';

export const IDP_TYPE_SAML = 'IDENTITY_PROVIDER_TYPE_SAML';
const STATE_NAMES: Record<string, string> = { active: 'IDP_STATE_ACTIVE', disabled: 'IDP_STATE_INACTIVE' };

export function idpSummary(idp: IdentityProvider) {
  return {
    id: idp.id,
    name: idp.name,
    type: IDP_TYPE_SAML,
    isDefault: idp.isDefault,
    state: STATE_NAMES[idp.state] ?? idp.state,
    entityId: idp.entityId,
  };
}

export const idpCreated = (idp: IdentityProvider) => ({ id: idp.id, isDefault: idp.isDefault, name: idp.name, type: IDP_TYPE_SAML });

/** The additional authenticated data binding an SP key to its IdP row, so sealed keys cannot be swapped between rows. */
export const spKeyAad = (tenantId: string, idpId: string) => `saml-sp-key:${tenantId}:${idpId}`;

export async function listIdps(ctx: ServiceContext) {
  return ctx.prisma.identityProvider.findMany({ where: { tenantId: ctx.tenantId }, orderBy: { createdAt: 'asc' } });
}

export async function findIdp(ctx: Pick<ServiceContext, 'prisma' | 'tenantId'>, id: string) {
  const idp = isUuid(id) ? await ctx.prisma.identityProvider.findUnique({ where: { tenantId_id: { tenantId: ctx.tenantId, id } } }) : null;
  if (!idp) throw notFound('Identity provider');
  return idp;
}

export interface AddSamlIdpInput {
  name: string;
  metadataUrl?: string;
  metadataXml?: string;
  isDefault: boolean;
}

type Tx = Parameters<Parameters<ServiceContext['prisma']['$transaction']>[0]>[0];

/** Serialises default-flag changes of one tenant, so two concurrent requests cannot leave two defaults. */
async function lockTenant(tx: Tx, tenantId: string) {
  await tx.$queryRaw`SELECT id FROM "Tenant" WHERE id = ${tenantId}::uuid FOR UPDATE`;
}

export async function addSamlIdp(ctx: ServiceContext, config: Config, masterKey: Buffer, input: AddSamlIdpInput) {
  if (Boolean(input.metadataUrl) === Boolean(input.metadataXml)) {
    throw badRequest('Exactly one of metadataUrl or metadataXmlFile is required', input.metadataUrl ? '/metadataUrl' : '/metadataXmlFile');
  }
  const xml =
    input.metadataXml ??
    (await fetchMetadata(input.metadataUrl!, {
      timeoutMs: config.SAML_METADATA_TIMEOUT_MS,
      maxBytes: config.SAML_METADATA_MAX_BYTES,
      allow: allowList(config.SAML_METADATA_ALLOW_CIDRS),
    }));
  const md = parseIdpMetadata(xml);
  const id = crypto.randomUUID();
  const keys = await generateSpKeyPair(`${input.name} SAML SP`);

  return ctx.prisma.$transaction(async (tx) => {
    if (input.isDefault) {
      await lockTenant(tx, ctx.tenantId);
      await tx.identityProvider.updateMany({ where: { tenantId: ctx.tenantId, isDefault: true }, data: { isDefault: false } });
    }
    const idp = await tx.identityProvider.create({
      data: {
        id,
        tenantId: ctx.tenantId,
        name: input.name,
        isDefault: input.isDefault,
        entityId: md.entityId,
        metadataUrl: input.metadataUrl ?? null,
        metadataXml: xml,
        ssoRedirectUrl: md.ssoRedirectUrl,
        ssoPostUrl: md.ssoPostUrl ?? null,
        signingCerts: md.signingCerts,
        nameIdFormats: md.nameIdFormats,
        validUntil: md.validUntil ?? null,
        spPrivateKeyEnc: seal(masterKey, keys.privateKeyPem, spKeyAad(ctx.tenantId, id)),
        spCertificate: keys.certificatePem,
      },
    });
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'idp.created',
        targetType: 'idp',
        targetId: id,
        details: { name: input.name, entityId: md.entityId, source: input.metadataUrl ? 'url' : 'file' },
      },
      ctx.requestId,
    );
    return idp;
  });
}

export async function updateSamlIdp(ctx: ServiceContext, id: string, input: { isDefault?: boolean }) {
  const current = await findIdp(ctx, id);
  if (current.state !== 'active' && input.isDefault) throw unprocessable('A disabled identity provider cannot be the default', '/isDefault');
  if (input.isDefault === undefined || input.isDefault === current.isDefault) return current;
  return ctx.prisma.$transaction(async (tx) => {
    await lockTenant(tx, ctx.tenantId);
    if (input.isDefault) {
      await tx.identityProvider.updateMany({ where: { tenantId: ctx.tenantId, isDefault: true, NOT: { id } }, data: { isDefault: false } });
    }
    const idp = await tx.identityProvider.update({ where: { tenantId_id: { tenantId: ctx.tenantId, id } }, data: { isDefault: input.isDefault } });
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'idp.updated', targetType: 'idp', targetId: id, details: { isDefault: input.isDefault } },
      ctx.requestId,
    );
    return idp;
  });
}

/**
 * Disables IdPs and detaches their users, all or nothing: an id that is unknown or
 * belongs to another tenant is a 404 and nothing changes.
 */
export async function disableIdps(ctx: ServiceContext, ids: string[]) {
  const unique = [...new Set(ids)];
  for (const [i, id] of unique.entries()) {
    if (!isUuid(id)) throw Object.assign(notFound('Identity provider'), { source: { pointer: `/data/ids/${i}` } });
  }
  await ctx.prisma.$transaction(async (tx) => {
    const found = await tx.identityProvider.findMany({ where: { tenantId: ctx.tenantId, id: { in: unique } }, select: { id: true, state: true } });
    if (found.length !== unique.length) throw notFound('Identity provider');
    // Detaching users changes how they log in: the caller must outrank every one of them.
    for (const idp of found) await assertMayActOn(tx, ctx.principal, ctx.tenantId, { kind: 'idp', id: idp.id });
    const now = new Date();
    for (const idp of found) {
      const users = await tx.user.findMany({ where: { tenantId: ctx.tenantId, idpId: idp.id }, select: { id: true } });
      await detachUsers(
        tx,
        ctx.tenantId,
        users.map((u) => u.id),
      );
      if (idp.state !== 'disabled') {
        await tx.identityProvider.update({
          where: { tenantId_id: { tenantId: ctx.tenantId, id: idp.id } },
          data: { state: 'disabled', isDefault: false, disabledAt: now },
        });
      }
      // Logins in flight through this IdP end now.
      await tx.samlRequest.deleteMany({ where: { tenantId: ctx.tenantId, idpId: idp.id } });
      await audit(
        tx,
        ctx.principal,
        { tenantId: ctx.tenantId, action: 'idp.disabled', targetType: 'idp', targetId: idp.id, details: { detachedUsers: users.map((u) => u.id) } },
        ctx.requestId,
      );
    }
  });
}

/** Detached users without a password go back to `initial`: they need a password or a new IdP to log in. */
async function detachUsers(tx: Tx, tenantId: string, userIds: string[]) {
  if (!userIds.length) return;
  await tx.user.updateMany({ where: { tenantId, id: { in: userIds }, passwordHash: null, state: 'active' }, data: { state: 'initial' } });
  await tx.user.updateMany({ where: { tenantId, id: { in: userIds } }, data: { idpId: null } });
}

async function findUser(ctx: Pick<ServiceContext, 'prisma' | 'tenantId'>, userId: string) {
  const user = isUuid(userId)
    ? await ctx.prisma.user.findUnique({ where: { tenantId_id: { tenantId: ctx.tenantId, id: userId } }, include: { idp: true } })
    : null;
  if (!user) throw notFound('User');
  return user;
}

export async function getUserIdps(ctx: ServiceContext, userId: string) {
  const user = await findUser(ctx, userId);
  return user.idp ? [user.idp] : [];
}

export async function setUserIdps(ctx: ServiceContext, userId: string, ids: string[]) {
  const unique = [...new Set(ids)];
  if (unique.length > 1) throw unprocessable('A user can be associated with at most one identity provider', '/data/ids');
  const user = await findUser(ctx, userId);
  // Whoever links a user to an IdP decides who can log in as that user.
  await assertMayActOn(ctx.prisma, ctx.principal, ctx.tenantId, { kind: 'user', id: user.id });
  const idpId = unique[0];
  let idp: IdentityProvider | undefined;
  if (idpId !== undefined) {
    idp = isUuid(idpId)
      ? ((await ctx.prisma.identityProvider.findUnique({ where: { tenantId_id: { tenantId: ctx.tenantId, id: idpId } } })) ?? undefined)
      : undefined;
    if (!idp) throw Object.assign(notFound('Identity provider'), { source: { pointer: '/data/ids/0' } });
    if (idp.state !== 'active') throw unprocessable('The identity provider is disabled', '/data/ids/0');
  }
  if ((user.idpId ?? undefined) === idpId) return idp ? [idp] : [];
  await ctx.prisma.$transaction(async (tx) => {
    if (idp) {
      await tx.user.update({
        where: { tenantId_id: { tenantId: ctx.tenantId, id: user.id } },
        data: { idpId: idp.id, state: user.state === 'initial' ? 'active' : undefined },
      });
    } else {
      await detachUsers(tx, ctx.tenantId, [user.id]);
    }
    await audit(
      tx,
      ctx.principal,
      { tenantId: ctx.tenantId, action: 'user.idps.set', targetType: 'user', targetId: user.id, details: { from: user.idpId, to: idpId ?? null } },
      ctx.requestId,
    );
  });
  return idp ? [idp] : [];
}
