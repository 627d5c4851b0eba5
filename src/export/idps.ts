// Identity providers and the links of users to them. ZITADEL's export has OIDC and JWT
// IdPs only, so SAML IdPs travel in `pca.samlIdps`; OIDC IdPs use ZITADEL's `oidcIdps`, with
// what ZITADEL has no field for (state, default flag, domains, just-in-time roles,
// auto-linking, the sealed client secret) in `pca.oidcIdps`; the links use `userLinks`.
// An OIDC client secret leaves the server only with `withKeys`, sealed like SP keys; an
// imported ZITADEL document's plain `clientSecret` is sealed under this server's master key.
// An IdP's SP private key leaves the server only with `withKeys`, and then still sealed
// under this deployment's master key: only a server with the same master key can use it.
// Any other target makes a new SP key pair and says so, since the IdP then needs the
// new SP certificate.
import { z } from 'zod';
import { clientSecretAad } from '../idps/oidc-rp.js';
import { spKeyAad } from '../idps/service.js';
import { parseIdpMetadata, type IdpMetadata } from '../idps/metadata.js';
import { generateSpKeyPair, seal, unseal } from '../idps/sp-keys.js';
import { AppError } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { toUuid } from './foreign-ids.js';
import { clash, upsertRow, type ItemError, type Step, type Tx } from './write-step.js';
import { PAGE, paged } from './json-stream.js';

export interface PcaSamlIdp {
  idpId: string;
  name: string;
  state: string;
  isDefault: boolean;
  entityId: string;
  metadataUrl: string | null;
  metadataXml: string;
  ssoRedirectUrl: string;
  ssoPostUrl: string | null;
  signingCerts: string[];
  nameIdFormats: string[];
  validUntil: string | null;
  disabledAt: string | null;
  spCertificate: string;
  /** Only with `withKeys`: the SP private key as stored, sealed under the exporting deployment's master key. */
  spPrivateKeySealed?: string;
  domains: string[];
  jitProvisioning: boolean;
  jitRoles: string[];
  autoLinkByEmail: boolean;
}

/** ZITADEL's `oidcIdps` entry. `clientSecret` is never written (it is in `pca.oidcIdps`, sealed, with `withKeys`); a ZITADEL document's is read. */
export interface ZitadelOidcIdp {
  idpId: string;
  /** ZITADEL's AddOrgOIDCIDPRequest: every setting sits under `idp`. */
  idp: {
    name: string;
    stylingType: string;
    clientId: string;
    clientSecret?: string;
    issuer: string;
    scopes: string[];
    displayNameMapping: string;
    usernameMapping: string;
    autoRegister: boolean;
  };
}

export interface PcaOidcIdp {
  idpId: string;
  state: string;
  isDefault: boolean;
  disabledAt: string | null;
  domains: string[];
  jitRoles: string[];
  autoLinkByEmail: boolean;
  /** Only with `withKeys`: the client secret as stored, sealed under the exporting deployment's master key. */
  clientSecretSealed?: string;
}

export interface UserLink {
  userId: string;
  idpId: string;
  idpName: string;
  providedUserId: string;
  providedUserName: string;
  /** ZITADEL's enum has no SAML value. */
  idpType: string;
}

