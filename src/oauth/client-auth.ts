import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTVerifyResult } from 'jose';
import type { Application } from '../generated/prisma/client.js';
import type { Database } from '../platform/db.js';
import { constantTimeEqual } from '../platform/secrets.js';
import { hashClientSecret, unsealClientSecret } from './applications.js';
import { CLIENT_KEY_ALGS, JwksUnavailable, type ClientKeys } from './client-keys.js';
import { invalidClient, invalidRequest } from './errors.js';
import { clientAuthAudiences } from './endpoints.js';
import { cachesOf } from './hot-cache.js';

export interface ClientCredentials {
  clientId?: string;
  clientSecret?: string;
  /** The client assertion of private_key_jwt or client_secret_jwt (RFC 7523 §2.2), told apart by its alg. */
  assertion?: string;
  method: 'client_secret_basic' | 'client_secret_post' | 'client_secret_jwt' | 'private_key_jwt' | 'none';
}

/** What client authentication needs besides the database: the master key (sealed secrets) and the client keys. */
export interface ClientAuthDeps {
  masterKey: Buffer;
  clientKeys: ClientKeys;
}

/** MACs of client_secret_jwt (OIDC Core §9), keyed by the client secret. */
export const CLIENT_SECRET_JWT_ALGS = ['HS256', 'HS384', 'HS512'] as const;

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Longest lifetime (exp - now) of a client assertion: it is made for one request. */
const MAX_ASSERTION_SECONDS = 600;
const CLOCK_SKEW_SECONDS = 60;

/** The client credentials a token, introspection or revocation request carries (RFC 6749 2.3.1). */
export function clientCredentialsOf(authorization: string | undefined, body: Record<string, string>): ClientCredentials {
  const basic = authorization && /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (authorization && !basic && /^Basic/i.test(authorization)) throw invalidClient('Malformed Basic authorization');
  if (basic) {
    if (body.client_secret !== undefined || body.client_assertion !== undefined) throw invalidRequest('Use one client authentication method, not two');
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidClient('Malformed Basic authorization');
    let clientId: string, clientSecret: string;
    try {
      clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      clientSecret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
    } catch {
      throw invalidClient('Malformed Basic authorization');
    }
    if (body.client_id !== undefined && body.client_id !== clientId) throw invalidRequest('client_id does not match the authenticated client');
    return { clientId, clientSecret, method: 'client_secret_basic' };
  }
  if (body.client_assertion !== undefined || body.client_assertion_type !== undefined) {
    if (body.client_secret !== undefined) throw invalidRequest('Use one client authentication method, not two');
    if (body.client_assertion_type !== ASSERTION_TYPE) throw invalidClient(`client_assertion_type must be ${ASSERTION_TYPE}`);
    if (!body.client_assertion || body.client_assertion.length > 16384) throw invalidClient('client_assertion is required');
    let iss: unknown, alg: unknown;
    try {
      iss = decodeJwt(body.client_assertion).iss;
      alg = decodeProtectedHeader(body.client_assertion).alg;
    } catch {
      throw invalidClient('client_assertion is not a JWT');
    }
    if (typeof iss !== 'string' || (body.client_id !== undefined && body.client_id !== iss)) throw invalidClient('The assertion is not issued by the client');
    const method = typeof alg === 'string' && alg.startsWith('HS') ? 'client_secret_jwt' : 'private_key_jwt';
    return { clientId: iss, assertion: body.client_assertion, method };
  }
  if (body.client_secret !== undefined) return { clientId: body.client_id, clientSecret: body.client_secret, method: 'client_secret_post' };
  return { clientId: body.client_id, method: 'none' };
}

/**
 * Authenticates the client as it is registered, by that method alone: a secret (basic or
 * post, either accepted), an assertion MACed with its secret (client_secret_jwt) or signed by
 * one of its keys (private_key_jwt); a public client by its id alone (it proves itself with
 * PKCE). Returns undefined when the request names no client at all.
 */
