import type { FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contextOf } from '../context.js';
import { AppError } from '../../platform/errors.js';
import {
  addOidcIdp,
  addSamlIdp,
  disableIdps,
  findIdp,
  getUserIdps,
  idpCreated,
  idpSummary,
  listIdps,
  oidcIdpView,
  setUserIdps,
  updateOidcIdp,
  updateSamlIdp,
} from '../../idps/service.js';
import { access, errors, jsonApi, noContent, sendJsonApi, WHO } from '../jsonapi.js';

const tags = ['IdentityProviderService'];
const idParams = z.object({ id: z.string().max(64) });

const routingShape = {
  domains: z.array(z.string()).describe('Email domains whose users the email step sends to this identity provider'),
  jitProvisioning: z.boolean().describe('Unknown users are created at their first login'),
  jitRoles: z.array(z.string()).describe('Roles of users created just in time'),
  autoLinkByEmail: z.boolean().describe('An existing unlinked user is linked at the first login by a verified email'),
};
const idpSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.string().describe('IDENTITY_PROVIDER_TYPE_SAML or IDENTITY_PROVIDER_TYPE_OIDC'),
    isDefault: z.boolean(),
    state: z.string(),
    entityId: z.string().describe("SAML: the IdP's entity ID; OIDC: its issuer"),
    ...routingShape,
  })
  .meta({ id: 'IdentityProvider' });
const idpCreatedSchema = z.object({ id: z.string(), isDefault: z.boolean(), name: z.string(), type: z.string() }).meta({ id: 'SamlIdp' });
const oidcIdpSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.string(),
    isDefault: z.boolean(),
    state: z.string(),
    issuer: z.string(),
    clientId: z.string(),
    scopes: z.array(z.string()),
    callbackUrl: z.string().describe('The redirect URI to register at the identity provider'),
    ...routingShape,
  })
  .meta({ id: 'OidcIdp' });
const idsBody = z.object({ data: z.object({ ids: z.array(z.string().max(64)).max(100) }) });
const userIdpsDocument = z.object({ data: z.object({ ids: z.array(z.string()), idps: z.array(idpSummarySchema) }) });

const multipartBool = z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true');
// A file part arrives as a Buffer, a plain field as a string (both are accepted for the XML).
const fileOrText = z.any().meta({ type: 'string', format: 'binary' });

// Lists in a multipart form: comma-separated.
const multipartList = z
  .string()
  .max(8192)
  .transform((v) =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );
const samlRouting = {
  domains: multipartList.optional().describe('Comma-separated email domains routed to this IdP'),
  jitProvisioning: multipartBool.optional(),
  jitRoles: multipartList.optional().describe('Comma-separated roles of users created just in time'),
  autoLinkByEmail: multipartBool.optional().describe('Trust the NameID email to link an existing unlinked user'),
};
const addSamlBody = z.object({
  name: z.string().trim().min(1).max(200),
  metadataUrl: z.string().trim().min(1).max(2048).optional(),
  metadataXmlFile: fileOrText.optional(),
  isDefault: multipartBool.optional(),
  ...samlRouting,
});
const updateSamlBody = z.object({ isDefault: multipartBool.optional(), ...samlRouting });

const oidcRouting = {
  domains: z.array(z.string().trim().min(1).max(253)).max(50).optional().describe('Email domains whose users the email step sends here'),
  jitProvisioning: z.boolean().optional().describe('Create unknown users at their first login (from the email and names the IdP asserts)'),
  jitRoles: z.array(z.string().min(1).max(100)).max(50).optional().describe('Roles of users created just in time; each one the caller could grant'),
  autoLinkByEmail: z.boolean().optional().describe('Link an existing unlinked user at the first login when the IdP asserts its email with email_verified true'),
};
const addOidcBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  issuer: z.string().trim().min(1).max(2048).describe('The issuer URL, or its discovery URL (/.well-known/openid-configuration)'),
  clientId: z.string().min(1).max(200),
  clientSecret: z.string().min(1).max(1024),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/, 'must be a scope token'))
    .max(20)
    .optional()
    .describe('Default: openid email profile'),
  isDefault: z.boolean().optional(),
  ...oidcRouting,
});
const updateOidcBody = addOidcBody.partial();

const notMultipart = () => new AppError(415, 'unsupported_media_type', 'Unsupported media type', 'This operation takes a multipart/form-data body');

