import { OAuthError, invalidGrant, invalidRequest } from '../errors.js';
import { SLOW_DOWN_SECONDS } from '../device.js';
import { hasScope } from '../scopes.js';
import { currentSubject } from '../subject.js';
import { createGrant, hashToken } from '../tokens.js';
import { GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN } from '../schemas.js';
import { issueFamilyTokens } from './issue.js';
import type { GrantHandler } from './types.js';

const pending = () => new OAuthError('authorization_pending', 'The user has not yet approved the request');
const slowDown = (interval: number) => new OAuthError('slow_down', `Polled too fast: wait at least ${interval} seconds between requests`);

/**
 * RFC 8628 §3.4–3.5: the device polls with its device code until the user decided. The answer
 * is issued once: the poll that claims the approved request gets the tokens, any later one is
 * refused. The poll times live in the database, so that polls spread over instances count alike.
 */
export const deviceCodeGrant: GrantHandler = {
  requiresClient: true,
  async handle(req) {
    const { deps, params, client, now } = req;
    const { prisma } = deps;
    if (!params.device_code) throw invalidRequest('device_code is required');
    if (params.device_code.length > 200) throw invalidGrant('The device code is invalid');
    const row = await prisma.deviceAuthorization.findUnique({ where: { deviceCodeHash: hashToken(params.device_code) } });
    if (!row || row.applicationId !== client!.id) throw invalidGrant('The device code is invalid');
    if (row.status === 'issued') throw invalidGrant('The device code was already used');
    if (row.expiresAt <= now) throw new OAuthError('expired_token', 'The device code has expired: start a new device authorization');
    if (row.status === 'denied') throw new OAuthError('access_denied', 'The user denied the request');

    if (row.status === 'pending') {
      // Too soon after the previous poll: the interval grows (RFC 8628 §3.5). The update is
      // conditional on the previous poll time, so two racing polls cannot both pass as slow.
      const previous = row.lastPolledAt;
      const tooFast = previous !== null && now.getTime() - previous.getTime() < row.pollInterval * 1000;
      const interval = tooFast ? row.pollInterval + SLOW_DOWN_SECONDS : row.pollInterval;
      const noted = await prisma.deviceAuthorization.updateMany({
        where: { id: row.id, status: 'pending', lastPolledAt: previous },
        data: { lastPolledAt: now, pollInterval: interval },
      });
      if (noted.count === 0) {
        const current = await prisma.deviceAuthorization.findUnique({ where: { id: row.id }, select: { status: true, pollInterval: true } });
        // Decided between the read and the update: the next poll sees it.
        if (current?.status === 'pending') throw slowDown(current.pollInterval);
        throw pending();
      }
      if (tooFast) throw slowDown(interval);
      throw pending();
    }

    // Approved: the subject must still be able to sign in.
    const subject = await currentSubject(prisma, row.tenantId, row.userId!, row.id);
    if (typeof subject === 'string') throw invalidGrant('The user can no longer sign in');
    const grant = await createGrant(prisma, {
      subject,
      applicationId: client!.id,
      scope: row.scope,
      authTime: row.authTime ?? undefined,
      amr: row.amr,
    });
    // Claim the approval and name the family in one step: of two concurrent polls one wins.
    const claimed = await prisma.deviceAuthorization.updateMany({
      where: { id: row.id, status: 'approved' },
      data: { status: 'issued', grantId: grant.id, lastPolledAt: now },
    });
    if (claimed.count === 0) {
      await prisma.oAuthGrant.delete({ where: { id: grant.id } });
      throw invalidGrant('The device code was already used');
    }
    return issueFamilyTokens(deps, {
      grantType: GRANT_DEVICE_CODE,
      origin: req.origin,
      client: client!,
      subject,
      grantId: grant.id,
      scope: row.scope,
      authTime: row.authTime,
      amr: row.amr,
      withRefresh: client!.grantTypes.includes(GRANT_REFRESH_TOKEN) && hasScope(row.scope, 'offline_access'),
      now,
      dpopJkt: req.dpopJkt,
    });
  },
};