export async function authenticateClient(
  db: Pick<Database, 'pool'>,
  creds: ClientCredentials,
  issuer: string,
  deps: ClientAuthDeps,
): Promise<Application | undefined> {
  if (!creds.clientId) {
    if (creds.method === 'none') return undefined;
    throw invalidClient();
  }
  if (creds.clientId.length > 200) throw invalidClient();
  const app = await findClient(db, creds.clientId);
  if (!app) throw invalidClient();
  if (app.tenantState !== 'active') throw invalidClient("The client's tenant is disabled");
  const registered = app.tokenEndpointAuthMethod;
  if (registered === 'private_key_jwt' || registered === 'client_secret_jwt' || creds.assertion) {
    if (creds.method !== registered || !creds.assertion) throw invalidClient();
    await verifyClientAssertion(db, app, creds.assertion, issuer, deps);
  } else if (app.clientType === 'confidential') {
    if (creds.method === 'none' || !creds.clientSecret || !app.clientSecretHash) throw invalidClient();
    if (!constantTimeEqual(hashClientSecret(creds.clientSecret), app.clientSecretHash)) throw invalidClient();
  } else if (creds.method !== 'none') {
    throw invalidClient('A public client does not authenticate with a secret');
  }
  return app;
}

/**
 * RFC 7523 §3 for a client assertion: signed by a key of the client's JWK Set (registered, or
 * fetched from its jwks_uri) or MACed with its secret, iss and sub the client id, this server
 * as audience (the issuer or an endpoint URL), short-lived, and its jti used once: the jti is
 * recorded until the assertion expires, in the database, so a replay is refused on every instance.
 */
async function verifyClientAssertion(db: Pick<Database, 'pool'>, app: Application, assertion: string, issuer: string, deps: ClientAuthDeps) {
  const options = {
    issuer: app.clientId,
    subject: app.clientId,
    audience: [issuer, ...clientAuthAudiences(issuer)],
    clockTolerance: CLOCK_SKEW_SECONDS,
    requiredClaims: ['exp', 'jti'],
  };
  let verified: JWTVerifyResult;
  try {
    if (app.tokenEndpointAuthMethod === 'client_secret_jwt') {
      const secret = unsealClientSecret(deps.masterKey, app);
      if (!secret) throw invalidClient('The client has no secret for client_secret_jwt: rotate it');
      verified = await jwtVerify(assertion, new TextEncoder().encode(secret), { ...options, algorithms: [...CLIENT_SECRET_JWT_ALGS] });
    } else {
      verified = await deps.clientKeys.verify(app, assertion, { ...options, algorithms: [...CLIENT_KEY_ALGS] });
    }
  } catch (err) {
    if (err instanceof JwksUnavailable) throw invalidClient(`The client's keys cannot be fetched: ${err.message}`);
    if (err instanceof Error && err.name === 'OAuthError') throw err;
    throw invalidClient('The client assertion is not valid');
  }
  const { exp, jti } = verified.payload as { exp: number; jti: unknown };
  if (exp - Date.now() / 1000 > MAX_ASSERTION_SECONDS) throw invalidClient(`The client assertion lives longer than ${MAX_ASSERTION_SECONDS} s`);
  if (typeof jti !== 'string' || !jti || jti.length > 255) throw invalidClient('The client assertion needs a jti of 1 to 255 characters');
  const { rowCount } = await db.pool.query(
    `INSERT INTO "UsedClientAssertion" ("tenantId", "applicationId", jti, "expiresAt") VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [app.tenantId, app.id, jti, new Date((exp + CLOCK_SKEW_SECONDS) * 1000)],
  );
  if (rowCount === 0) throw invalidClient('The client assertion was already used');
}

/**
 * The client and its tenant's state in one plain query: this is on the token endpoint's hot
 * path, where the ORM's per-query cost is several times the database's.
 */
export async function findClient(db: Pick<Database, 'pool'>, clientId: string): Promise<(Application & { tenantState: string }) | undefined> {
  type Row = Application & { tenantState: string };
  return cachesOf(db.pool).clients.get(clientId, async () => {
    const { rows } = await db.pool.query<Row>(
      'SELECT a.*, t.state AS "tenantState" FROM "Application" a JOIN "Tenant" t ON t.id = a."tenantId" WHERE a."clientId" = $1',
      [clientId],
    );
    return rows[0];
  }) as Promise<Row | undefined>;
}