export async function exportIdps(tx: Tx, tenantId: string, withKeys: boolean, size = PAGE) {
  const idps = await tx.identityProvider.findMany({ where: { tenantId }, orderBy: { id: 'asc' } });
  const names = new Map(idps.map((i) => [i.id, i.name]));
  const samlIdps: PcaSamlIdp[] = idps
    .filter((i) => i.type === 'saml')
    .map((i) => ({
      idpId: i.id,
      name: i.name,
      state: i.state,
      isDefault: i.isDefault,
      entityId: i.entityId!,
      metadataUrl: i.metadataUrl,
      metadataXml: i.metadataXml!,
      ssoRedirectUrl: i.ssoRedirectUrl!,
      ssoPostUrl: i.ssoPostUrl,
      signingCerts: i.signingCerts,
      nameIdFormats: i.nameIdFormats,
      validUntil: i.validUntil?.toISOString() ?? null,
      disabledAt: i.disabledAt?.toISOString() ?? null,
      spCertificate: i.spCertificate!,
      ...(withKeys ? { spPrivateKeySealed: i.spPrivateKeyEnc! } : {}),
      domains: i.domains,
      jitProvisioning: i.jitProvisioning,
      jitRoles: i.jitRoles,
      autoLinkByEmail: i.autoLinkByEmail,
    }));
  const oidc = idps.filter((i) => i.type === 'oidc');
  const oidcIdps: ZitadelOidcIdp[] = oidc.map((i) => ({
    idpId: i.id,
    idp: {
      name: i.name,
      stylingType: 'STYLING_TYPE_UNSPECIFIED',
      clientId: i.clientId ?? '',
      issuer: i.issuer ?? '',
      scopes: i.scopes,
      displayNameMapping: 'OIDC_MAPPING_FIELD_UNSPECIFIED',
      usernameMapping: 'OIDC_MAPPING_FIELD_EMAIL',
      autoRegister: i.jitProvisioning,
    },
  }));
  const pcaOidcIdps: PcaOidcIdp[] = oidc.map((i) => ({
    idpId: i.id,
    state: i.state,
    isDefault: i.isDefault,
    disabledAt: i.disabledAt?.toISOString() ?? null,
    domains: i.domains,
    jitRoles: i.jitRoles,
    autoLinkByEmail: i.autoLinkByEmail,
    ...(withKeys && i.clientSecretEnc ? { clientSecretSealed: i.clientSecretEnc } : {}),
  }));
  const types = new Map(idps.map((i) => [i.id, i.type]));
  // One link per linked user: read page by page as the document is written.
  const userLinks = paged(
    size,
    (after?: { id: string }) =>
      tx.user.findMany({
        where: { tenantId, idpId: { not: null }, ...(after ? { id: { gt: after.id } } : {}) },
        orderBy: { id: 'asc' },
        take: size,
        select: { id: true, idpId: true, username: true, idpSubject: true },
      }),
    (u): UserLink => ({
      userId: u.id,
      idpId: u.idpId!,
      idpName: names.get(u.idpId!) ?? '',
      // SAML: the NameID a login is matched on is the username; OIDC: the subject (once known).
      providedUserId: types.get(u.idpId!) === 'oidc' ? (u.idpSubject ?? '') : u.username,
      providedUserName: u.username,
      idpType: types.get(u.idpId!) === 'oidc' ? 'IDP_TYPE_OIDC' : 'IDP_TYPE_UNSPECIFIED',
    }),
  );
  return { samlIdps, oidcIdps, pcaOidcIdps, userLinks };
}

const pem = z.string().max(20_000);
const date = z.iso.datetime().nullable();
const samlIdp = z.object({
  idpId: z.uuid(),
  name: z.string().trim().min(1).max(200),
  state: z.enum(['active', 'disabled']),
  isDefault: z.boolean(),
  entityId: z.string().min(1).max(2048),
  metadataUrl: z.url().max(2048).nullable(),
  metadataXml: z.string().min(1).max(2_000_000),
  ssoRedirectUrl: z.url().max(2048),
  ssoPostUrl: z.url().max(2048).nullable(),
  signingCerts: z.array(pem).min(1).max(20),
  nameIdFormats: z.array(z.string().max(512)).max(20),
  validUntil: date,
  disabledAt: date,
  spCertificate: pem,
  spPrivateKeySealed: z.string().max(20_000).optional(),
  domains: z.array(z.string().max(253)).max(50).default([]),
  jitProvisioning: z.boolean().default(false),
  jitRoles: z.array(z.string().max(200)).max(50).default([]),
  autoLinkByEmail: z.boolean().default(false),
});

export interface IdpPlan {
  id: string;
  rawId: string;
  data: Omit<z.output<typeof samlIdp>, 'idpId' | 'spCertificate' | 'spPrivateKeySealed' | 'validUntil' | 'disabledAt'> & {
    validUntil: Date | null;
    disabledAt: Date | null;
  };
  spCertificate: string;
  sealed?: string;
}

const at = (v: string | null) => (v ? new Date(v) : null);

