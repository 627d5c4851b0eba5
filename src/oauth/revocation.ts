import type { Application } from '../generated/prisma/client.js';
import { hashToken, looksLikeJwt, OPAQUE_ACCESS_PREFIX, REFRESH_PREFIX, revokeGrant, verifyAccessTokenJwt, type OAuthDeps } from './tokens.js';

/**
 * Token revocation (RFC 7009) by the client the token was issued to. An unknown token, or
 * one of another client, changes nothing: the caller answers 200 all the same (2.2).
 */
export async function revokeToken(deps: OAuthDeps, client: Application, token: string, now = new Date()): Promise<void> {
  const { prisma } = deps;
  if (looksLikeJwt(token)) {
    const check = await verifyAccessTokenJwt(deps, token);
    if (check.ok && check.claims.client_id === client.clientId) {
      await prisma.revokedJwt.upsert({
        where: { jti: check.claims.jti },
        create: { jti: check.claims.jti, tenantId: check.claims.tenant_id, expiresAt: new Date(check.claims.exp * 1000) },
        update: {},
      });
    }
  } else if (token.startsWith(REFRESH_PREFIX) || token.startsWith(OPAQUE_ACCESS_PREFIX)) {
    const row = await prisma.oAuthToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { grant: { select: { applicationId: true } } } });
    if (row && row.grant.applicationId === client.id) {
      // Revoking a refresh token ends its whole grant (RFC 7009 2.1); an access token only itself.
      if (row.kind === 'refresh') await revokeGrant(prisma, row.grantId, 'revoked_by_client', now);
      else await prisma.oAuthToken.updateMany({ where: { id: row.id, revokedAt: null }, data: { revokedAt: now } });
    }
  }
}
