import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import formbody from '@fastify/formbody';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { access, errorDocument, errors, JSON_API, WHO } from '../jsonapi.js';
import { consumeSamlResponse, samlBindingCookie, spMetadata, type SamlLogin } from '../../idps/saml-sp.js';

/**
 * Called once a SAML response is fully verified and linked to a user. The default
 * answers JSON; the hosted login replaces it (decorate before registering this plugin)
 * with session creation and the resumption of the pending authorization (relayState).
 */
export type SamlLoginCompleted = (request: FastifyRequest, reply: FastifyReply, login: SamlLogin) => Promise<unknown> | unknown;

declare module 'fastify' {
  interface FastifyInstance {
    samlLoginCompleted: SamlLoginCompleted;
  }
}

const params = z.object({ idpId: z.string().max(64) });
const tags = ['SAML service provider'];

async function samlRoutes(app: FastifyInstance) {
  // Scoped: the ACS takes the HTTP-POST binding's urlencoded form (unless a parent already parses it).
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) await app.register(formbody, { bodyLimit: 2 * 1024 * 1024 });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const bindingCookie = samlBindingCookie(app.config).name;

  r.get(
    '/saml/:idpId/metadata',
    {
      config: { auth: 'none' },
      schema: {
        tags,
        operationId: 'SamlSpMetadata',
        summary: "Get the service provider's SAML metadata for an identity provider",
        description: access([WHO.public]),
        params,
        response: {
          200: {
            description: "This server's SAML 2.0 service provider metadata for the IdP",
            content: { 'application/samlmetadata+xml': { schema: z.string() } },
          },
          ...errors(404),
        },
      },
    },
    async (request, reply) => {
      const xml = await spMetadata(app, request.params.idpId);
      return reply.type('application/samlmetadata+xml; charset=utf-8').send(xml);
    },
  );

  r.post(
    '/saml/:idpId/acs',
    {
      config: { auth: 'none' },
      bodyLimit: 2 * 1024 * 1024,
      schema: {
        tags,
        operationId: 'SamlAcs',
        summary: 'Consume a SAML response (HTTP-POST binding)',
        description: access([
          'No credential: the signed SAML response, and the binding cookie set when the browser left for the identity provider, sign the user in.',
        ]),
        consumes: ['application/x-www-form-urlencoded'],
        params,
        body: z.object({ SAMLResponse: z.string().min(1).max(2_000_000), RelayState: z.string().max(1024).optional() }),
        response: {
          303: z.null().describe('Signed in: on to the authorization request that started the sign-in'),
          200: { description: 'Signed in, with no authorization request to continue: a page for the user', content: { 'text/html': { schema: z.string() } } },
          403: {
            description: 'The SAML response was refused (signature, audience, replay, expired metadata), or the account cannot sign in (a page)',
            content: { [JSON_API]: { schema: errorDocument }, 'text/html': { schema: z.string() } },
          },
          ...errors(400, 404),
        },
      },
    },
    async (request, reply) => {
      // The binding cookie set when this browser was sent to the IdP: no cookie, no login.
      const binding = request.cookies?.[bindingCookie];
      const login = await consumeSamlResponse(app, request.params.idpId, request.body.SAMLResponse, request.body.RelayState, binding, request.id);
      // The completion sends its own answer (a redirect, a page or an error); the declared responses only document it.
      return app.samlLoginCompleted(request, reply, login) as Promise<void>;
    },
  );
}

export default fp(async function saml(app: FastifyInstance) {
  if (!app.hasDecorator('samlLoginCompleted')) {
    app.decorate('samlLoginCompleted', (async (_request, reply, login) =>
      reply.code(200).type('application/json').send({ userId: login.userId, tenantId: login.tenantId })) as SamlLoginCompleted);
  }
  await app.register(samlRoutes);
});
