import { revokeGrant } from '../tokens.js';
import type { GrantRequest } from './types.js';

/**
 * Revokes a token family while refusing a grant (code replay, refresh-token reuse, a
 * subject that can no longer sign in). The answer is an error, yet it changed what
 * caches hold: the read-your-writes barrier must run before it leaves, so that the
 * revoked access tokens are refused here from the next request on.
 */
export async function revokeWhileRefusing({ deps, invalidated, now }: GrantRequest, grantId: string, reason: string) {
  invalidated();
  await revokeGrant(deps.prisma, grantId, reason, now);
}
