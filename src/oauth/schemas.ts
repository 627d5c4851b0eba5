import { z } from 'zod';

export const GRANT_AUTHORIZATION_CODE = 'authorization_code';
export const GRANT_REFRESH_TOKEN = 'refresh_token';
export const GRANT_CLIENT_CREDENTIALS = 'client_credentials';
export const GRANT_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const GRANT_DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
export const GRANT_TYPES = [
  GRANT_AUTHORIZATION_CODE,
  GRANT_REFRESH_TOKEN,
  GRANT_CLIENT_CREDENTIALS,
  GRANT_JWT_BEARER,
  GRANT_DEVICE_CODE,
  GRANT_TOKEN_EXCHANGE,
] as const;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|[a-z0-9-]+\.localhost)$/i;

/**
 * Redirect URIs are compared exactly, so they must be absolute, without a fragment.
 * https anywhere; http only on loopback (RFC 8252); private-use schemes (reverse DNS) for native apps.
 */
export const redirectUri = z
  .string()
  .max(2048)
  .refine((v) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      return false;
    }
    if (u.hash || v.includes('#')) return false;
    if (u.protocol === 'https:') return !!u.hostname;
    if (u.protocol === 'http:') return LOOPBACK.test(u.hostname);
    return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/i.test(u.protocol) && !/^(javascript|data|file|vbscript):$/i.test(u.protocol);
  }, 'must be an absolute https URI (http only on loopback, or a reverse-DNS private-use scheme), without a fragment');

const uriList = z.array(redirectUri).max(50);

export const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'] as const;

/** A public signing key of a client (RFC 7517): RSA, EC or Ed25519 (OKP), never private material. */
const publicJwk = z
  .looseObject({
    kty: z.enum(['RSA', 'EC', 'OKP']),
    kid: z.string().max(200).optional(),
    alg: z.enum(['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519']).optional(),
    use: z.literal('sig').optional(),
  })
  .refine((k) => !('d' in k) && !('p' in k) && !('q' in k), 'must be a public key (no "d", "p" or "q")');

/** Where a client publishes its JWK Set (fetched through the SSRF guard; see checkJwksUri). */
const jwksUri = z.url({ protocol: /^https?$/ }).max(2048);

/** The keys a private_key_jwt client signs its assertions with (a JWK Set). */
const clientJwks = z.strictObject({ keys: z.array(publicJwk).min(1).max(10) });

export const applicationAttributes = z.object({
  name: z.string(),
  clientId: z.string(),
  clientType: z.enum(['public', 'confidential']),
  tokenEndpointAuthMethod: z.enum(AUTH_METHODS),
  redirectUris: z.array(z.string()),
  postLogoutRedirectUris: z.array(z.string()),
  grantTypes: z.array(z.string()),
  accessTokenType: z.enum(['jwt', 'opaque']),
  signingAlg: z.enum(['RS256', 'ES256']),
  accessTokenLifetime: z.number(),
  idTokenLifetime: z.number(),
  refreshTokenLifetime: z.number(),
  serviceAccountId: z.string().nullable(),
  /** The public keys of a private_key_jwt client, and of its request objects. */
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).nullable(),
  /** Or where the server fetches them (https; never with jwks). */
  jwksUri: z.string().nullable().describe('Where the server fetches the JWK Set of the client (https, through the SSRF guard); never with jwks'),
  /** Authorization requests only through the PAR endpoint (RFC 9126 §6). */
  requirePushedAuthorizationRequests: z.boolean(),
  /** Authorization requests only as signed request objects (RFC 9101). */
  requireSignedRequestObject: z.boolean().describe('Authorization requests only as signed request objects (RFC 9101), by value or through PAR'),
  isManaged: z.boolean(),
  secretRotatedAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Shown once: in the answer to create (confidential) and to secret rotation. */
  clientSecret: z.string().optional(),
});

const fields = {
  name: z.string().trim().min(1).max(200),
  redirectUris: uriList,
  postLogoutRedirectUris: uriList,
  grantTypes: z.array(z.enum(GRANT_TYPES)).min(1).max(GRANT_TYPES.length),
  accessTokenType: z.enum(['jwt', 'opaque']),
  signingAlg: z.enum(['RS256', 'ES256']),
  accessTokenLifetime: z.number().int().min(60).max(86400),
  idTokenLifetime: z.number().int().min(60).max(86400),
  refreshTokenLifetime: z.number().int().min(300).max(31536000),
  serviceAccountId: z.uuid().nullable(),
};

export const applicationCreate = z.strictObject({
  name: fields.name,
  clientType: z.enum(['public', 'confidential']),
  tokenEndpointAuthMethod: z.enum(AUTH_METHODS).optional(),
  redirectUris: fields.redirectUris.default([]),
  postLogoutRedirectUris: fields.postLogoutRedirectUris.default([]),
  grantTypes: fields.grantTypes.default([GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN]),
  accessTokenType: fields.accessTokenType.default('jwt'),
  signingAlg: fields.signingAlg.default('RS256'),
  accessTokenLifetime: fields.accessTokenLifetime.default(3600),
  idTokenLifetime: fields.idTokenLifetime.default(3600),
  refreshTokenLifetime: fields.refreshTokenLifetime.default(2592000),
  serviceAccountId: fields.serviceAccountId.optional(),
  jwks: clientJwks.optional(),
  jwksUri: jwksUri.optional().describe('Where the server fetches the JWK Set of the client (https, through the SSRF guard); never with jwks'),
  requirePushedAuthorizationRequests: z.boolean().default(false),
  requireSignedRequestObject: z.boolean().default(false).describe('Authorization requests only as signed request objects (RFC 9101); needs jwks or jwksUri'),
});
export type ApplicationCreate = z.output<typeof applicationCreate>;

export const applicationUpdate = z.strictObject({
  name: fields.name.optional(),
  tokenEndpointAuthMethod: z.enum(AUTH_METHODS).optional(),
  redirectUris: fields.redirectUris.optional(),
  postLogoutRedirectUris: fields.postLogoutRedirectUris.optional(),
  grantTypes: fields.grantTypes.optional(),
  accessTokenType: fields.accessTokenType.optional(),
  signingAlg: fields.signingAlg.optional(),
  accessTokenLifetime: fields.accessTokenLifetime.optional(),
  idTokenLifetime: fields.idTokenLifetime.optional(),
  refreshTokenLifetime: fields.refreshTokenLifetime.optional(),
  serviceAccountId: fields.serviceAccountId.optional(),
  jwks: clientJwks.nullable().optional(),
  jwksUri: jwksUri.nullable().optional(),
  requirePushedAuthorizationRequests: z.boolean().optional(),
  requireSignedRequestObject: z.boolean().optional(),
});
export type ApplicationUpdate = z.output<typeof applicationUpdate>;
