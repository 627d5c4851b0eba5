import { Prisma as Db, type Application } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { ServiceContext } from '../principals/context.js';
import { assertMayActOn } from '../principals/policy.js';
import type { Prisma } from '../platform/db.js';
import { conflict, notFound, unprocessable } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { randomToken, sha256Hex } from '../platform/secrets.js';
import { seal, unseal } from '../platform/sealed.js';
import { AddressRefused, assertHostAllowed } from '../platform/net.js';
import type { BlockList } from 'node:net';
import { forgetClient } from './hot-cache.js';
import {
  AUTH_METHODS,
  GRANT_AUTHORIZATION_CODE,
  GRANT_CLIENT_CREDENTIALS,
  GRANT_DEVICE_CODE,
  GRANT_REFRESH_TOKEN,
  GRANT_TOKEN_EXCHANGE,
  type ApplicationCreate,
  type ApplicationUpdate,
} from './schemas.js';
import { foldCase } from '../platform/case-fold.js';

export const ANALYTICS_UI = 'AnalyticsUI';
export const SWAGGER_UI_CLIENT_ID = 'swagger-ui';

type Tx = Parameters<Parameters<Prisma['$transaction']>[0]>[0];

export const newClientId = () => randomToken(24);
export const newClientSecret = () => randomToken(48);
export const hashClientSecret = sha256Hex;

/** What the application commands need beyond the context: the master key and the jwks_uri guard. */
export interface ApplicationEnv {
  masterKey: Buffer;
  /** Addresses a jwks_uri may point to although they are private (CLIENT_JWKS_ALLOW_CIDRS). */
  jwksAllow: BlockList;
}

// The sealed secret is bound to its application: copied to another row it does not open.
const secretAad = (applicationId: string) => `client-secret:${applicationId}`;

/**
 * The secret of a client_secret_jwt client, which the server needs itself to check the HMAC
 * of its assertions: every other client's secret is kept as a hash only.
 */
export function unsealClientSecret(masterKey: Buffer, app: Pick<Application, 'id' | 'clientSecretSealed'>): string | undefined {
  if (!app.clientSecretSealed) return undefined;
  return unseal(masterKey, app.clientSecretSealed, secretAad(app.id))?.toString('utf8');
}

const sealedSecret = (env: ApplicationEnv, applicationId: string, method: string, secret: string | undefined) =>
  method === 'client_secret_jwt' && secret ? seal(env.masterKey, secret, secretAad(applicationId)) : null;

/**
 * A jwks_uri must be https (plain http only to an address of CLIENT_JWKS_ALLOW_CIDRS) and must
 * not reach the server's own network: checked when it is registered, and again at every fetch.
 */
export async function checkJwksUri(env: Pick<ApplicationEnv, 'jwksAllow'>, uri: string) {
  const pointer = '/data/attributes/jwksUri';
  const url = URL.parse(uri);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) {
    throw unprocessable('jwksUri must be an https URL without credentials', pointer);
  }
  try {
    await assertHostAllowed(url.hostname, env.jwksAllow);
  } catch (err) {
    if (err instanceof AddressRefused) throw unprocessable(`jwksUri is refused: ${err.message}`, pointer);
    // A name that does not resolve now may later; every fetch is checked again.
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'http:' && !env.jwksAllow.check(host, host.includes(':') ? 'ipv6' : 'ipv4')) {
    throw unprocessable('jwksUri must be an https URL', pointer);
  }
}

