import { decodeJwt } from 'jose';
import { verifyKeyAssertion } from '../../service-accounts/assertion.js';
import { tokenEndpointUrls } from '../endpoints.js';
import { invalidGrant, invalidRequest } from '../errors.js';
import { grantableScopes } from '../scopes.js';
import { issueAccessToken } from '../tokens.js';
import type { GrantHandler } from './types.js';
import { recordTokenIssued } from '../../audit/events.js';
import { GRANT_JWT_BEARER } from '../schemas.js';

/** Access tokens issued for a service-account key assertion live one hour, as ZITADEL's do. */
const LIFETIME_SECONDS = 3600;

/**
 * The audience the assertion must name: RFC 7523 §3 lets it identify this server by the
 * issuer or by the token endpoint's URL (the default of common client libraries).
 */
function expectedAudience(assertion: string, issuer: string): string {
  let aud: unknown;
  try {
    aud = decodeJwt(assertion).aud;
  } catch {
    return issuer; // not a JWT: the verification refuses it with its reason
  }
  const named = Array.isArray(aud) ? aud : [aud];
  return tokenEndpointUrls(issuer).find((url) => named.includes(url)) ?? issuer;
}

/**
 * RFC 7523 2.1: a service account presents a JWT signed with one of its keys (the key
 * file of CreateKey); no client is involved. The account's accessTokenType decides
 * between a JWT and an opaque access token.
 */
export const jwtBearerGrant: GrantHandler = {
  requiresClient: false,
  async handle({ deps, standingGrants, params, now, origin, dpopJkt }) {
    if (!params.assertion) throw invalidRequest('assertion is required');
    const v = await verifyKeyAssertion(deps.prisma, params.assertion, expectedAudience(params.assertion, deps.issuer), now);
    if (!v.ok) throw invalidGrant(v.description);
    const p = v.principal;
    const scope = grantableScopes(params.scope)
      .filter((s) => s !== 'openid' && s !== 'offline_access')
      .join(' ');
    // Every token of this key names the key's standing grant, which goes with the key and
    // the account: see standing-grants.ts. (The principal's credential is the key.)
    const grantId = await standingGrants.idFor({ tenantId: p.tenantId, keyId: p.credentialId, serviceAccountId: p.subjectId });
    const access = await issueAccessToken(
      deps,
      {
        subject: { kind: 'serviceaccount', tenantId: p.tenantId, subjectId: p.subjectId, username: p.username, roles: p.roles, groups: [] },
        scope,
        format: v.accessTokenType === 'Jwt' ? 'jwt' : 'opaque',
        lifetime: LIFETIME_SECONDS,
        grantId,
        jkt: dpopJkt,
      },
      now,
    );
    await recordTokenIssued(deps.prisma, { grantType: GRANT_JWT_BEARER, tenantId: p.tenantId, subject: p, grantId, scope }, origin);
    return { access_token: access.accessToken, token_type: dpopJkt ? 'DPoP' : 'Bearer', expires_in: access.expiresIn, ...(scope ? { scope } : {}) };
  },
};
