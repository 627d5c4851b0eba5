import type { FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contextOf } from '../context.js';
import { AppError } from '../../platform/errors.js';
import { addSamlIdp, disableIdps, findIdp, getUserIdps, idpCreated, idpSummary, listIdps, setUserIdps, updateSamlIdp } from '../../idps/service.js';
import { access, errors, jsonApi, noContent, sendJsonApi, WHO } from '../jsonapi.js';

const tags = ['IdentityProviderService'];
const idParams = z.object({ id: z.string().max(64) });

const idpSummarySchema = z
  .object({ id: z.string(), name: z.string(), type: z.string(), isDefault: z.boolean(), state: z.string(), entityId: z.string() })
  .meta({ id: 'IdentityProvider' });
const idpCreatedSchema = z.object({ id: z.string(), isDefault: z.boolean(), name: z.string(), type: z.string() }).meta({ id: 'SamlIdp' });
const idsBody = z.object({ data: z.object({ ids: z.array(z.string().max(64)).max(100) }) });
const userIdpsDocument = z.object({ data: z.object({ ids: z.array(z.string()), idps: z.array(idpSummarySchema) }) });

const multipartBool = z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true');
// A file part arrives as a Buffer, a plain field as a string (both are accepted for the XML).
const fileOrText = z.any().meta({ type: 'string', format: 'binary' });

const addSamlBody = z.object({
  name: z.string().trim().min(1).max(200),
  metadataUrl: z.string().trim().min(1).max(2048).optional(),
  metadataXmlFile: fileOrText.optional(),
  isDefault: multipartBool.optional(),
});
const updateSamlBody = z.object({ isDefault: multipartBool.optional() });

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
        description: access([WHO.admin], 'Multipart form: `name`, exactly one of `metadataUrl` or `metadataXmlFile`, and `isDefault`.'),
        consumes: ['multipart/form-data'],
        body: addSamlBody,
        response: {
          200: { description: 'The new identity provider', content: { 'application/json': { schema: idpCreatedSchema } } },
          ...errors(400, 401, 403, 404, 413, 415, 422),
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
        summary: 'Make a SAML identity provider the default, or not',
        description: access([WHO.admin], 'One identity provider per tenant is the default.'),
        consumes: ['multipart/form-data'],
        params: idParams,
        body: updateSamlBody,
        response: {
          200: { description: 'The updated identity provider', content: { 'application/json': { schema: idpCreatedSchema } } },
          ...errors(400, 401, 403, 404, 415, 422),
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
