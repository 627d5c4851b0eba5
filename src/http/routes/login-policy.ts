import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { loginPolicyInput, loginPolicyOf, loginPolicySchema, setLoginPolicy } from '../../tenants/login-policy.js';
import { passwordComplexityInput, passwordComplexityOf, passwordComplexitySchema, setPasswordComplexity } from '../../tenants/password-complexity.js';
import { resetSecondFactors } from '../../users/totp.js';
import { contextOf } from '../context.js';
import { access, documentSchema, errors, inputDocument, jsonApi, noContent, resource, resourceSchema, sendJsonApi, WHO } from '../jsonapi.js';

const TYPE = 'loginPolicy';
const policyResource = resourceSchema(TYPE, loginPolicySchema).meta({ id: 'LoginPolicy' });
const COMPLEXITY = 'passwordComplexityPolicy';
const complexityResource = resourceSchema(COMPLEXITY, passwordComplexitySchema).meta({ id: 'PasswordComplexityPolicy' });
const tags = ['TenantService'];
const DETAILS =
  "The tenant named by X-Forwarded-Tenant-Id (else the caller's). Field names, values and durations are ZITADEL's loginPolicy (docs/login.md says where each takes effect).";

export default async function loginPolicyRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/v3/tenants/login-policy',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'GetLoginPolicy',
        summary: "Get the tenant's login policy",
        description: access([WHO.admin], DETAILS),
        response: { 200: jsonApi('The login policy, defaults filled in', documentSchema(policyResource)), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      return sendJsonApi(reply, 200, { data: resource(TYPE, ctx.tenantId, await loginPolicyOf(ctx.prisma, ctx.tenantId)) });
    },
  );

  r.put(
    '/api/v3/tenants/login-policy',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'SetLoginPolicy',
        summary: "Replace the tenant's login policy",
        description: access([WHO.admin], `${DETAILS} Fields left out take their defaults.`),
        body: inputDocument(TYPE, loginPolicyInput),
        response: { 200: jsonApi('The login policy now in force', documentSchema(policyResource)), ...errors(400, 401, 403, 404, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      return sendJsonApi(reply, 200, { data: resource(TYPE, ctx.tenantId, await setLoginPolicy(ctx, request.body.data.attributes)) });
    },
  );

  const COMPLEXITY_DETAILS =
    "The tenant named by X-Forwarded-Tenant-Id (else the caller's). ZITADEL's passwordComplexityPolicy names for the rules the tenant's `passwordPolicy` attribute shows; the hosted pages list them before a password is typed.";

  r.get(
    '/api/v3/tenants/password-complexity-policy',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'GetPasswordComplexityPolicy',
        summary: "Get the tenant's password rules",
        description: access([WHO.admin], COMPLEXITY_DETAILS),
        response: { 200: jsonApi('The password rules', documentSchema(complexityResource)), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      return sendJsonApi(reply, 200, { data: resource(COMPLEXITY, ctx.tenantId, await passwordComplexityOf(ctx, ctx.tenantId)) });
    },
  );

  r.put(
    '/api/v3/tenants/password-complexity-policy',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'SetPasswordComplexityPolicy',
        summary: "Replace the tenant's password rules",
        description: access([WHO.admin], `${COMPLEXITY_DETAILS} Fields left out take their defaults; passwords already set are not checked again.`),
        body: inputDocument(COMPLEXITY, passwordComplexityInput),
        response: { 200: jsonApi('The password rules now in force', documentSchema(complexityResource)), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      return sendJsonApi(reply, 200, { data: resource(COMPLEXITY, ctx.tenantId, await setPasswordComplexity(ctx, request.body.data.attributes)) });
    },
  );

  r.delete(
    '/api/v3/users/:id/second-factors',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['UserService'],
        operationId: 'ResetUserSecondFactors',
        summary: "Remove a user's second factors",
        description: access(
          [WHO.admin, WHO.policy],
          "Removes the user's TOTP, recovery codes and passkeys; the user enrols again (at the next login when the login policy forces MFA).",
        ),
        params: z.object({ id: z.string().max(64) }),
        response: { 204: noContent('Removed (also when the user had none)'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await resetSecondFactors(contextOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
}
