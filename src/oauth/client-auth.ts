import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Application } from '../generated/prisma/client.js';
import type { Database } from '../platform/db.js';
import { constantTimeEqual } from '../platform/secrets.js';
import { hashClientSecret } from './applications.js';
import { invalidClient, invalidRequest } from './errors.js';
import { tokenEndpointUrls } from './endpoints.js';
import { cachesOf } from './hot-cache.js';

export interface ClientCredentials {
  clientId?: string;
  clientSecret?: string;
  /** The client assertion of private_key_jwt (RFC 7523 §2.2). */
  assertion?: string;
  method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
}

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
    let iss: unknown;
    try {
      iss = decodeJwt(body.client_assertion).iss;
    } catch {
      throw invalidClient('client_assertion is not a JWT');
    }
    if (typeof iss !== 'string' || (body.client_id !== undefined && body.client_id !== iss)) throw invalidClient('The assertion is not issued by the client');
    return { clientId: iss, assertion: body.client_assertion, method: 'private_key_jwt' };
  }
  if (body.client_secret !== undefined) return { clientId: body.client_id, clientSecret: body.client_secret, method: 'client_secret_post' };
  return { clientId: body.client_id, method: 'none' };
}

/**
 * Authenticates the client: a confidential client with its secret (basic or post, either
 * accepted) or, when it is registered for private_key_jwt, with an assertion signed by one of
 * its keys and nothing else; a public client by its id alone (it proves itself with PKCE).
 * Returns undefined when the request names no client at all.
 */
export async function authenticateClient(db: Pick<Database, 'pool'>, creds: ClientCredentials, issuer: string): Promise<Application | undefined> {
  if (!creds.clientId) {
    if (creds.method === 'none') return undefined;
    throw invalidClient();
  }
  if (creds.clientId.length > 200) throw invalidClient();
  const app = await findClient(db, creds.clientId);
  if (!app) throw invalidClient();
  if (app.tenantState !== 'active') throw invalidClient("The client's tenant is disabled");
  if (app.tokenEndpointAuthMethod === 'private_key_jwt' || creds.method === 'private_key_jwt') {
    if (app.tokenEndpointAuthMethod !== 'private_key_jwt' || !creds.assertion) throw invalidClient();
    await verifyClientAssertion(db, app, creds.assertion, issuer);
  } else if (app.clientType === 'confidential') {
    if (creds.method === 'none' || !creds.clientSecret || !app.clientSecretHash) throw invalidClient();
    if (!constantTimeEqual(hashClientSecret(creds.clientSecret), app.clientSecretHash)) throw invalidClient();
  } else if (creds.method !== 'none') {
    throw invalidClient('A public client does not authenticate with a secret');
  }
  return app;
}

/**
 * RFC 7523 §3 for a client assertion: signed by a key of the client's JWKS, iss and sub the
 * client id, this server as audience (the issuer or a token endpoint URL), short-lived, and
 * its jti used once: the jti is recorded until the assertion expires, in the database, so a
 * replay is refused on every instance.
 */
async function verifyClientAssertion(db: Pick<Database, 'pool'>, app: Application, assertion: string, issuer: string) {
  if (!app.jwks) throw invalidClient();
  let exp: number, jti: unknown;
  try {
    const { payload } = await jwtVerify(assertion, createLocalJWKSet(app.jwks as unknown as JSONWebKeySet), {
      algorithms: ['RS256', 'ES256'],
      issuer: app.clientId,
      subject: app.clientId,
      audience: [issuer, ...tokenEndpointUrls(issuer)],
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp', 'jti'],
    });
    ({ exp, jti } = payload as { exp: number; jti: unknown });
  } catch {
    throw invalidClient('The client assertion is not valid');
  }
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