export function applicationAttributes(a: Application, clientSecret?: string) {
  return {
    name: a.name,
    clientId: a.clientId,
    clientType: a.clientType as 'public' | 'confidential',
    tokenEndpointAuthMethod: a.tokenEndpointAuthMethod as (typeof AUTH_METHODS)[number],
    redirectUris: a.redirectUris,
    postLogoutRedirectUris: a.postLogoutRedirectUris,
    grantTypes: a.grantTypes,
    accessTokenType: a.accessTokenType as 'jwt' | 'opaque',
    signingAlg: a.signingAlg as 'RS256' | 'ES256',
    accessTokenLifetime: a.accessTokenLifetime,
    idTokenLifetime: a.idTokenLifetime,
    refreshTokenLifetime: a.refreshTokenLifetime,
    serviceAccountId: a.serviceAccountId,
    jwks: (a.jwks as { keys: Record<string, unknown>[] } | null) ?? null,
    jwksUri: a.jwksUri,
    requirePushedAuthorizationRequests: a.requirePushedAuthorizationRequests,
    requireSignedRequestObject: a.requireSignedRequestObject,
    isManaged: a.isManaged,
    secretRotatedAt: a.secretRotatedAt?.toISOString() ?? null,
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
    ...(clientSecret ? { clientSecret } : {}),
  };
}

/** A JWK Set as the column stores it; none is SQL NULL. */
const jwksColumn = (jwks: object | null | undefined) => (jwks ? (jwks as Db.InputJsonValue) : Db.DbNull);

interface Shape {
  clientType: string;
  tokenEndpointAuthMethod: string;
  redirectUris: string[];
  grantTypes: string[];
  serviceAccountId: string | null;
  jwks: unknown;
  jwksUri?: string | null;
  requireSignedRequestObject?: boolean;
}

/** The rules that tie the fields of an application together (also applied by the import). */
export async function checkShape(tx: Tx, tenantId: string, s: Shape) {
  if (s.clientType === 'public') {
    if (s.tokenEndpointAuthMethod !== 'none')
      throw unprocessable('A public client authenticates with PKCE only: tokenEndpointAuthMethod must be "none"', '/data/attributes/tokenEndpointAuthMethod');
    if (s.grantTypes.includes(GRANT_CLIENT_CREDENTIALS)) throw unprocessable('A public client cannot use client_credentials', '/data/attributes/grantTypes');
    // RFC 8693 §2.1: the exchange is for a client that can prove who it is.
    if (s.grantTypes.includes(GRANT_TOKEN_EXCHANGE)) throw unprocessable('A public client cannot use token exchange', '/data/attributes/grantTypes');
  } else if (s.tokenEndpointAuthMethod === 'none') {
    throw unprocessable(
      'A confidential client authenticates with client_secret_basic, client_secret_post, client_secret_jwt or private_key_jwt',
      '/data/attributes/tokenEndpointAuthMethod',
    );
  }
  if (s.jwks && s.jwksUri) throw unprocessable('Register the keys either by value (jwks) or by reference (jwksUri), not both', '/data/attributes/jwksUri');
  if (s.tokenEndpointAuthMethod === 'private_key_jwt' && !s.jwks && !s.jwksUri) {
    throw unprocessable('private_key_jwt needs the public keys the client signs with (jwks or jwksUri)', '/data/attributes/jwks');
  }
  if (s.requireSignedRequestObject && !s.jwks && !s.jwksUri) {
    throw unprocessable('Signed request objects need the public keys the client signs with (jwks or jwksUri)', '/data/attributes/requireSignedRequestObject');
  }
  if (s.grantTypes.includes(GRANT_AUTHORIZATION_CODE) && s.redirectUris.length === 0) {
    throw unprocessable('authorization_code needs at least one redirect URI', '/data/attributes/redirectUris');
  }
  if (s.grantTypes.includes(GRANT_REFRESH_TOKEN) && !s.grantTypes.includes(GRANT_AUTHORIZATION_CODE) && !s.grantTypes.includes(GRANT_DEVICE_CODE)) {
    throw unprocessable('refresh_token is only issued with authorization_code or device_code', '/data/attributes/grantTypes');
  }
  if (s.grantTypes.includes(GRANT_CLIENT_CREDENTIALS) && !s.serviceAccountId) {
    throw unprocessable('client_credentials needs the service account its tokens are issued for', '/data/attributes/serviceAccountId');
  }
  if (s.serviceAccountId) {
    const sa = await tx.serviceAccount.findUnique({ where: { tenantId_id: { tenantId, id: s.serviceAccountId } }, select: { id: true } });
    if (!sa) throw unprocessable('No such service account in this tenant', '/data/attributes/serviceAccountId');
  }
}

