import type { IdentityProvider, Prisma as P } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn } from '../principals/policy.js';
import type { Config } from '../platform/config.js';
import { badRequest, conflict, notFound, unprocessable } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { assertMayConfer } from '../principals/policy.js';
import { resolveRoleName } from '../roles/assign.js';
import { allowList, fetchMetadata } from './fetch-metadata.js';
import { parseIdpMetadata } from './metadata.js';
import { clientSecretAad, discoverIssuer, oidcCallbackUrl, OIDC_DEFAULT_SCOPES } from './oidc-rp.js';
import { generateSpKeyPair, seal, unseal } from './sp-keys.js';

export const IDP_TYPE_SAML = 'IDENTITY_PROVIDER_TYPE_SAML';
export const IDP_TYPE_OIDC = 'IDENTITY_PROVIDER_TYPE_OIDC';
const STATE_NAMES: Record<string, string> = { active: 'IDP_STATE_ACTIVE', disabled: 'IDP_STATE_INACTIVE' };
const typeName = (idp: IdentityProvider) => (idp.type === 'oidc' ? IDP_TYPE_OIDC : IDP_TYPE_SAML);

/** Domain routing and just-in-time settings, shared by both kinds. */
const routingOf = (idp: IdentityProvider) => ({
  domains: idp.domains,
  jitProvisioning: idp.jitProvisioning,
  jitRoles: idp.jitRoles,
  autoLinkByEmail: idp.autoLinkByEmail,
});

export function idpSummary(idp: IdentityProvider) {
  return {
    id: idp.id,
    name: idp.name,
    type: typeName(idp),
    isDefault: idp.isDefault,
    state: STATE_NAMES[idp.state] ?? idp.state,
    // SAML: the IdP's entity ID; OIDC: its issuer.
    entityId: (idp.type === 'oidc' ? idp.issuer : idp.entityId) ?? '',
    ...routingOf(idp),
  };
}

// The PCA guide's answer to adding or changing a SAML IdP: these four fields (the list shows the routing settings).
export const idpCreated = (idp: IdentityProvider) => ({ id: idp.id, isDefault: idp.isDefault, name: idp.name, type: typeName(idp) });

/** An OIDC IdP as the admin API answers it: never the client secret. */
export const oidcIdpView = (config: Pick<Config, 'PUBLIC_URL'>, idp: IdentityProvider) => ({
  ...idpCreated(idp),
  ...routingOf(idp),
  state: STATE_NAMES[idp.state] ?? idp.state,
  issuer: idp.issuer ?? '',
  clientId: idp.clientId ?? '',
  scopes: idp.scopes,
  callbackUrl: oidcCallbackUrl(config.PUBLIC_URL, idp.id),
});

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

export interface AddSamlIdpInput extends IdpRoutingInput {
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
    await lockTenant(tx, ctx.tenantId);
    const routing = await checkedRouting(tx, ctx, id, input);
    if (input.isDefault) {
      await tx.identityProvider.updateMany({ where: { tenantId: ctx.tenantId, isDefault: true }, data: { isDefault: false } });
    }
    const idp = await tx.identityProvider.create({
      data: {
        ...routing,
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
        details: { name: input.name, entityId: md.entityId, source: input.metadataUrl ? 'url' : 'file', ...routing },
      },
      ctx.requestId,
    );
    return idp;
  });
}

/** Email-domain routing and just-in-time provisioning of an IdP (either kind). */
export interface IdpRoutingInput {
  domains?: string[];
  jitProvisioning?: boolean;
  jitRoles?: string[];
  autoLinkByEmail?: boolean;
}

const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks routing settings inside the writing transaction (the tenant lock held): each domain
 * is claimed by no other active IdP of the tenant, and every default role of just-in-time
 * users exists and is one the admin could grant (the privilege policy).
 */
async function checkedRouting(tx: Tx, ctx: ServiceContext, idpId: string, input: IdpRoutingInput) {
  const out: Partial<Pick<IdentityProvider, 'domains' | 'jitProvisioning' | 'jitRoles' | 'autoLinkByEmail'>> = {};
  if (input.domains !== undefined) {
    const domains = [...new Set(input.domains.map((d) => d.trim().toLowerCase().replace(/\.$/, '')))];
    domains.forEach((d, i) => {
      if (!DOMAIN.test(d)) throw unprocessable(`"${d.slice(0, 100)}" is not a domain name`, `/domains/${i}`);
    });
    if (domains.length) {
      const other = await tx.identityProvider.findFirst({
        where: { tenantId: ctx.tenantId, state: 'active', NOT: { id: idpId }, domains: { hasSome: domains } },
        select: { name: true, domains: true },
      });
      if (other) {
        const taken = domains.find((d) => other.domains.includes(d))!;
        throw conflict(`The domain ${taken} is already claimed by the identity provider "${other.name}"`, `/domains/${domains.indexOf(taken)}`);
      }
    }
    out.domains = domains;
  }
  if (input.jitRoles !== undefined) {
    const roles: string[] = [];
    for (const [i, name] of input.jitRoles.entries()) {
      const resolved = await resolveRoleName(tx, ctx.tenantId, name);
      if (!resolved) throw unprocessable(`No role named "${name.slice(0, 100)}"`, `/jitRoles/${i}`);
      // Users created later by the IdP get these roles: the admin who sets them must be able to grant them.
      assertMayConfer(ctx.principal, ctx.tenantId, [resolved]);
      roles.push(resolved);
    }
    out.jitRoles = [...new Set(roles)];
  }
  if (input.jitProvisioning !== undefined) out.jitProvisioning = input.jitProvisioning;
  if (input.autoLinkByEmail !== undefined) out.autoLinkByEmail = input.autoLinkByEmail;
  return out;
}

