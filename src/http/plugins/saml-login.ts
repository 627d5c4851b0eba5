import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parkAuthorization, takeParkedAuthorization } from '../../oauth/pending-authorization.js';
import { idpForLogin } from '../../idps/federation.js';
import { oidcStateCookie, pendingLoginsToDrop, startOidcLogin } from '../../idps/oidc-rp.js';
import { samlBindingCookie, startSamlLogin } from '../../idps/saml-sp.js';
import { randomToken } from '../../platform/secrets.js';
import { finishLogin } from '../login-flow.js';
import { hostedOriginOf } from '../tenant-host.js';
import type { SamlLoginCompleted } from '../routes/saml.js';
import { logOidcRefusal } from '../routes/oidc-idp.js';

// As long as an AuthnRequest stays answerable.
const PENDING_MS = 10 * 60_000;

/**
 * Joins the hosted login and federation: after the email step, a user associated with an
 * enabled IdP, or (with the policy's allowDomainDiscovery) whose email domain an IdP claims,
 * is sent there (SAML or OpenID Connect); when the ACS has verified a SAML answer, the
 * browser session is created and the pending OAuth authorization resumes. The OpenID
 * Connect callback (src/http/routes/oidc-idp.ts) finishes its logins itself.
 */
export default fp(
  async function samlLogin(app: FastifyInstance) {
    const { prisma } = app.db;
    const bindingCookie = samlBindingCookie(app.config);
    const stateCookie = oidcStateCookie(app.config);
    // The cookies each hosted-login answer that sends its browser to an IdP must set (and clear).
    const cookies = new WeakMap<FastifyRequest, (reply: FastifyReply) => void>();

    app.loginRedirectHooks.push(async ({ request, tenantId, email, authRequest, next, domainDiscovery, usernameOnly }) => {
      const idp = await idpForLogin(prisma, tenantId, email, { domainDiscovery, usernameOnly });
      if (!idp) return undefined;
      if (idp.type === 'oidc') {
        // The sealed state carries the authorization request itself: no parking needed.
        // The IdP sends the browser back to the host it left from: its state cookie is there.
        const start = await startOidcLogin(app, idp, { authRequest, next }, (await hostedOriginOf(request, tenantId)).origin).catch((err: unknown) => {
          logOidcRefusal(request, idp.id, err);
          throw err;
        });
        const drop = pendingLoginsToDrop(app.masterKey, stateCookie.prefix, request.cookies ?? {});
        const { maxAge: _, ...where } = stateCookie.options;
        cookies.set(request, (reply) => {
          for (const name of drop) reply.clearCookie(name, where);
          reply.setCookie(stateCookie.nameFor(start.state), start.cookie, stateCookie.options);
        });
        return start.url;
      }
      const id = authRequest ? randomToken(32) : '';
      const redirect = await startSamlLogin(app, idp, id, request.cookies?.[bindingCookie.name]);
      if (authRequest) {
        await parkAuthorization(prisma, { tenantId, id, authRequest, expiresAt: new Date(Date.now() + Math.max(PENDING_MS, app.config.SAML_REQUEST_TTL_MS)) });
      }
      cookies.set(request, (reply) => reply.setCookie(bindingCookie.name, redirect.binding, bindingCookie.options));
      return redirect.url;
    });

    // A redirect hook sees the request only: the cookie goes on the hosted login's answer as it
    // is sent. Added to the hosted login routes (/ui/...) alone, so no other route pays for it.
    // Should a hook run elsewhere, no cookie is set and the ACS or callback refuses the answer: it fails closed.
    const setLoginCookie = (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
      cookies.get(request)?.(reply);
      done(null, payload);
    };
    app.addHook('onRoute', (route) => {
      if (!route.url.startsWith('/ui/')) return;
      route.onSend = [...(route.onSend ? [route.onSend].flat() : []), setLoginCookie];
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
