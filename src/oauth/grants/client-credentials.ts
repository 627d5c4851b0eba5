import { invalidGrant, unauthorizedClient } from '../errors.js';
import { grantableScopes } from '../scopes.js';
import { issueAccessToken, type TokenSubject } from '../tokens.js';
import type { SigningAlg } from '../keys.js';
import type { GrantHandler } from './types.js';
import { cachesOf } from '../hot-cache.js';
import { recordTokenIssued } from '../../audit/events.js';
import { GRANT_CLIENT_CREDENTIALS } from '../schemas.js';

/** RFC 6749 4.4: a confidential client gets a token for the service account it is bound to. */
export const clientCredentialsGrant: GrantHandler = {
  requiresClient: true,
  async handle({ deps, pool, standingGrants, params, client, now, origin, dpopJkt }) {
    const app = client!;
    if (app.clientType !== 'confidential') throw unauthorizedClient('client_credentials needs a confidential client');
    if (!app.serviceAccountId) throw unauthorizedClient('The client is not bound to a service account');
    // One plain query (hot path): the service account and its roles.
    type Row = { id: string; username: string; expirationDate: Date | null; roles: string[] };
    const sa = (await cachesOf(pool).subjects.get(`${app.tenantId}:${app.serviceAccountId}`, async () => {
      const { rows } = await pool.query<Row>(
        `SELECT sa.id, sa.username, sa."expirationDate",
              coalesce(array_agg(r."roleName") FILTER (WHERE r."roleName" IS NOT NULL), '{}') AS roles
         FROM "ServiceAccount" sa
         LEFT JOIN "RoleAssignment" r ON r."tenantId" = sa."tenantId" AND r."serviceAccountId" = sa.id
        WHERE sa."tenantId" = $1 AND sa.id = $2
        GROUP BY sa.id`,
        [app.tenantId, app.serviceAccountId],
      );
      return rows[0];
    })) as Row | undefined;
    if (!sa || (sa.expirationDate && sa.expirationDate <= now)) throw invalidGrant("The client's service account is gone or expired");
    const subject: TokenSubject = {
      kind: 'serviceaccount',
      tenantId: app.tenantId,
      subjectId: sa.id,
      username: sa.username,
      roles: sa.roles,
      groups: [],
    };
    const scope = grantableScopes(params.scope)
      .filter((s) => s !== 'openid' && s !== 'offline_access')
      .join(' ');
    // Every token of this client names its standing grant, which goes with the application
    // (or its binding to this account) and the account: see standing-grants.ts.
    const grantId = await standingGrants.idFor({ tenantId: app.tenantId, applicationId: app.id, serviceAccountId: sa.id });
    const access = await issueAccessToken(
      deps,
      {
        subject,
        clientId: app.clientId,
        applicationId: app.id,
        scope,
        format: app.accessTokenType === 'opaque' ? 'opaque' : 'jwt',
        lifetime: app.accessTokenLifetime,
        alg: app.signingAlg as SigningAlg,
        grantId,
        jkt: dpopJkt,
      },
      now,
    );
    await recordTokenIssued(
      deps.prisma,
      { grantType: GRANT_CLIENT_CREDENTIALS, tenantId: app.tenantId, subject, clientId: app.clientId, grantId, scope },
      origin,
    );
    return { access_token: access.accessToken, token_type: dpopJkt ? 'DPoP' : 'Bearer', expires_in: access.expiresIn, ...(scope ? { scope } : {}) };
  },
};
