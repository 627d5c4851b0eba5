// Applications (OAuth clients) in the export: ZITADEL's `oidcApps`, `apiApps` and
// `appKeys` for what ZITADEL has fields for, and `pca.applications` with every column
// (client id, secret hash, lifetimes...) so that our own export round-trips without loss.
import { createHash, createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { Prisma as Db, type Application } from '../generated/prisma/client.js';
import { AppError } from '../platform/errors.js';
import { foldCase } from '../platform/case-fold.js';
import { forgetClient } from '../oauth/hot-cache.js';
import { checkJwksUri, checkShape, hashClientSecret, unsealClientSecret } from '../oauth/applications.js';
import {
  applicationCreate,
  AUTH_METHODS,
  GRANT_AUTHORIZATION_CODE,
  GRANT_CLIENT_CREDENTIALS,
  GRANT_REFRESH_TOKEN,
  GRANT_TOKEN_EXCHANGE,
} from '../oauth/schemas.js';
import { clash, upsertRow, type ItemError, type Step, type Tx } from './write-step.js';
import { toUuid } from './foreign-ids.js';

const GRANTS: Record<string, string> = {
  [GRANT_AUTHORIZATION_CODE]: 'OIDC_GRANT_TYPE_AUTHORIZATION_CODE',
  [GRANT_REFRESH_TOKEN]: 'OIDC_GRANT_TYPE_REFRESH_TOKEN',
  [GRANT_TOKEN_EXCHANGE]: 'OIDC_GRANT_TYPE_TOKEN_EXCHANGE',
};
const OIDC_AUTH: Record<string, string> = {
  none: 'OIDC_AUTH_METHOD_TYPE_NONE',
  client_secret_basic: 'OIDC_AUTH_METHOD_TYPE_BASIC',
  client_secret_post: 'OIDC_AUTH_METHOD_TYPE_POST',
  private_key_jwt: 'OIDC_AUTH_METHOD_TYPE_PRIVATE_KEY_JWT',
};
const inverse = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k]));

/** Every column of an application but the tenant and the timestamps. */
export interface PcaApplication {
  appId: string;
  name: string;
  clientId: string;
  clientType: 'public' | 'confidential';
  clientSecretHash: string | null;
  tokenEndpointAuthMethod: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: string[];
  accessTokenType: string;
  signingAlg: string;
  accessTokenLifetime: number;
  idTokenLifetime: number;
  refreshTokenLifetime: number;
  serviceAccountId: string | null;
  isManaged: boolean;
  secretRotatedAt: string | null;
  jwks: unknown;
  jwksUri: string | null;
  requirePushedAuthorizationRequests: boolean;
  requireSignedRequestObject: boolean;
  /** Only with `withKeys`, and only for client_secret_jwt: the secret as stored, sealed under the exporting deployment's master key. */
  clientSecretSealed?: string;
}

/** A client that only ever gets tokens for itself is what ZITADEL calls an API app. */
const isApiApp = (a: Application) => a.grantTypes.length > 0 && a.grantTypes.every((g) => g === GRANT_CLIENT_CREDENTIALS);

function jwkToPem(jwk: unknown): string | undefined {
  try {
    return createPublicKey({ key: jwk as Parameters<typeof createPublicKey>[0] & object, format: 'jwk' } as never)
      .export({ type: 'spki', format: 'pem' })
      .toString();
  } catch {
    return undefined;
  }
}

