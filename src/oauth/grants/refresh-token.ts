import { hashToken } from '../tokens.js';
import { revokeWhileRefusing } from './revoke.js';
import { invalidGrant, invalidRequest, invalidScope } from '../errors.js';
import { currentSubject } from '../subject.js';
import { issueFamilyTokens } from './issue.js';
import { GRANT_REFRESH_TOKEN } from '../schemas.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 6749 6 with rotation: every refresh returns a new refresh token and spends the old
 * one. Presenting a spent refresh token means it leaked: the whole family is revoked.
 */
export const refreshTokenGrant: GrantHandler = {
  requiresClient: true,
  async handle(req) {
    const { deps, params, client, now } = req;
    const { prisma } = deps;
    if (!params.refresh_token) throw invalidRequest('refresh_token is required');
    const row = await prisma.oAuthToken.findUnique({ where: { tokenHash: hashToken(params.refresh_token) }, include: { grant: true } });
    if (!row || row.kind !== 'refresh' || row.grant.applicationId !== client!.id) throw invalidGrant('The refresh token is invalid');
    if (row.usedAt) {
      await revokeWhileRefusing(req, row.grantId, 'refresh_token_reused');
      throw invalidGrant('The refresh token was already used; its token family is revoked');
    }
    if (row.revokedAt || row.grant.revokedAt) throw invalidGrant('The refresh token was revoked');
    if (row.expiresAt <= now) throw invalidGrant('The refresh token has expired');
    if (row.dpopJkt && row.dpopJkt !== req.dpopJkt) throw invalidGrant('The refresh token is bound to a DPoP key: send a proof signed with it');

    let scope = row.scope;
    if (params.scope) {
      const granted = row.scope.split(' ');
      const asked = params.scope.split(' ').filter(Boolean);
      if (asked.some((s) => !granted.includes(s))) throw invalidScope('The requested scope exceeds the original grant');
      scope = asked.join(' ');
    }
    const g = row.grant;
    const subject = await currentSubject(prisma, g.tenantId, (g.userId ?? g.serviceAccountId)!, g.id);
    if (typeof subject === 'string') {
      await revokeWhileRefusing(req, g.id, `subject_${subject}`);
      throw invalidGrant('The user can no longer sign in');
    }
    const spent = await prisma.oAuthToken.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: now } });
    if (spent.count === 0) {
      await revokeWhileRefusing(req, row.grantId, 'refresh_token_reused');
      throw invalidGrant('The refresh token was already used; its token family is revoked');
    }
    return issueFamilyTokens(deps, {
      grantType: GRANT_REFRESH_TOKEN,
      origin: req.origin,
      client: client!,
      subject,
      grantId: g.id,
      scope,
      authTime: g.authTime,
      amr: g.amr,
      sessionId: g.sessionId,
      withRefresh: true,
      now,
      dpopJkt: req.dpopJkt,
    });
  },
};