/**
 * An application bound to a service account is a credential of that account: binding,
 * re-binding, rotating its secret or deleting it acts on the account.
 */
async function assertMayActOnBinding(db: Tx | Prisma, ctx: ServiceContext, serviceAccountId: string | null) {
  if (serviceAccountId) await assertMayActOn(db, ctx.principal, ctx.tenantId, { kind: 'serviceaccount', id: serviceAccountId });
}

async function assertNameFree(tx: Tx, tenantId: string, name: string, id?: string) {
  const other = await tx.application.findUnique({ where: { tenantId_nameLower: { tenantId, nameLower: await foldCase(tx, name) } }, select: { id: true } });
  if (other && other.id !== id) throw conflict(`An application named "${name}" already exists`, '/data/attributes/name');
}

export async function findApplication(prisma: Prisma, tenantId: string, id: string): Promise<Application> {
  const a = isUuid(id) ? await prisma.application.findUnique({ where: { tenantId_id: { tenantId, id } } }) : null;
  if (!a) throw notFound('Application');
  return a;
}

export async function listApplications(prisma: Prisma, tenantId: string, skip: number, take: number) {
  const [total, rows] = await Promise.all([
    prisma.application.count({ where: { tenantId } }),
    prisma.application.findMany({ where: { tenantId }, skip, take, orderBy: { createdAt: 'asc' } }),
  ]);
  return { total, rows };
}

export async function createApplication(ctx: ServiceContext, env: ApplicationEnv, input: ApplicationCreate) {
  const method = input.tokenEndpointAuthMethod ?? (input.clientType === 'public' ? 'none' : 'client_secret_basic');
  const secret = input.clientType === 'confidential' ? newClientSecret() : undefined;
  if (input.jwksUri) await checkJwksUri(env, input.jwksUri);
  return ctx.prisma.$transaction(async (tx) => {
    const shape = {
      ...input,
      tokenEndpointAuthMethod: method,
      serviceAccountId: input.serviceAccountId ?? null,
      jwks: jwksColumn(input.jwks),
      jwksUri: input.jwksUri ?? null,
    };
    await checkShape(tx, ctx.tenantId, { ...shape, jwks: input.jwks });
    await assertMayActOnBinding(tx, ctx, shape.serviceAccountId);
    await assertNameFree(tx, ctx.tenantId, input.name);
    const created = await tx.application.create({
      data: {
        ...shape,
        tenantId: ctx.tenantId,
        clientId: newClientId(),
        clientSecretHash: secret ? hashClientSecret(secret) : null,
      },
    });
    // The sealed secret names the row's id, known only now.
    const sealed = sealedSecret(env, created.id, method, secret);
    const app = sealed ? await tx.application.update({ where: { id: created.id }, data: { clientSecretSealed: sealed } }) : created;
    await audit(tx, ctx.principal, { tenantId: ctx.tenantId, action: 'application.created', targetType: 'application', targetId: app.id }, ctx.requestId);
    return { app, secret };
  });
}

