import type { Application } from '../generated/prisma/client.js';
import type { Database } from '../platform/db.js';
import { constantTimeEqual } from '../platform/secrets.js';
import { hashClientSecret } from './applications.js';
import { invalidClient, invalidRequest } from './errors.js';
import { cachesOf } from './hot-cache.js';

export interface ClientCredentials {
  clientId?: string;
  clientSecret?: string;
  method: 'client_secret_basic' | 'client_secret_post' | 'none';
}

/** The client credentials a token, introspection or revocation request carries (RFC 6749 2.3.1). */
export function clientCredentialsOf(authorization: string | undefined, body: Record<string, string>): ClientCredentials {
  const basic = authorization && /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (authorization && !basic && /^Basic/i.test(authorization)) throw invalidClient('Malformed Basic authorization');
  if (basic) {
    if (body.client_secret !== undefined) throw invalidRequest('Use one client authentication method, not two');
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
  if (body.client_secret !== undefined) return { clientId: body.client_id, clientSecret: body.client_secret, method: 'client_secret_post' };
  return { clientId: body.client_id, method: 'none' };
}

/**
 * Authenticates the client: a confidential client with its secret (basic or post, either
 * accepted), a public client by its id alone (it proves itself with PKCE). Returns
 * undefined when the request names no client at all.
 */
export async function authenticateClient(db: Pick<Database, 'pool'>, creds: ClientCredentials): Promise<Application | undefined> {
  if (!creds.clientId) {
    if (creds.method === 'none') return undefined;
    throw invalidClient();
  }
  if (creds.clientId.length > 200) throw invalidClient();
  const app = await findClient(db, creds.clientId);
  if (!app) throw invalidClient();
  if (app.tenantState !== 'active') throw invalidClient("The client's tenant is disabled");
  if (app.clientType === 'confidential') {
    if (creds.method === 'none' || !creds.clientSecret || !app.clientSecretHash) throw invalidClient();
    if (!constantTimeEqual(hashClientSecret(creds.clientSecret), app.clientSecretHash)) throw invalidClient();
  } else if (creds.method !== 'none') {
    throw invalidClient('A public client does not authenticate with a secret');
  }
  return app;
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
