import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { finishOidcLogin, oidcStateCookie } from '../../idps/oidc-rp.js';
import { access, errors } from '../jsonapi.js';
import { finishLogin, returnPath } from '../login-flow.js';

const tags = ['OpenID Connect relying party'];

/** Where external OpenID Connect IdPs send the browser back after a sign-in (the redirect URI registered there). */
export default async function oidcIdpRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const stateCookie = oidcStateCookie(app.config);

  r.get(
    '/oidc-idp/:idpId/callback',
    {
      config: { auth: 'none' },
      schema: {
        tags,
        operationId: 'OidcIdpCallback',
        summary: 'Finish a sign-in at an external OpenID Connect identity provider',
        description: access([
          'No credential: the authorization code, redeemed with the PKCE verifier in the sealed state cookie set when this browser left for the identity provider, signs the user in.',
        ]),
        params: z.object({ idpId: z.string().max(64) }),
        querystring: z
          .object({
            code: z.string().max(4096).optional(),
            state: z.string().max(1024).optional(),
            iss: z.string().max(2048).optional(),
            error: z.string().max(256).optional(),
            error_description: z.string().max(1024).optional(),
          })
          .catchall(z.string().max(4096)),
        response: {
          303: z.null().describe('Signed in: on to the authorization request that started the sign-in'),
          200: {
            description: 'Signed in, with no authorization request to continue, or a second-factor or terms step: a page',
            content: { 'text/html': { schema: z.string() } },
          },
          ...errors(400, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const current = new URL(request.url, app.config.PUBLIC_URL);
      const login = await finishOidcLogin(app, request.params.idpId, current, request.cookies?.[stateCookie.name]);
      // One sign-in per state: the cookie goes with its use.
      reply.clearCookie(stateCookie.name, { path: '/', ...(app.config.SESSION_COOKIE_DOMAIN ? { domain: app.config.SESSION_COOKIE_DOMAIN } : {}) });
      return finishLogin(
        request,
        reply,
        { tenantId: login.tenantId, userId: login.userId, amr: ['ext'], authRequest: login.authRequest },
        returnPath(login.next),
      );
    },
  );
}
