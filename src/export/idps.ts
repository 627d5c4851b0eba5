// SAML identity providers and the links of users to them. ZITADEL's export has OIDC and
// JWT IdPs only, so SAML IdPs travel in `pca.samlIdps`; the links use ZITADEL's `userLinks`.
// An IdP's SP private key leaves the server only with `withKeys`, and then still sealed
// under this deployment's master key: only a server with the same master key can use it.
// Any other target makes a new SP key pair and says so, since the IdP then needs the
// new SP certificate.
import { z } from 'zod';
import { spKeyAad } from '../idps/service.js';
import { generateSpKeyPair, seal, unseal } from '../idps/sp-keys.js';
import { isUuid } from '../platform/ids.js';
import { toUuid } from './foreign-ids.js';
import { clash, upsertRow, type ItemError, type Step, type Tx } from './write-step.js';

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

export async function exportIdps(tx: Tx, tenantId: string, withKeys: boolean) {
  const idps = await tx.identityProvider.findMany({ where: { tenantId }, orderBy: { id: 'asc' } });
  const linked = await tx.user.findMany({
    where: { tenantId, idpId: { not: null } },
    orderBy: { id: 'asc' },
    select: { id: true, idpId: true, username: true },
  });
  const names = new Map(idps.map((i) => [i.id, i.name]));
  const samlIdps: PcaSamlIdp[] = idps.filter((i) => i.type === 'saml').map((i) => ({
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
  }));
  const userLinks: UserLink[] = linked.map((u) => ({
    userId: u.id,
    idpId: u.idpId!,
    idpName: names.get(u.idpId!) ?? '',
    // The SAML NameID a login is matched on is the username.
    providedUserId: u.username,
    providedUserName: u.username,
    idpType: 'IDP_TYPE_UNSPECIFIED',
  }));
  return { samlIdps, userLinks };
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
});

export interface IdpPlan {
  id: string;
  rawId: string;
  data: Omit<z.infer<typeof samlIdp>, 'idpId' | 'spCertificate' | 'spPrivateKeySealed' | 'validUntil' | 'disabledAt'> & {
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

/** User id (ours) → IdP id (ours), from `userLinks`. */
export function planUserLinks(raw: Record<string, unknown>, scope: string, errors: ItemError[]): Map<string, { idpId: string; rawUserId: string }> {
  const links = new Map<string, { idpId: string; rawUserId: string }>();
  for (const l of Array.isArray(raw.userLinks) ? (raw.userLinks as { userId?: unknown; idpId?: unknown }[]) : []) {
    if (typeof l?.userId !== 'string' || typeof l.idpId !== 'string' || !l.userId || !l.idpId) {
      errors.push({ type: 'userLink', message: 'malformed link: userId and idpId are required' });
      continue;
    }
    links.set(toUuid(l.userId, scope), { idpId: isUuid(l.idpId) ? l.idpId.toLowerCase() : toUuid(`idp:${l.idpId}`, scope), rawUserId: l.userId });
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
    if (cur && cur.tenantId !== tenantId) {
      clash(w, { type, id: p.rawId, field: 'idpId', message: 'the id belongs to another tenant' });
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