export function planIdps(raw: Record<string, unknown>, errors: ItemError[]): IdpPlan[] {
  const list = (raw.pca as { samlIdps?: unknown } | undefined)?.samlIdps;
  const out: IdpPlan[] = [];
  for (const item of Array.isArray(list) ? list : []) {
    const r = samlIdp.safeParse(item);
    const rawId = String((item as { idpId?: unknown })?.idpId ?? '');
    if (!r.success) {
      errors.push({
        type: 'samlIdp',
        id: rawId,
        field: r.error.issues[0]?.path.join('.'),
        message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
      continue;
    }
    const mismatch = metadataMismatch(r.data);
    if (mismatch) {
      errors.push({ type: 'samlIdp', id: rawId, field: mismatch.field, message: mismatch.message });
      continue;
    }
    const { idpId, spCertificate, spPrivateKeySealed, validUntil, disabledAt, ...data } = r.data;
    out.push({
      id: idpId.toLowerCase(),
      rawId,
      data: { ...data, validUntil: at(validUntil), disabledAt: at(disabledAt) },
      spCertificate,
      sealed: spPrivateKeySealed,
    });
  }
  return out;
}

/**
 * The API reads an IdP's entity id, endpoints and certificates from its metadata; an
 * imported IdP is held to the same metadata, so its columns cannot say something else.
 * Expired metadata still imports (a backup restores what was), as the stored IdP would.
 */
function metadataMismatch(idp: z.infer<typeof samlIdp>): { field: string; message: string } | undefined {
  let md: IdpMetadata;
  try {
    md = parseIdpMetadata(idp.metadataXml, new Date(0));
  } catch (err) {
    return { field: 'metadataXml', message: err instanceof AppError ? err.message : 'is not SAML metadata' };
  }
  const derived = {
    entityId: md.entityId,
    ssoRedirectUrl: md.ssoRedirectUrl,
    ssoPostUrl: md.ssoPostUrl ?? null,
    signingCerts: md.signingCerts,
    nameIdFormats: md.nameIdFormats,
    validUntil: md.validUntil?.toISOString() ?? null,
  };
  for (const [field, value] of Object.entries(derived)) {
    const stated = idp[field as keyof typeof derived];
    const same =
      field === 'validUntil' ? (stated ? new Date(stated as string).toISOString() : null) === value : JSON.stringify(stated) === JSON.stringify(value);
    if (!same) return { field, message: `${field} differs from the one its metadataXml states` };
  }
  return undefined;
}

/** User id (ours) → IdP id (ours), from `userLinks`. */
export function planUserLinks(
  raw: Record<string, unknown>,
  scope: string,
  errors: ItemError[],
): Map<string, { idpId: string; rawUserId: string; subject?: string }> {
  const links = new Map<string, { idpId: string; rawUserId: string; subject?: string }>();
  for (const l of Array.isArray(raw.userLinks) ? (raw.userLinks as { userId?: unknown; idpId?: unknown; providedUserId?: unknown; idpType?: unknown }[]) : []) {
    if (typeof l?.userId !== 'string' || typeof l.idpId !== 'string' || !l.userId || !l.idpId) {
      errors.push({ type: 'userLink', message: 'malformed link: userId and idpId are required' });
      continue;
    }
    // At an OIDC IdP, ZITADEL's providedUserId is the subject (sub) the IdP knows the user by.
    const subject = l.idpType === 'IDP_TYPE_OIDC' && typeof l.providedUserId === 'string' && l.providedUserId ? l.providedUserId.slice(0, 1024) : undefined;
    links.set(toUuid(l.userId, scope), { idpId: isUuid(l.idpId) ? l.idpId.toLowerCase() : toUuid(`idp:${l.idpId}`, scope), rawUserId: l.userId, subject });
  }
  return links;
}

function opens(masterKey: Buffer | undefined, sealed: string | undefined, aad: string): boolean {
  if (!masterKey || !sealed) return false;
  try {
    unseal(masterKey, sealed, aad);
    return true;
  } catch {
    return false;
  }
}

/** Writes the IdPs (before the users, who link to them); returns the ids the tenant then has. */
export async function writeIdps(w: Step, plans: IdpPlan[]): Promise<Set<string>> {
  const { tx, tenantId } = w;
  const type = 'samlIdp';
  for (const p of plans) {
    const cur = await tx.identityProvider.findUnique({ where: { id: p.id } });
    if (cur && (cur.tenantId !== tenantId || cur.type !== 'saml')) {
      clash(w, { type, id: p.rawId, field: 'idpId', message: 'the id belongs to another tenant or another kind of identity provider' });
      continue;
    }
    const data = { ...p.data };
    if (data.isDefault) {
      const other = await tx.identityProvider.findFirst({ where: { tenantId, isDefault: true, NOT: { id: p.id } }, select: { id: true } });
      if (other) {
        clash(w, { type, id: p.rawId, field: 'isDefault', message: 'the tenant already has another default identity provider; imported as not default' });
        data.isDefault = false;
      }
    }
    const aad = spKeyAad(tenantId, p.id);
    if (!cur && !w.masterKey) {
      w.errors.push({ type, id: p.rawId, message: 'this import runs without the master key, so no SP key can be stored; not imported' });
      continue;
    }
    const usable = opens(w.masterKey, p.sealed, aad);
    // An existing row keeps its key unless the document brings one this server can open.
    const keys = usable ? { spPrivateKeyEnc: p.sealed!, spCertificate: p.spCertificate } : {};
    await upsertRow(
      w,
      { type, id: p.rawId },
      cur,
      { ...data, ...keys },
      async () => {
        let created = keys as { spPrivateKeyEnc?: string; spCertificate?: string };
        if (!usable) {
          const pair = await generateSpKeyPair(`${data.name} SAML SP`);
          created = { spPrivateKeyEnc: seal(w.masterKey!, pair.privateKeyPem, aad), spCertificate: pair.certificatePem };
          w.errors.push({
            type,
            id: p.rawId,
            field: 'spPrivateKeySealed',
            message:
              'no SP key this server can open (export withKeys from a server with the same master key); a new SP key pair was made: give the IdP the new SP metadata',
          });
        }
        await tx.identityProvider.create({
          data: { id: p.id, tenantId, ...data, spPrivateKeyEnc: created.spPrivateKeyEnc!, spCertificate: created.spCertificate! },
        });
      },
      () => tx.identityProvider.update({ where: { id: p.id }, data: { ...data, ...keys } }),
    );
  }
  return new Set((await tx.identityProvider.findMany({ where: { tenantId }, select: { id: true } })).map((i) => i.id));
}

const zitadelOidcIdp = z.object({
  idpId: z.string().min(1).max(200),
  idp: z.object({
    name: z.string().trim().min(1).max(200),
    clientId: z.string().min(1).max(200),
    clientSecret: z.string().max(1024).optional(),
    issuer: z.url().max(2048),
    scopes: z.array(z.string().max(100)).max(20).optional(),
    autoRegister: z.boolean().optional(),
  }),
});
const pcaOidcIdp = z.object({
  idpId: z.string().min(1).max(200),
  state: z.enum(['active', 'disabled']),
  isDefault: z.boolean(),
  disabledAt: date,
  domains: z.array(z.string().max(253)).max(50),
  jitRoles: z.array(z.string().max(200)).max(50),
  autoLinkByEmail: z.boolean(),
  clientSecretSealed: z.string().max(4096).optional(),
});

export interface OidcIdpPlan {
  id: string;
  rawId: string;
  data: {
    name: string;
    state: string;
    isDefault: boolean;
    disabledAt: Date | null;
    issuer: string;
    clientId: string;
    scopes: string[];
    domains: string[];
    jitProvisioning: boolean;
    jitRoles: string[];
    autoLinkByEmail: boolean;
  };
  sealed?: string;
  plainSecret?: string;
}

/** OIDC IdPs from ZITADEL's `oidcIdps`, with our `pca.oidcIdps` settings where the document has them. */
export function planOidcIdps(raw: Record<string, unknown>, scope: string, errors: ItemError[]): OidcIdpPlan[] {
  const extra = new Map<string, z.infer<typeof pcaOidcIdp>>();
  const pcaList = (raw.pca as { oidcIdps?: unknown } | undefined)?.oidcIdps;
  for (const item of Array.isArray(pcaList) ? pcaList : []) {
    const r = pcaOidcIdp.safeParse(item);
    if (r.success) extra.set(r.data.idpId, r.data);
    else
      errors.push({
        type: 'pca.oidcIdp',
        id: String((item as { idpId?: unknown })?.idpId ?? ''),
        message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
  }
  const out: OidcIdpPlan[] = [];
  for (const item of Array.isArray(raw.oidcIdps) ? raw.oidcIdps : []) {
    const rawId = String((item as { idpId?: unknown })?.idpId ?? '');
    const r = zitadelOidcIdp.safeParse(item);
    if (!r.success) {
      errors.push({ type: 'oidcIdp', id: rawId, message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      continue;
    }
    const x = extra.get(r.data.idpId);
    const scopes = r.data.idp.scopes?.length ? r.data.idp.scopes : ['openid', 'email', 'profile'];
    out.push({
      id: isUuid(r.data.idpId) ? r.data.idpId.toLowerCase() : toUuid(`idp:${r.data.idpId}`, scope),
      rawId,
      data: {
        name: r.data.idp.name,
        state: x?.state ?? 'active',
        isDefault: x?.isDefault ?? false,
        disabledAt: at(x?.disabledAt ?? null),
        issuer: r.data.idp.issuer,
        clientId: r.data.idp.clientId,
        scopes: scopes.includes('openid') ? scopes : ['openid', ...scopes],
        domains: x?.domains ?? [],
        jitProvisioning: r.data.idp.autoRegister ?? false,
        jitRoles: x?.jitRoles ?? [],
        autoLinkByEmail: x?.autoLinkByEmail ?? false,
      },
      sealed: x?.clientSecretSealed,
      plainSecret: r.data.idp.clientSecret || undefined,
    });
  }
  return out;
}

/** Writes the OIDC IdPs (before the users, who link to them). */
export async function writeOidcIdps(w: Step, plans: OidcIdpPlan[]): Promise<void> {
  const { tx, tenantId } = w;
  const type = 'oidcIdp';
  for (const p of plans) {
    const cur = await tx.identityProvider.findUnique({ where: { id: p.id } });
    if (cur && (cur.tenantId !== tenantId || cur.type !== 'oidc')) {
      clash(w, { type, id: p.rawId, field: 'idpId', message: 'the id belongs to another tenant or another kind of identity provider' });
      continue;
    }
    const data = { ...p.data };
    if (data.isDefault) {
      const other = await tx.identityProvider.findFirst({ where: { tenantId, isDefault: true, NOT: { id: p.id } }, select: { id: true } });
      if (other) {
        clash(w, { type, id: p.rawId, field: 'isDefault', message: 'the tenant already has another default identity provider; imported as not default' });
        data.isDefault = false;
      }
    }
    if (data.state === 'active' && data.domains.length) {
      const taken = await tx.identityProvider.findFirst({
        where: { tenantId, state: 'active', NOT: { id: p.id }, domains: { hasSome: data.domains } },
        select: { domains: true },
      });
      if (taken) {
        clash(w, {
          type,
          id: p.rawId,
          field: 'domains',
          message: 'another active identity provider of the org claims one of these domains; imported without domains',
        });
        data.domains = [];
      }
    }
    const aad = clientSecretAad(tenantId, p.id);
    const secret = opens(w.masterKey, p.sealed, aad)
      ? { clientSecretEnc: p.sealed! }
      : p.plainSecret && w.masterKey
        ? {
            clientSecretEnc:
              cur?.clientSecretEnc && unseal(w.masterKey, cur.clientSecretEnc, aad) === p.plainSecret
                ? cur.clientSecretEnc
                : seal(w.masterKey, p.plainSecret, aad),
          }
        : {};
    if (!('clientSecretEnc' in secret) && !cur?.clientSecretEnc) {
      w.errors.push({
        type,
        id: p.rawId,
        field: 'clientSecret',
        message:
          'no client secret this server can open (export withKeys from a server with the same master key); set one with PATCH /api/v3/idps/oidc/{id} before users sign in through it',
      });
    }
    await upsertRow(
      w,
      { type, id: p.rawId },
      cur,
      { ...data, ...secret },
      () => tx.identityProvider.create({ data: { id: p.id, tenantId, type: 'oidc', ...data, ...secret } }),
      () => tx.identityProvider.update({ where: { id: p.id }, data: { ...data, ...secret } }),
    );
  }
}