export async function updateApplication(ctx: ServiceContext, env: ApplicationEnv, id: string, input: ApplicationUpdate) {
  const current = await findApplication(ctx.prisma, ctx.tenantId, id);
  await assertMayActOnBinding(ctx.prisma, ctx, current.serviceAccountId);
  if (current.isManaged && input.name !== undefined && input.name !== current.name) {
    throw unprocessable('The name of a managed application cannot change', '/data/attributes/name');
  }
  if (input.jwksUri) await checkJwksUri(env, input.jwksUri);
  const method = input.tokenEndpointAuthMethod ?? current.tokenEndpointAuthMethod;
  // Only the hash of the current secret is known: becoming a client_secret_jwt client issues a
  // new secret (shown once, as at creation); leaving it forgets the sealed one.
  const secret = method === 'client_secret_jwt' && !current.clientSecretSealed ? newClientSecret() : undefined;
  return ctx.prisma
    .$transaction(async (tx) => {
      const merged = {
        clientType: current.clientType,
        tokenEndpointAuthMethod: method,
        redirectUris: input.redirectUris ?? current.redirectUris,
        grantTypes: input.grantTypes ?? current.grantTypes,
        serviceAccountId: input.serviceAccountId === undefined ? current.serviceAccountId : input.serviceAccountId,
        jwks: input.jwks === undefined ? current.jwks : input.jwks,
        jwksUri: input.jwksUri === undefined ? current.jwksUri : input.jwksUri,
        requireSignedRequestObject: input.requireSignedRequestObject ?? current.requireSignedRequestObject,
      };
      await checkShape(tx, ctx.tenantId, merged);
      if (merged.serviceAccountId !== current.serviceAccountId) await assertMayActOnBinding(tx, ctx, merged.serviceAccountId);
      if (input.name) await assertNameFree(tx, ctx.tenantId, input.name, id);
      const secretFields = secret
        ? { clientSecretHash: hashClientSecret(secret), clientSecretSealed: sealedSecret(env, id, method, secret), secretRotatedAt: new Date() }
        : method !== 'client_secret_jwt' && current.clientSecretSealed
          ? { clientSecretSealed: null }
          : {};
      const app = await tx.application.update({
        where: { tenantId_id: { tenantId: ctx.tenantId, id } },
        data: { ...input, ...secretFields, jwks: input.jwks === undefined ? undefined : jwksColumn(input.jwks) },
      });
      await audit(
        tx,
        ctx.principal,
        { tenantId: ctx.tenantId, action: 'application.updated', targetType: 'application', targetId: id, details: { fields: Object.keys(input) } },
        ctx.requestId,
      );
      if (secret) {
        await audit(
          tx,
          ctx.principal,
          { tenantId: ctx.tenantId, action: 'application.secret.rotated', targetType: 'application', targetId: id },
          ctx.requestId,
        );
      }
      return { app, secret };
    })
    .finally(() => forgetClient(current.clientId));
}

export async function deleteApplication(ctx: ServiceContext, id: string) {
  const current = await findApplication(ctx.prisma, ctx.tenantId, id);
  if (current.isManaged) throw unprocessable(`The managed application ${current.name} cannot be deleted`);
  await assertMayActOnBinding(ctx.prisma, ctx, current.serviceAccountId);
  await ctx.prisma
    .$transaction(async (tx) => {
      // Its grants, codes and tokens go with it (foreign keys cascade).
      await tx.application.delete({ where: { tenantId_id: { tenantId: ctx.tenantId, id } } });
      await audit(
        tx,
        ctx.principal,
        { tenantId: ctx.tenantId, action: 'application.deleted', targetType: 'application', targetId: id, details: { name: current.name } },
        ctx.requestId,
      );
    })
    .finally(() => forgetClient(current.clientId));
}

export async function rotateApplicationSecret(ctx: ServiceContext, env: ApplicationEnv, id: string) {
  const current = await findApplication(ctx.prisma, ctx.tenantId, id);
  if (current.clientType !== 'confidential') throw unprocessable('A public client has no secret');
  await assertMayActOnBinding(ctx.prisma, ctx, current.serviceAccountId);
  const secret = newClientSecret();
  return ctx.prisma
    .$transaction(async (tx) => {
      const app = await tx.application.update({
        where: { tenantId_id: { tenantId: ctx.tenantId, id } },
        data: {
          clientSecretHash: hashClientSecret(secret),
          clientSecretSealed: sealedSecret(env, id, current.tokenEndpointAuthMethod, secret),
          secretRotatedAt: new Date(),
        },
      });
      await audit(tx, ctx.principal, { tenantId: ctx.tenantId, action: 'application.secret.rotated', targetType: 'application', targetId: id }, ctx.requestId);
      return { app, secret };
    })
    .finally(() => forgetClient(current.clientId));
}

