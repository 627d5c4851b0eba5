import { hashToken, createGrant } from '../tokens.js';
import { revokeWhileRefusing } from './revoke.js';
import { invalidGrant, invalidRequest, OAuthError } from '../errors.js';
import { verifierMatches } from '../pkce.js';
import { hasScope } from '../scopes.js';
import { currentSubject } from '../subject.js';
import { GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN } from '../schemas.js';
import { issueFamilyTokens } from './issue.js';
import type { GrantHandler } from './types.js';

/** RFC 6749 4.1.3 with PKCE (RFC 7636): single-use codes bound to client, redirect URI and challenge. */
export const authorizationCodeGrant: GrantHandler = {
  requiresClient: true,
  async handle(req) {
    const { deps, params, client, now } = req;
    const { prisma } = deps;
    if (!params.code) throw invalidRequest('code is required');
    if (!params.redirect_uri) throw invalidRequest('redirect_uri is required');
    const code = await prisma.authorizationCode.findUnique({ where: { codeHash: hashToken(params.code) } });
    if (!code || code.applicationId !== client!.id) throw invalidGrant('The authorization code is invalid');
    if (code.usedAt) {
      // RFC 6749 4.1.2: a code used twice revokes what it issued.
      if (code.grantId) await revokeWhileRefusing(req, code.grantId, 'code_replayed');
      throw invalidGrant('The authorization code was already used');
    }
    if (code.expiresAt <= now) throw invalidGrant('The authorization code has expired');
    if (code.redirectUri !== params.redirect_uri) throw invalidGrant('redirect_uri does not match the authorization request');
    if (code.codeChallenge) {
      if (!params.code_verifier) throw invalidGrant('code_verifier is required');
      if (!verifierMatches(params.code_verifier, code.codeChallenge)) {
        // Whoever guesses verifiers holds a stolen code: burn it.
        await prisma.authorizationCode.updateMany({ where: { id: code.id, usedAt: null }, data: { usedAt: now } });
        throw invalidGrant('code_verifier does not match the code challenge');
      }
    } else if (params.code_verifier) {
      throw invalidGrant('code_verifier given but the authorization request had no code_challenge');
    }
    // RFC 9449 §10: a code whose request named a DPoP key is redeemed only with a proof of that key.
    if (code.dpopJkt && code.dpopJkt !== req.dpopJkt) {
      throw new OAuthError('invalid_dpop_proof', 'The authorization request bound the code to a DPoP key: send a proof signed with it');
    }
    const subject = await currentSubject(prisma, code.tenantId, code.userId, code.id);
    if (typeof subject === 'string') throw invalidGrant('The user can no longer sign in');

    const grant = await createGrant(prisma, {
      subject,
      applicationId: client!.id,
      scope: code.scope,
      sessionId: code.sessionId ?? undefined,
      nonce: code.nonce,
      authTime: code.authTime,
      amr: code.amr,
    });
    // Claim the code and bind it to the family in one step: of two concurrent redemptions one wins.
    const claimed = await prisma.authorizationCode.updateMany({ where: { id: code.id, usedAt: null }, data: { usedAt: now, grantId: grant.id } });
    if (claimed.count === 0) {
      await prisma.oAuthGrant.delete({ where: { id: grant.id } });
      const winner = await prisma.authorizationCode.findUnique({ where: { id: code.id }, select: { grantId: true } });
      if (winner?.grantId) await revokeWhileRefusing(req, winner.grantId, 'code_replayed');
      throw invalidGrant('The authorization code was already used');
    }
    return issueFamilyTokens(deps, {
      grantType: GRANT_AUTHORIZATION_CODE,
      origin: req.origin,
      client: client!,
      subject,
      grantId: grant.id,
      scope: code.scope,
      nonce: code.nonce,
      authTime: code.authTime,
      amr: code.amr,
      sessionId: code.sessionId,
      withRefresh: client!.grantTypes.includes(GRANT_REFRESH_TOKEN) && hasScope(code.scope, 'offline_access'),
      now,
      dpopJkt: req.dpopJkt,
    });
  },
};