export default async function idpRoutes(app: FastifyInstance) {
  // Scoped to these routes: multipart fields become body values the zod schemas validate.
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: app.config.SAML_METADATA_MAX_BYTES, files: 1, fields: 10, parts: 12, fieldSize: 64 * 1024 },
  });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const requireMultipart = async (request: { isMultipart(): boolean }) => {
    if (!request.isMultipart()) throw notMultipart();
  };

  r.get(
    '/api/v3/idps',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'ListIdps',
        summary: "List the tenant's identity providers",
        description: access([WHO.admin]),
        response: {
          200: jsonApi("The tenant's identity providers", z.object({ data: z.object({ idps: z.array(idpSummarySchema) }) })),
          ...errors(401, 403, 404),
        },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, { data: { idps: (await listIdps(contextOf(request))).map(idpSummary) } }),
  );

  r.delete(
    '/api/v3/idps',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'DisableIdps',
        summary: 'Disable identity providers',
        description: access([WHO.admin, WHO.policy], 'Detaches every user of the identity providers.'),
        body: idsBody,
        response: { 204: noContent('Disabled'), ...errors(400, 401, 403, 404, 415) },
      },
    },
    async (request, reply) => {
      await disableIdps(contextOf(request), request.body.data.ids);
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/api/v3/idps/saml',
    {
      config: { auth: 'admin' },
      preValidation: requireMultipart,
      schema: {
        tags,
        operationId: 'AddSamlIdp',
        summary: 'Add a SAML identity provider',
        description: access(
          [WHO.admin],
          'Multipart form: `name`, exactly one of `metadataUrl` or `metadataXmlFile`, `isDefault`, and the routing settings `domains`, `jitProvisioning`, `jitRoles` (comma-separated lists), `autoLinkByEmail`.',
        ),
        consumes: ['multipart/form-data'],
        body: addSamlBody,
        response: {
          200: { description: 'The new identity provider', content: { 'application/json': { schema: idpCreatedSchema } } },
          ...errors(400, 401, 403, 404, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const xml = b.metadataXmlFile === undefined ? undefined : Buffer.isBuffer(b.metadataXmlFile) ? b.metadataXmlFile.toString('utf8') : b.metadataXmlFile;
      if (xml !== undefined && typeof xml !== 'string')
        throw new AppError(400, 'invalid_value', 'Invalid value', 'metadataXmlFile must be one XML file', { pointer: '/metadataXmlFile' });
      const idp = await addSamlIdp(contextOf(request), app.config, app.masterKey, {
        name: b.name,
        metadataUrl: b.metadataUrl,
        metadataXml: xml === '' ? undefined : xml,
        isDefault: b.isDefault ?? false,
        domains: b.domains,
        jitProvisioning: b.jitProvisioning,
        jitRoles: b.jitRoles,
        autoLinkByEmail: b.autoLinkByEmail,
      });
      return reply.code(200).send(idpCreated(idp));
    },
  );

  r.patch(
    '/api/v3/idps/saml/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'UpdateSamlIdp',
        summary: 'Change the default flag or routing settings of a SAML identity provider',
        description: access(
          [WHO.admin],
          'Multipart form: `isDefault` (one identity provider per tenant is the default), and the routing settings `domains`, `jitProvisioning`, `jitRoles`, `autoLinkByEmail`.',
        ),
        consumes: ['multipart/form-data'],
        params: idParams,
        body: updateSamlBody,
        response: {
          200: { description: 'The updated identity provider', content: { 'application/json': { schema: idpCreatedSchema } } },
          ...errors(400, 401, 403, 404, 409, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      await findIdp(ctx, request.params.id); // an unknown or foreign id is 404 whatever the body
      await requireMultipart(request);
      return reply.code(200).send(idpCreated(await updateSamlIdp(ctx, request.params.id, request.body ?? {})));
    },
  );

  r.post(
    '/api/v3/idps/oidc',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'AddOidcIdp',
        summary: 'Add an OpenID Connect identity provider',
        description: access(
          [WHO.admin],
          'The issuer is discovered first (through the SSRF guard): an unreachable issuer, or one that is not an OpenID Connect issuer, is a 422 and nothing is stored. The answer names the callback URL to register at the IdP. The client secret is stored sealed and never returned.',
        ),
        body: addOidcBody,
        response: {
          200: { description: 'The new identity provider', content: { 'application/json': { schema: oidcIdpSchema } } },
          ...errors(400, 401, 403, 404, 409, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const idp = await addOidcIdp(contextOf(request), app.config, app.masterKey, request.body);
      return reply.code(200).send(oidcIdpView(app.config, idp));
    },
  );

  r.patch(
    '/api/v3/idps/oidc/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'UpdateOidcIdp',
        summary: 'Change an OpenID Connect identity provider',
        description: access([WHO.admin], 'Fields left out stay as they are. A new issuer, client id or secret is discovered again before anything is stored.'),
        params: idParams,
        body: updateOidcBody,
        response: {
          200: { description: 'The updated identity provider', content: { 'application/json': { schema: oidcIdpSchema } } },
          ...errors(400, 401, 403, 404, 409, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const idp = await updateOidcIdp(contextOf(request), app.config, app.masterKey, request.params.id, request.body);
      return reply.code(200).send(oidcIdpView(app.config, idp));
    },
  );

  const userIdps = (idps: Parameters<typeof idpSummary>[0][]) => ({ data: { ids: idps.map((i) => i.id), idps: idps.map(idpSummary) } });

  r.get(
    '/api/v3/users/:id/idps',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['UserService'],
        operationId: 'GetUserIdps',
        summary: "List a user's identity providers",
        description: access([WHO.admin]),
        params: idParams,
        response: { 200: jsonApi("The user's identity providers", userIdpsDocument), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, userIdps(await getUserIdps(contextOf(request), request.params.id))),
  );

  r.put(
    '/api/v3/users/:id/idps',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['UserService'],
        operationId: 'SetUserIdps',
        summary: "Set a user's identity provider",
        description: access([WHO.admin, WHO.policy], 'At most one; `[]` removes it.'),
        params: idParams,
        body: idsBody,
        response: { 200: jsonApi("The user's identity providers now", userIdpsDocument), ...errors(400, 401, 403, 404, 415, 422) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, userIdps(await setUserIdps(contextOf(request), request.params.id, request.body.data.ids))),
  );
}
