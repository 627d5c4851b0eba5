import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parkAuthorization, takeParkedAuthorization } from '../../oauth/pending-authorization.js';
import { findSamlRedirect, samlBindingCookie } from '../../idps/saml-sp.js';
import { randomToken } from '../../platform/secrets.js';
import { finishLogin } from '../login-flow.js';
import type { SamlLoginCompleted } from '../routes/saml.js';

// As long as an AuthnRequest stays answerable.
const PENDING_MS = 10 * 60_000;

/**
 * Joins the hosted login and SAML federation: after the email step, a user associated
 * with an enabled IdP is sent there; when the ACS has verified the IdP's answer, the
 * browser session is created and the pending OAuth authorization resumes.
 */
export default fp(
  async function samlLogin(app: FastifyInstance) {
    const { prisma } = app.db;
    const bindingCookie = samlBindingCookie(app.config);
    // The binding cookie of each hosted-login answer that sends its browser to an IdP.
    const bindings = new WeakMap<FastifyRequest, string>();

    app.loginRedirectHooks.push(async ({ request, tenantId, email, authRequest }) => {
      const id = authRequest ? randomToken(32) : '';
      const redirect = await findSamlRedirect(app, tenantId, email, id, request.cookies?.[bindingCookie.name]);
      if (!redirect) return undefined;
      if (authRequest) {
        await parkAuthorization(prisma, { tenantId, id, authRequest, expiresAt: new Date(Date.now() + Math.max(PENDING_MS, app.config.SAML_REQUEST_TTL_MS)) });
      }
      bindings.set(request, redirect.binding);
      return redirect.url;
    });

    // A redirect hook sees the request only: the cookie goes on the hosted login's answer as it
    // is sent. Added to the hosted login routes (/ui/...) alone, so no other route pays for it.
    // Should a hook run elsewhere, no cookie is set and the ACS refuses the answer: it fails closed.
    const setBindingCookie = (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
      const binding = bindings.get(request);
      if (binding) reply.setCookie(bindingCookie.name, binding, bindingCookie.options);
      done(null, payload);
    };
    app.addHook('onRoute', (route) => {
      if (!route.url.startsWith('/ui/')) return;
      route.onSend = [...(route.onSend ? [route.onSend].flat() : []), setBindingCookie];
    });

    const completed: SamlLoginCompleted = async (request, reply, login) => {
      // Single use: the row goes with its first use (a replayed response is refused earlier, by the ACS).
      const authRequest = login.relayState ? await takeParkedAuthorization(prisma, login.tenantId, login.relayState) : undefined;
      return finishLogin(request, reply, { tenantId: login.tenantId, userId: login.userId, amr: ['ext'], authRequest });
    };
    app.decorate('samlLoginCompleted', completed);
  },
  { name: 'saml-login' },
);
