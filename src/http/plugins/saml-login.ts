import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { completeLogin } from '../../oauth/login.js';
import { findSamlRedirect } from '../../idps/saml-sp.js';
import { randomToken } from '../../platform/secrets.js';
import type { SamlLoginCompleted } from '../routes/saml.js';

// As long as an AuthnRequest stays answerable.
const PENDING_MS = 10 * 60_000;

/**
 * Joins the hosted login and SAML federation: after the email step, a user associated
 * with an enabled IdP is sent there; when the ACS has verified the IdP's answer, the
 * browser session is created and the pending OAuth authorization resumes.
 */
export default fp(async function samlLogin(app: FastifyInstance) {
  const { prisma } = app.db;

  app.loginRedirectHooks.push(async ({ tenantId, email, authRequest }) => {
    const id = authRequest ? randomToken(32) : '';
    const url = await findSamlRedirect(app, tenantId, email, id);
    if (url && authRequest) {
      await prisma.pendingAuthorization.create({ data: { tenantId, id, authRequest, expiresAt: new Date(Date.now() + Math.max(PENDING_MS, app.config.SAML_REQUEST_TTL_MS)) } });
    }
    return url;
  });

  const completed: SamlLoginCompleted = async (request, reply, login) => {
    // Single use: the row goes with its first use (a replayed response is refused earlier, by the ACS).
    const rows = login.relayState
      ? await prisma.$queryRaw<{ authRequest: string }[]>`
          DELETE FROM "PendingAuthorization"
           WHERE "tenantId" = ${login.tenantId}::uuid AND id = ${login.relayState} AND "expiresAt" > now()
          RETURNING "authRequest"`
      : [];
    return completeLogin(request, reply, { tenantId: login.tenantId, userId: login.userId, amr: ['ext'], authRequest: rows[0]?.authRequest });
  };
  app.decorate('samlLoginCompleted', completed);
}, { name: 'saml-login' });