export async function exportApplications(tx: Tx, tenantId: string, withKeys: boolean) {
  const apps = await tx.application.findMany({ where: { tenantId }, orderBy: { id: 'asc' } });
  const projectId = tenantId;
  const oidcApps = apps
    .filter((a) => !isApiApp(a))
    .map((a) => ({
      appId: a.id,
      app: {
        projectId,
        name: a.name,
        redirectUris: a.redirectUris,
        responseTypes: ['OIDC_RESPONSE_TYPE_CODE'],
        grantTypes: a.grantTypes.map((g) => GRANTS[g]).filter(Boolean),
        appType: a.clientType === 'public' ? 'OIDC_APP_TYPE_USER_AGENT' : 'OIDC_APP_TYPE_WEB',
        authMethodType: OIDC_AUTH[a.tokenEndpointAuthMethod] ?? 'OIDC_AUTH_METHOD_TYPE_NONE',
        postLogoutRedirectUris: a.postLogoutRedirectUris,
        version: 'OIDC_VERSION_1_0',
        accessTokenType: a.accessTokenType === 'jwt' ? 'OIDC_TOKEN_TYPE_JWT' : 'OIDC_TOKEN_TYPE_BEARER',
      },
    }));
  const apiApps = apps.filter(isApiApp).map((a) => ({
    appId: a.id,
    app: {
      projectId,
      name: a.name,
      authMethodType: a.tokenEndpointAuthMethod === 'private_key_jwt' ? 'API_AUTH_METHOD_TYPE_PRIVATE_KEY_JWT' : 'API_AUTH_METHOD_TYPE_BASIC',
    },
  }));
  const appKeys = apps.flatMap((a) =>
    (((a.jwks as { keys?: unknown[] } | null)?.keys ?? []) as { kid?: string }[]).flatMap((k, i) => {
      const pem = jwkToPem(k);
      return pem
        ? [{ id: k.kid ?? `${a.id}:${i}`, projectId, appId: a.id, clientId: a.clientId, type: 'KEY_TYPE_JSON', publicKey: Buffer.from(pem).toString('base64') }]
        : [];
    }),
  );
  const applications: PcaApplication[] = apps.map((a) => ({
    appId: a.id,
    name: a.name,
    clientId: a.clientId,
    clientType: a.clientType as PcaApplication['clientType'],
    clientSecretHash: a.clientSecretHash,
    tokenEndpointAuthMethod: a.tokenEndpointAuthMethod,
    redirectUris: a.redirectUris,
    postLogoutRedirectUris: a.postLogoutRedirectUris,
    grantTypes: a.grantTypes,
    accessTokenType: a.accessTokenType,
    signingAlg: a.signingAlg,
    accessTokenLifetime: a.accessTokenLifetime,
    idTokenLifetime: a.idTokenLifetime,
    refreshTokenLifetime: a.refreshTokenLifetime,
    serviceAccountId: a.serviceAccountId,
    isManaged: a.isManaged,
    secretRotatedAt: a.secretRotatedAt?.toISOString() ?? null,
    jwks: a.jwks,
    jwksUri: a.jwksUri,
    requirePushedAuthorizationRequests: a.requirePushedAuthorizationRequests,
    requireSignedRequestObject: a.requireSignedRequestObject,
    ...(withKeys && a.clientSecretSealed ? { clientSecretSealed: a.clientSecretSealed } : {}),
  }));
  return { oidcApps, apiApps, appKeys, applications };
}

const s = applicationCreate.shape;
// Managed clients (AnalyticsUI, SwaggerUI) carry the redirects the server derived from its
// own configuration, which may be plain http in development: they are checked for form only.
const configuredUri = z
  .string()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !v.includes('#');
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URI without a fragment');
const anyUri = z.array(configuredUri).max(50);
const pcaApplication = z.object({
  appId: z.uuid(),
  name: s.name,
  clientId: z.string().min(1).max(200),
  clientType: s.clientType,
  clientSecretHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256')
    .nullable(),
  tokenEndpointAuthMethod: z.enum(AUTH_METHODS),
  redirectUris: anyUri,
  postLogoutRedirectUris: anyUri,
  grantTypes: s.grantTypes,
  accessTokenType: s.accessTokenType,
  signingAlg: s.signingAlg,
  accessTokenLifetime: s.accessTokenLifetime,
  idTokenLifetime: s.idTokenLifetime,
  refreshTokenLifetime: s.refreshTokenLifetime,
  serviceAccountId: z.uuid().nullable(),
  isManaged: z.boolean(),
  secretRotatedAt: z.iso.datetime().nullable(),
  jwks: s.jwks.unwrap().nullable(),
  // Absent from documents written before these columns were exported.
  jwksUri: s.jwksUri.unwrap().nullable().default(null),
  requirePushedAuthorizationRequests: z.boolean().default(false),
  requireSignedRequestObject: z.boolean().default(false),
  clientSecretSealed: z.string().max(4096).optional(),
});
const strictUris = z.object({ redirectUris: s.redirectUris, postLogoutRedirectUris: s.postLogoutRedirectUris });

export interface ApplicationPlan {
  id: string;
  rawId: string;
  data: Omit<PcaApplication, 'appId' | 'secretRotatedAt' | 'jwks' | 'clientSecretSealed'> & { secretRotatedAt: Date | null; jwks: object | null };
  /** The sealed secret of a client_secret_jwt client, as the document brings it. */
  sealed?: string;
}

const issues = (e: z.ZodError) => ({
  field: e.issues[0]?.path.join('.') || undefined,
  message: e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
});