export interface DefaultApplicationConfig {
  BASE_DOMAIN: string;
  PUBLIC_URL: string;
  ANALYTICS_UI_REDIRECT_URIS: string[];
}

/** Redirect URIs of a tenant's AnalyticsUI: its frontend's /login, plus the configured extras ({subdomain} expanded). */
export function analyticsUiRedirects(config: DefaultApplicationConfig, subdomain: string | null | undefined): string[] {
  const uris = new Set<string>();
  if (subdomain) uris.add(`https://${subdomain}.${config.BASE_DOMAIN}/login`);
  for (const extra of config.ANALYTICS_UI_REDIRECT_URIS) {
    if (extra.includes('{subdomain}')) {
      if (subdomain) uris.add(extra.replaceAll('{subdomain}', subdomain));
    } else uris.add(extra);
  }
  return [...uris];
}

/** The public AnalyticsUI client every tenant gets at creation (in the tenant's own transaction). */
export async function createAnalyticsUiApplication(tx: Tx, tenantId: string, subdomain: string | null | undefined, config: DefaultApplicationConfig) {
  return tx.application.create({
    data: {
      tenantId,
      name: ANALYTICS_UI,
      clientId: newClientId(),
      clientType: 'public',
      tokenEndpointAuthMethod: 'none',
      redirectUris: analyticsUiRedirects(config, subdomain),
      postLogoutRedirectUris: subdomain ? [`https://${subdomain}.${config.BASE_DOMAIN}/`] : [],
      grantTypes: [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN],
      accessTokenLifetime: 43200,
      isManaged: true,
    },
  });
}

/** The operator tenant's public client Swagger UI at /docs logs in with (fixed client id). */
export async function createSwaggerUiApplication(tx: Tx, tenantId: string, config: DefaultApplicationConfig) {
  return tx.application.create({
    data: {
      tenantId,
      name: 'SwaggerUI',
      clientId: SWAGGER_UI_CLIENT_ID,
      clientType: 'public',
      tokenEndpointAuthMethod: 'none',
      redirectUris: [`${config.PUBLIC_URL}/docs/static/oauth2-redirect.html`],
      postLogoutRedirectUris: [],
      grantTypes: [GRANT_AUTHORIZATION_CODE],
      isManaged: true,
    },
  });
}

/**
 * Keeps the managed AnalyticsUI's frontend redirect in step with the tenant's subdomain
 * (set, changed or removed through the tenant or onboarding routes). URIs an admin added stay.
 */
export async function syncAnalyticsUiSubdomain(
  tx: Tx,
  tenantId: string,
  before: string | null | undefined,
  after: string | null | undefined,
  config: DefaultApplicationConfig,
) {
  if ((before ?? null) === (after ?? null)) return;
  const app = await tx.application.findUnique({ where: { tenantId_nameLower: { tenantId, nameLower: await foldCase(tx, ANALYTICS_UI) } } });
  if (!app?.isManaged) return;
  const old = new Set(analyticsUiRedirects(config, before));
  const oldLogout = before ? `https://${before}.${config.BASE_DOMAIN}/` : undefined;
  const redirectUris = [...new Set([...app.redirectUris.filter((u) => !old.has(u)), ...analyticsUiRedirects(config, after)])];
  const postLogoutRedirectUris = [
    ...new Set([...app.postLogoutRedirectUris.filter((u) => u !== oldLogout), ...(after ? [`https://${after}.${config.BASE_DOMAIN}/`] : [])]),
  ];
  await tx.application.update({ where: { id: app.id }, data: { redirectUris, postLogoutRedirectUris } });
  forgetClient(app.clientId);
}
