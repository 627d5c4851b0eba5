import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contextOf } from '../context.js';
import {
  applicationAttributes,
  createApplication,
  deleteApplication,
  findApplication,
  listApplications,
  rotateApplicationSecret,
  updateApplication,
} from '../../oauth/applications.js';
import { applicationAttributes as attributesSchema, applicationCreate, applicationUpdate } from '../../oauth/schemas.js';
import { rotateKeys } from '../../oauth/keys.js';
import { allowList } from '../../platform/net.js';
import {
  access,
  documentSchema,
  errors,
  inputDocument,
  jsonApi,
  listDocument,
  listSchema,
  noContent,
  pageQuery,
  resource,
  resourceSchema,
  sendJsonApi,
  skipTake,
  WHO,
} from '../jsonapi.js';

const applicationResource = resourceSchema('applications', attributesSchema).meta({ id: 'Application' });
const idParams = z.object({ id: z.string().max(64) });
const tags = ['Applications'];

export default async function applicationRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const env = { masterKey: app.masterKey, jwksAllow: allowList(app.config.CLIENT_JWKS_ALLOW_CIDRS) };
  const toResource = (a: Parameters<typeof applicationAttributes>[0], secret?: string) => resource('applications', a.id, applicationAttributes(a, secret));

  r.get(
    '/api/v3/applications',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'ListApplications',
        summary: 'List applications',
        description: access([WHO.admin]),
        querystring: pageQuery,
        response: { 200: jsonApi('A page of the applications', listSchema(applicationResource)), ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { skip, take } = skipTake(request.query);
      const { total, rows } = await listApplications(app.db.prisma, request.tenantId!, skip, take);
      return sendJsonApi(
        reply,
        200,
        listDocument(
          request,
          request.query,
          total,
          rows.map((a) => toResource(a)),
        ),
      );
    },
  );

  r.post(
    '/api/v3/applications',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'CreateApplication',
        summary: 'Create an application',
        description: access([WHO.admin, WHO.policy], "Creates an OAuth 2.0 / OpenID Connect client. A confidential client's secret is in the answer, once."),
        body: inputDocument('applications', applicationCreate),
        response: {
          201: jsonApi("The new application, with a confidential client's secret (shown once)", documentSchema(applicationResource)),
          ...errors(400, 401, 403, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { app: created, secret } = await createApplication(contextOf(request), env, request.body.data.attributes);
      reply.header('location', `/api/v3/applications/${created.id}`);
      return sendJsonApi(reply, 201, { data: toResource(created, secret) });
    },
  );

  r.get(
    '/api/v3/applications/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'GetApplication',
        summary: 'Get an application',
        description: access([WHO.admin]),
        params: idParams,
        response: { 200: jsonApi('The application', documentSchema(applicationResource)), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, { data: toResource(await findApplication(app.db.prisma, request.tenantId!, request.params.id)) }),
  );

  r.patch(
    '/api/v3/applications/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'UpdateApplication',
        summary: 'Update an application',
        description: access([WHO.admin, WHO.policy]),
        params: idParams,
        body: inputDocument('applications', applicationUpdate),
        response: {
          200: jsonApi(
            'The updated application (with a new secret, shown once, when it became a client_secret_jwt client)',
            documentSchema(applicationResource),
          ),
          ...errors(400, 401, 403, 404, 409, 422),
        },
      },
    },
    async (request, reply) => {
      const { app: updated, secret } = await updateApplication(contextOf(request), env, request.params.id, request.body.data.attributes);
      return sendJsonApi(reply, 200, { data: toResource(updated, secret) });
    },
  );

  r.delete(
    '/api/v3/applications/:id',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'DeleteApplication',
        summary: 'Delete an application',
        description: access([WHO.admin, WHO.policy]),
        params: idParams,
        response: { 204: noContent('Deleted'), ...errors(401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      await deleteApplication(contextOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/api/v3/applications/:id/secret',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'RotateApplicationSecret',
        summary: "Rotate an application's secret",
        description: access(
          [WHO.admin, WHO.policy],
          'Replaces the client secret of a confidential application; the old one stops working at once. The new secret is in the answer, once.',
        ),
        params: idParams,
        response: { 200: jsonApi('The application with its new secret (shown once)', documentSchema(applicationResource)), ...errors(401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const { app: rotated, secret } = await rotateApplicationSecret(contextOf(request), env, request.params.id);
      return sendJsonApi(reply, 200, { data: toResource(rotated, secret) });
    },
  );

  r.post(
    '/api/v3/signing-keys/rotate',
    {
      config: { auth: 'sky' },
      schema: {
        tags: ['Tenants (operator)'],
        operationId: 'RotateSigningKeys',
        summary: 'Rotate the token signing keys',
        description: access(
          [WHO.sky],
          'Token signing key rotation: the published next key starts signing, the current key stays in the JWKS until its tokens expire, and a new next key is published.',
        ),
        response: { 200: jsonApi('The key ids now in the JWKS', z.object({ data: z.object({ active: z.array(z.string()) }) })), ...errors(401, 403) },
      },
    },
    async (request, reply) => {
      const active = await rotateKeys(app.db.prisma, app.masterKey, undefined, request.principal);
      await app.oauth.keys.reload();
      return sendJsonApi(reply, 200, { data: { active } });
    },
  );
}