/** Our `pca.applications`, or else ZITADEL's `oidcApps` and `apiApps`. */
export function planApplications(raw: Record<string, unknown>, scope: string, errors: ItemError[]): ApplicationPlan[] | undefined {
  const pca = raw.pca as { applications?: unknown } | undefined;
  if (Array.isArray(pca?.applications)) {
    const out: ApplicationPlan[] = [];
    for (const item of pca.applications as unknown[]) {
      const r = pcaApplication.safeParse(item);
      const rawId = String((item as { appId?: unknown })?.appId ?? '');
      if (!r.success) {
        errors.push({ type: 'application', id: rawId, ...issues(r.error) });
        continue;
      }
      if (!r.data.isManaged) {
        const u = strictUris.safeParse(r.data);
        if (!u.success) {
          errors.push({ type: 'application', id: rawId, ...issues(u.error) });
          continue;
        }
      }
      const { appId, secretRotatedAt, jwks, clientSecretSealed, ...data } = r.data;
      out.push({
        id: appId.toLowerCase(),
        rawId,
        data: { ...data, secretRotatedAt: secretRotatedAt ? new Date(secretRotatedAt) : null, jwks: jwks ?? null },
        sealed: clientSecretSealed,
      });
    }
    return out;
  }
  return planZitadelApps(raw, scope, errors);
}

const zitadelOidc = z.object({
  appId: z.string().min(1).max(200),
  app: z.object({
    name: s.name,
    redirectUris: s.redirectUris,
    postLogoutRedirectUris: s.postLogoutRedirectUris,
    grantTypes: z.array(z.string()).optional(),
    appType: z.string().optional(),
    authMethodType: z.string().optional(),
    accessTokenType: z.string().optional(),
  }),
});
const zitadelApi = z.object({
  appId: z.string().min(1).max(200),
  app: z.object({ name: s.name, authMethodType: z.string().optional() }),
});
const ZITADEL_GRANTS = inverse(GRANTS);
const ZITADEL_AUTH = inverse(OIDC_AUTH);

/**
 * ZITADEL exports no client ids and no secrets: an app gets a client id derived from its
 * app id (the same on every import), and a confidential one needs a new secret.
 */
function planZitadelApps(raw: Record<string, unknown>, scope: string, errors: ItemError[]): ApplicationPlan[] | undefined {
  const oidc = Array.isArray(raw.oidcApps) ? (raw.oidcApps as unknown[]) : [];
  const api = Array.isArray(raw.apiApps) ? (raw.apiApps as unknown[]) : [];
  if (!oidc.length && !api.length) return undefined;
  const clientIdOf = (appId: string) => createHash('sha256').update(`${scope}\u0000app\u0000${appId}`).digest('base64url').slice(0, 24);
  const defaults = { accessTokenLifetime: 3600, idTokenLifetime: 3600, refreshTokenLifetime: 2592000, signingAlg: 'RS256' as const, isManaged: false };
  const out: ApplicationPlan[] = [];
  for (const item of oidc) {
    const r = zitadelOidc.safeParse(item);
    const rawId = String((item as { appId?: unknown })?.appId ?? '');
    if (!r.success) {
      errors.push({ type: 'oidcApp', id: rawId, ...issues(r.error) });
      continue;
    }
    const { appId, app } = r.data;
    const method = ZITADEL_AUTH[app.authMethodType ?? 'OIDC_AUTH_METHOD_TYPE_BASIC'] ?? 'client_secret_basic';
    const grantTypes = (app.grantTypes ?? ['OIDC_GRANT_TYPE_AUTHORIZATION_CODE']).map((g) => ZITADEL_GRANTS[g]).filter((g): g is string => !!g);
    if (!grantTypes.length) {
      errors.push({ type: 'oidcApp', id: appId, field: 'app.grantTypes', message: 'none of its grant types is supported (authorization code, refresh token)' });
      continue;
    }
    const clientType = method === 'none' ? 'public' : 'confidential';
    if (clientType === 'confidential' && method !== 'private_key_jwt')
      errors.push({
        type: 'oidcApp',
        id: appId,
        field: 'app.authMethodType',
        message: 'the export carries no client secret; rotate the secret before the client can authenticate',
      });
    out.push({
      id: toUuid(`app:${appId}`, scope),
      rawId: appId,
      data: {
        ...defaults,
        name: app.name,
        clientId: clientIdOf(appId),
        clientType,
        clientSecretHash: null,
        tokenEndpointAuthMethod: method,
        redirectUris: app.redirectUris ?? [],
        postLogoutRedirectUris: app.postLogoutRedirectUris ?? [],
        grantTypes,
        accessTokenType: app.accessTokenType === 'OIDC_TOKEN_TYPE_JWT' ? 'jwt' : 'opaque',
        serviceAccountId: null,
        secretRotatedAt: null,
        jwks: null,
        jwksUri: null,
        requirePushedAuthorizationRequests: false,
        requireSignedRequestObject: false,
      },
    });
  }
  for (const item of api) {
    const r = zitadelApi.safeParse(item);
    const rawId = String((item as { appId?: unknown })?.appId ?? '');
    if (!r.success) {
      errors.push({ type: 'apiApp', id: rawId, ...issues(r.error) });
      continue;
    }
    // A ZITADEL API app is a resource server that introspects tokens; ours are clients with a
    // service account to act as, which the export does not name.
    errors.push({ type: 'apiApp', id: r.data.appId, message: 'API apps (resource servers) have no counterpart here; not imported' });
  }
  return out;
}

