import type { Application } from '../../generated/prisma/client.js';
import type { SigningAlg } from '../keys.js';
import { hasScope } from '../scopes.js';
import { hashToken, issueAccessToken, issueIdToken, REFRESH_PREFIX, ROLES_CLAIM, rolesClaim, type OAuthDeps, type TokenSubject } from '../tokens.js';
import { randomToken } from '../../platform/secrets.js';
import { userClaims } from '../subject.js';
import type { TokenResponse } from './types.js';
import type { AuditOrigin } from '../../audit/origin.js';
import { recordTokenIssued } from '../../audit/events.js';

export interface FamilyIssue {
  /** authorization_code or refresh_token, for the audit log and metrics. */
  grantType: string;
  origin?: AuditOrigin;
  client: Application;
  subject: TokenSubject;
  grantId: string;
  scope: string;
  nonce?: string | null;
  authTime?: Date | null;
  amr?: string[];
  sessionId?: string | null;
  withRefresh: boolean;
  now: Date;
  /** The DPoP key of the request: binds the access token, and a public client's refresh token (RFC 9449 §5). */
  dpopJkt?: string;
}

/** Access token, refresh token (rotation: a new one each time) and ID token of one grant family. */
export async function issueFamilyTokens(deps: OAuthDeps, f: FamilyIssue): Promise<TokenResponse> {
  const alg = f.client.signingAlg as SigningAlg;
  const access = await issueAccessToken(
    deps,
    {
      subject: f.subject,
      clientId: f.client.clientId,
      applicationId: f.client.id,
      scope: f.scope,
      format: f.client.accessTokenType === 'opaque' ? 'opaque' : 'jwt',
      lifetime: f.client.accessTokenLifetime,
      alg,
      grantId: f.grantId,
      sessionId: f.sessionId ?? undefined,
      jkt: f.dpopJkt,
    },
    f.now,
  );
  const out: TokenResponse = { access_token: access.accessToken, token_type: f.dpopJkt ? 'DPoP' : 'Bearer', expires_in: access.expiresIn, scope: f.scope };
  if (f.withRefresh) {
    const refresh = REFRESH_PREFIX + randomToken(43);
    await deps.prisma.oAuthToken.create({
      data: {
        tenantId: f.subject.tenantId,
        grantId: f.grantId,
        kind: 'refresh',
        tokenHash: hashToken(refresh),
        scope: f.scope,
        expiresAt: new Date(f.now.getTime() + f.client.refreshTokenLifetime * 1000),
        // A confidential client's refresh token is bound to its authentication already.
        dpopJkt: f.client.clientType === 'public' ? (f.dpopJkt ?? null) : null,
      },
    });
    out.refresh_token = refresh;
  }
  if (hasScope(f.scope, 'openid') && f.subject.kind === 'user') {
    const claims = await userClaims(deps.prisma, f.subject.tenantId, f.subject.subjectId, f.scope);
    claims.tenant_id = f.subject.tenantId;
    if (hasScope(f.scope, 'urn:zitadel:iam:org:projects:roles')) claims[ROLES_CLAIM] = rolesClaim(f.subject.tenantId, f.subject.roles);
    out.id_token = await issueIdToken(
      deps,
      {
        subjectId: f.subject.subjectId,
        clientId: f.client.clientId,
        claims,
        nonce: f.nonce,
        authTime: f.authTime,
        amr: f.amr,
        sid: f.sessionId,
        accessToken: access.accessToken,
        lifetime: f.client.idTokenLifetime,
        alg,
      },
      f.now,
    );
  }
  await recordTokenIssued(
    deps.prisma,
    {
      grantType: f.grantType,
      tenantId: f.subject.tenantId,
      subject: f.subject,
      clientId: f.client.clientId,
      grantId: f.grantId,
      scope: f.scope,
    },
    f.origin,
  );
  return out;
}