/** Writes the default flag and routing settings of an IdP of either kind, plus `extra` columns, with one audit event. */
async function updateIdpRow(
  ctx: ServiceContext,
  current: IdentityProvider,
  input: { isDefault?: boolean } & IdpRoutingInput,
  extra: P.IdentityProviderUpdateInput = {},
  details: Record<string, unknown> = {},
) {
  const id = current.id;
  if (current.state !== 'active' && input.isDefault) throw unprocessable('A disabled identity provider cannot be the default', '/isDefault');
  return ctx.prisma.$transaction(async (tx) => {
    await lockTenant(tx, ctx.tenantId);
    const routing = await checkedRouting(tx, ctx, id, input);
    // Anything but the default flag changes how the IdP's users sign in (its issuer, client,
    // who it links): the caller must outrank every one of them.
    if (Object.keys(extra).length || Object.keys(routing).length) await assertMayActOn(tx, ctx.principal, ctx.tenantId, { kind: 'idp', id });
    const isDefault = input.isDefault === undefined || input.isDefault === current.isDefault ? undefined : input.isDefault;
    if (isDefault) {
      await tx.identityProvider.updateMany({ where: { tenantId: ctx.tenantId, isDefault: true, NOT: { id } }, data: { isDefault: false } });
    }
    const data = { ...extra, ...routing, ...(isDefault === undefined ? {} : { isDefault }) };
    if (!Object.keys(data).length) return current;
    const idp = await tx.identityProvider.update({ where: { tenantId_id: { tenantId: ctx.tenantId, id } }, data });
    await audit(
      tx,
      ctx.principal,
      {
        tenantId: ctx.tenantId,
        action: 'idp.updated',
        targetType: 'idp',
        targetId: id,
        details: { ...details, ...routing, ...(isDefault === undefined ? {} : { isDefault }) },
      },
      ctx.requestId,
    );
    return idp;
  });
}

export async function updateSamlIdp(ctx: ServiceContext, id: string, input: { isDefault?: boolean } & IdpRoutingInput) {
  const current = await findIdp(ctx, id);
  if (current.type !== 'saml') throw notFound('SAML identity provider');
  return updateIdpRow(ctx, current, input);
}

export interface OidcIdpInput extends IdpRoutingInput {
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes?: string[];
  isDefault?: boolean;
}

const scopesOf = (scopes: string[] | undefined) => {
  const list = [...new Set(scopes?.length ? scopes : OIDC_DEFAULT_SCOPES)];
  if (!list.includes('openid')) throw unprocessable('scopes must include openid', '/scopes');
  return list;
};

/**
 * AddOidcIdp: discovers the issuer through the SSRF guard first (422 and nothing stored when
 * it is unreachable or not an OpenID Connect issuer), then stores the IdP with its client
 * secret sealed under the master key.
 */
export async function addOidcIdp(ctx: ServiceContext, config: Config, masterKey: Buffer, input: OidcIdpInput) {
  const scopes = scopesOf(input.scopes);
  const discovered = await discoverIssuer(config, input.issuer, input.clientId, input.clientSecret);
  const issuer = discovered.serverMetadata().issuer;
  const id = crypto.randomUUID();
  return ctx.prisma.$transaction(async (tx) => {
    await lockTenant(tx, ctx.tenantId);
    const routing = await checkedRouting(tx, ctx, id, input);
    if (input.isDefault) await tx.identityProvider.updateMany({ where: { tenantId: ctx.tenantId, isDefault: true }, data: { isDefault: false } });
    const idp = await tx.identityProvider.create({
      data: {
        id,
        tenantId: ctx.tenantId,
        type: 'oidc',
        name: input.name,
        isDefault: input.isDefault ?? false,
        issuer,
        clientId: input.clientId,
        clientSecretEnc: seal(masterKey, input.clientSecret, clientSecretAad(ctx.tenantId, id)),
        scopes,
        ...routing,
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
        details: { type: 'oidc', name: input.name, issuer, clientId: input.clientId, ...routing },
      },
      ctx.requestId,
    );
    return idp;
  });
}

/** UpdateOidcIdp: a new issuer, client id or secret is discovered again before anything is stored. */
export async function updateOidcIdp(ctx: ServiceContext, config: Config, masterKey: Buffer, id: string, input: Partial<OidcIdpInput>) {
  const current = await findIdp(ctx, id);
  if (current.type !== 'oidc') throw notFound('OpenID Connect identity provider');
  const extra: P.IdentityProviderUpdateInput = {};
  const details: Record<string, unknown> = {};
  if (input.name !== undefined && input.name !== current.name) extra.name = details.name = input.name;
  if (input.scopes !== undefined) extra.scopes = details.scopes = scopesOf(input.scopes);
  if (input.issuer !== undefined || input.clientId !== undefined || input.clientSecret !== undefined) {
    const secret = input.clientSecret ?? unseal(masterKey, current.clientSecretEnc!, clientSecretAad(ctx.tenantId, id));
    const clientId = input.clientId ?? current.clientId!;
    const discovered = await discoverIssuer(config, input.issuer ?? current.issuer!, clientId, secret);
    extra.issuer = details.issuer = discovered.serverMetadata().issuer;
    extra.clientId = details.clientId = clientId;
    if (input.clientSecret !== undefined) {
      extra.clientSecretEnc = seal(masterKey, input.clientSecret, clientSecretAad(ctx.tenantId, id));
      details.clientSecret = 'replaced';
    }
  }
  return updateIdpRow(ctx, current, input, extra, details);
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
