import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contextOf } from '../context.js';
import { createKey, deleteKey } from '../../service-accounts/keys.js';
import {
  credentialCreate,
  keyCreate,
  patAttributes,
  serviceAccountAttributes as attributesSchema,
  serviceAccountCreate,
  serviceAccountCreateQuery,
  serviceAccountSearch,
} from '../../service-accounts/schemas.js';
import {
  createPat,
  createServiceAccount,
  deletePat,
  deleteServiceAccount,
  getServiceAccount,
  listPats,
  searchServiceAccounts,
  serviceAccountAttributes,
} from '../../service-accounts/service.js';
import {
  access,
  documentSchema,
  errors,
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

const tags = ['ServiceAccountService'];
const accountResource = resourceSchema('serviceaccounts', attributesSchema).meta({ id: 'ServiceAccount' });
const patResource = resourceSchema('pats', patAttributes).meta({ id: 'PersonalAccessTokenInfo' });
const machineUserId = z.string().max(64).describe('id of the service account; `self` names the calling service account');
const accountParams = z.object({ machineUserId });
const credentialParams = z.object({ machineUserId, credentialId: z.string().max(64) });

const createdAccount = z
  .object({
    machineUserId: z.string(),
    name: z.string(),
    username: z.string(),
    description: z.string(),
    accessTokenType: z.enum(['Bearer', 'Jwt']),
    roles: z.array(z.string()),
    pat: z.string().optional().describe('present with withPAT=true; shown only in this response'),
    credentialId: z.string().optional(),
    expirationDate: z.string().optional().describe('expiry of the returned PAT'),
  })
  .meta({ id: 'CreatedServiceAccount' });

const createdPat = z
  .object({ credentialId: z.string(), expirationDate: z.string(), machineUserId: z.string(), pat: z.string() })
  .meta({ id: 'CreatedPersonalAccessToken' });

const createdKey = z
  .object({
    expirationDate: z.string(),
    key: z
      .string()
      .describe('base64 of the JSON key file { type: "serviceaccount", keyId, key: <PKCS#8 PEM private key>, userId }; shown only in this response'),
    keyId: z.string(),
    organizationId: z.string(),
    projectId: z.string(),
    type: z.string(),
    userId: z.string(),
  })
  .meta({ id: 'CreatedServiceAccountKey' });

export default async function serviceAccountRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const toResource = (sa: Parameters<typeof serviceAccountAttributes>[0]) => resource('serviceaccounts', sa.id, serviceAccountAttributes(sa));

  r.post(
    '/api/v3/serviceaccounts',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'CreateServiceAccount',
        summary: 'Create a service account',
        description: access(
          [WHO.admin, WHO.policy],
          "Creates a service account; with withPAT=true also a PAT (expirationDate required). Roles default to tenant-admin and may not exceed the caller's.",
        ),
        querystring: serviceAccountCreateQuery,
        body: serviceAccountCreate,
        response: {
          201: jsonApi('The new service account, with its PAT (shown once) when asked for', createdAccount),
          ...errors(400, 401, 403, 409, 413, 415, 422),
        },
      },
    },
    async (request, reply) => {
      const { account, pat } = await createServiceAccount(contextOf(request), request.body, {
        withPAT: request.query.withPAT,
        queryRoles: request.query.roles,
      });
      reply.header('location', `/api/v3/serviceaccounts/${account.id}`);
      const a = serviceAccountAttributes(account);
      return sendJsonApi(reply, 201, {
        machineUserId: account.id,
        name: a.name,
        username: a.username,
        description: a.description,
        accessTokenType: a.accessTokenType,
        roles: a.roles,
        ...(pat ? { pat: pat.token, credentialId: pat.id, expirationDate: pat.expiresAt.toISOString() } : {}),
      });
    },
  );

  r.post(
    '/api/v3/serviceaccounts/search',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'SearchServiceAccounts',
        summary: 'Search service accounts',
        description: access([WHO.admin], 'Criteria: name and username match case-insensitively by substring; role is an exact role name.'),
        querystring: pageQuery,
        body: serviceAccountSearch,
        response: { 200: jsonApi('A page of the matching service accounts', listSchema(accountResource)), ...errors(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { skip, take } = skipTake(request.query);
      const { total, rows } = await searchServiceAccounts(contextOf(request), request.body.data, skip, take);
      return sendJsonApi(reply, 200, listDocument(request, request.query, total, rows.map(toResource), request.body.data));
    },
  );

  r.get(
    '/api/v3/serviceaccounts/:machineUserId',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'GetServiceAccount',
        summary: 'Get a service account',
        description: access([WHO.adminOrSelf('the service account (`self` names the caller)')]),
        params: accountParams,
        response: { 200: jsonApi('The service account', documentSchema(accountResource)), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, { data: toResource(await getServiceAccount(contextOf(request), request.params.machineUserId)) }),
  );

  r.delete(
    '/api/v3/serviceaccounts/:machineUserId',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'DeleteServiceAccount',
        summary: 'Delete a service account',
        description: access([WHO.admin, WHO.policy], 'Deletes the account and revokes its keys, PATs, tokens and certificates.'),
        params: accountParams,
        response: { 204: noContent('Deleted, with its credentials'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deleteServiceAccount(contextOf(request), request.params.machineUserId);
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/api/v3/serviceaccounts/:machineUserId/keys',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'CreateKey',
        summary: 'Create a key for a service account',
        description: access(
          [WHO.adminOrSelf('the service account (`self` names the caller)'), WHO.policy],
          'Creates a key pair; only the public key is kept. The returned key file signs JWT-bearer assertions for /oauth/v2/token.',
        ),
        params: accountParams,
        body: keyCreate,
        response: { 201: jsonApi('The key file with the private key (shown once)', createdKey), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 201, await createKey(contextOf(request), request.params.machineUserId, request.body)),
  );

  r.delete(
    '/api/v3/serviceaccounts/:machineUserId/keys/:credentialId',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'DeleteKey',
        summary: 'Delete a service account key',
        description: access([WHO.adminOrSelf('the service account (`self` names the caller)'), WHO.policy]),
        params: credentialParams,
        response: { 204: noContent('Deleted'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deleteKey(contextOf(request), request.params.machineUserId, request.params.credentialId);
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/api/v3/serviceaccounts/:machineUserId/pats',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'CreatePat',
        summary: 'Create a PAT for a service account',
        description: access([WHO.adminOrSelf('the service account (`self` names the caller)'), WHO.policy]),
        params: accountParams,
        body: credentialCreate,
        response: { 201: jsonApi('The PAT (shown once)', createdPat), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 201, await createPat(contextOf(request), request.params.machineUserId, request.body.expirationDate)),
  );

  r.delete(
    '/api/v3/serviceaccounts/:machineUserId/pats/:credentialId',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'DeletePat',
        summary: 'Revoke a PAT',
        description: access([WHO.adminOrSelf('the service account (`self` names the caller)'), WHO.policy]),
        params: credentialParams,
        response: { 204: noContent('Revoked'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deletePat(contextOf(request), request.params.machineUserId, request.params.credentialId);
      return reply.code(204).send(null);
    },
  );

  r.get(
    '/api/v3/serviceaccounts/:machineUserId/pats',
    {
      config: { auth: 'user' },
      schema: {
        tags,
        operationId: 'SearchPats',
        summary: "List a service account's PATs",
        description: access([WHO.adminOrSelf('the service account (`self` names the caller)')], 'Lists the PATs of the account; never returns token values.'),
        params: accountParams,
        querystring: pageQuery,
        response: { 200: jsonApi("A page of the account's PATs", listSchema(patResource)), ...errors(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { skip, take } = skipTake(request.query);
      const { total, rows } = await listPats(contextOf(request), request.params.machineUserId, skip, take);
      return sendJsonApi(
        reply,
        200,
        listDocument(
          request,
          request.query,
          total,
          rows.map((p) => resource('pats', p.credentialId, p)),
        ),
      );
    },
  );
}
