import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { finishOidcLogin, OidcRefused, oidcStateCookie } from '../../idps/oidc-rp.js';
import { AppError } from '../../platform/errors.js';
import { messagePage } from '../../ui/pages.js';
import { mapError } from '../errors.js';
import { access } from '../jsonapi.js';
import { finishLogin, returnPath } from '../login-flow.js';

const tags = ['OpenID Connect relying party'];
const page = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });

/** What the library or the IdP said about a refused sign-in: for the log, never for the page. */
export function logOidcRefusal(request: FastifyRequest, idpId: string | undefined, err: unknown) {
  if (err instanceof OidcRefused && err.why) request.log.info({ idpId, why: err.why }, 'OIDC sign-in refused');
}

/** Where external OpenID Connect IdPs send the browser back after a sign-in (the redirect URI registered there). */
export default async function oidcIdpRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const stateCookie = oidcStateCookie(app.config);

  // A person's browser lands here: every refusal is a hosted-login page, never a JSON:API
  // document; what the library or the IdP said goes to the log, not on the page.
  app.setErrorHandler((err: FastifyError, request, reply) => {
    logOidcRefusal(request, (request.params as { idpId?: string }).idpId, err);
    if (err instanceof AppError && err.status < 500) return messagePage(reply, 'Sign-in failed', err.message, err.status);
    if (hasZodFastifySchemaValidationErrors(err)) {
      return messagePage(
        reply,
        'Sign-in failed',
        'The identity provider sent this browser back with a malformed answer. Start the sign-in again from the application.',
        400,
      );
    }
    const m = mapError(err, request);
    if (m.retryAfter) reply.header('retry-after', String(m.retryAfter));
    const message =
      m.status >= 500
        ? 'The sign-in could not be finished because of a problem on our side. Try again in a moment.'
        : `${m.title}. Start the sign-in again from the application.`;
    return messagePage(reply, 'Sign-in failed', message, m.status);
  });

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
          200: page('Signed in, with no authorization request to continue, or a second-factor or terms step: a page'),
          400: page('The answer is malformed: a page'),
          403: page(
            'The sign-in was refused (this browser did not start it or it expired, the IdP answered with an error, its answer failed a check, or the user may not sign in): a page saying why',
          ),
          404: page('Unknown or disabled identity provider: a page'),
        },
      },
    },
    async (request, reply) => {
      const current = new URL(request.url, app.config.PUBLIC_URL);
      // The login this answer is for, among those pending in this browser (one per tab).
      const cookieName = stateCookie.nameFor(request.query.state ?? '');
      const login = await finishOidcLogin(app, request.params.idpId, current, request.cookies?.[cookieName], request.id);
      // One sign-in per state: its cookie goes with its use; the other tabs' stay.
      const { maxAge: _, ...where } = stateCookie.options;
      reply.clearCookie(cookieName, where);
      return finishLogin(
        request,
        reply,
        { tenantId: login.tenantId, userId: login.userId, amr: ['ext'], authRequest: login.authRequest },
        returnPath(login.next),
      );
    },
  );
}