/** Writes the applications after the principals: a client-credentials app names its service account. */
export async function writeApplications(w: Step, plans: ApplicationPlan[], holderOf: (id: string) => 'user' | 'serviceAccount' | undefined) {
  const { tx, tenantId } = w;
  for (const a of plans) {
    const type = 'application';
    if (a.data.serviceAccountId && holderOf(a.data.serviceAccountId) !== 'serviceAccount') {
      w.errors.push({ type, id: a.rawId, field: 'serviceAccountId', message: 'no such service account in the org' });
      continue;
    }
    const byClient = await tx.application.findUnique({ where: { clientId: a.data.clientId }, select: { id: true } });
    if (byClient && byClient.id !== a.id) {
      clash(w, { type, id: a.rawId, field: 'clientId', message: `client id "${a.data.clientId}" is used by another application` });
      continue;
    }
    const byName = await tx.application.findFirst({
      where: { tenantId, nameLower: await foldCase(tx, a.data.name), NOT: { id: a.id } },
      select: { id: true },
    });
    if (byName) {
      clash(w, { type, id: a.rawId, field: 'name', message: `application name "${a.data.name}" is taken` });
      continue;
    }
    const cur = await tx.application.findUnique({ where: { id: a.id } });
    if (cur && cur.tenantId !== tenantId) {
      clash(w, { type, id: a.rawId, field: 'appId', message: 'the id belongs to another tenant' });
      continue;
    }
    try {
      // Managed clients are written by the server from its configuration (AnalyticsUI of a
      // tenant without a subdomain has no redirect URI yet): only other clients are checked.
      if (!a.data.isManaged) await checkShape(tx, tenantId, a.data);
      if (a.data.jwksUri) await checkJwksUri(w, a.data.jwksUri);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      w.errors.push({ type, id: a.rawId, field: err.source?.pointer?.split('/').pop(), message: err.message });
      continue;
    }
    const secret = sealedSecretOf(w, a, cur);
    if (secret === undefined) continue;
    const next = { ...a.data, ...secret };
    const data = { ...next, jwks: a.data.jwks ? (a.data.jwks as Db.InputJsonValue) : Db.DbNull };
    await upsertRow(
      w,
      { type, id: a.rawId },
      cur,
      next,
      () => tx.application.create({ data: { id: a.id, tenantId, ...data } }),
      async () => {
        await tx.application.update({ where: { id: a.id }, data });
        forgetClient(a.data.clientId);
      },
    );
  }
}

/**
 * The sealed secret a client_secret_jwt client checks its assertions with: the document's when
 * this server opens it and it is the secret the hash stands for; an existing row keeps its own.
 * Undefined when the item cannot land whole (reported).
 */
function sealedSecretOf(w: Step, a: ApplicationPlan, cur: Application | null): { clientSecretSealed?: string | null } | undefined {
  const jwt = a.data.tokenEndpointAuthMethod === 'client_secret_jwt';
  const fail = (message: string) => {
    w.errors.push({ type: 'application', id: a.rawId, field: 'clientSecretSealed', message });
    return undefined;
  };
  if (!jwt) return a.sealed ? fail('only a client_secret_jwt client has a sealed secret') : { clientSecretSealed: null };
  if (!a.sealed) {
    if (!cur?.clientSecretSealed)
      w.errors.push({
        type: 'application',
        id: a.rawId,
        field: 'clientSecretSealed',
        message: 'the document carries no client secret (export withKeys); rotate the secret before the client can authenticate',
      });
    return {};
  }
  const plain = w.masterKey && unsealClientSecret(w.masterKey, { id: a.id, clientSecretSealed: a.sealed });
  if (!plain)
    return fail("the sealed client secret does not open with this server's master key (export withKeys from a server with the same master key); not imported");
  if (hashClientSecret(plain) !== a.data.clientSecretHash) return fail('the sealed client secret is not the one clientSecretHash stands for; not imported');
  return { clientSecretSealed: a.sealed };
}
