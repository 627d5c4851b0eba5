import { endSession as endBrowserSession, sessionOf, type SessionSettings } from '../sessions/browser-session.js';
import { redirectWith } from './authorize.js';
import { verifyIdTokenHint } from './id-token-hint.js';
import { revokeGrant, type OAuthDeps } from './tokens.js';
import { recordLogout } from '../audit/events.js';
import type { AuditOrigin } from '../audit/origin.js';

export interface EndSessionRequest {
  postLogoutRedirectUri?: string;
  clientId?: string;
  idTokenHint?: string;
  state?: string;
  /** The secret of the browser session to end (its cookie), if any. */
  sessionSecret?: string;
  /** The request, for the audit log. */
  origin?: AuditOrigin;
}

export type EndSessionResult =
  /** Refused before anything changed; `message` is safe to show. */
  | { ok: false; message: string }
  /** The session (if any) and the grants issued under it are ended; `redirect` is where the browser goes next, if anywhere. */
  | { ok: true; redirect?: string };

const INVALID = 'The sign-out request is not valid.';

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): checks the id_token_hint
 * and the post-logout redirect URI, then ends the browser session and revokes the grants
 * issued under it.
 */
export async function endSession(deps: OAuthDeps & { config: SessionSettings }, req: EndSessionRequest, now = new Date()): Promise<EndSessionResult> {
  const { prisma } = deps;
  let clientId = req.clientId;
  if (req.idTokenHint) {
    // The hint may have expired; its signature and issuer still identify the client.
    const hint = await verifyIdTokenHint(deps, req.idTokenHint);
    if (!hint || (clientId && hint.clientId !== clientId)) return { ok: false, message: INVALID };
    clientId = hint.clientId;
  }
  let redirect: string | undefined;
  if (req.postLogoutRedirectUri) {
    const client = clientId && clientId.length <= 200 ? await prisma.application.findUnique({ where: { clientId } }) : null;
    if (!client || !client.postLogoutRedirectUris.includes(req.postLogoutRedirectUri)) {
      return { ok: false, message: 'The post-logout redirect URI is not registered for this application.' };
    }
    redirect = redirectWith(req.postLogoutRedirectUri, { state: req.state });
  }
  const s = await sessionOf(prisma, req.sessionSecret, deps.config, now);
  if (s?.ok) {
    await endBrowserSession(prisma, s.session.id);
    const grants = await prisma.oAuthGrant.findMany({
      where: { tenantId: s.session.tenantId, sessionId: s.session.id, revokedAt: null },
      select: { id: true },
    });
    for (const g of grants) await revokeGrant(prisma, g.id, 'session_ended');
    await recordLogout(
      prisma,
      { tenantId: s.session.tenantId, userId: s.session.userId, sessionId: s.session.id, clientId, grantsRevoked: grants.length },
      req.origin,
    );
  }
  return { ok: true, redirect };
}
