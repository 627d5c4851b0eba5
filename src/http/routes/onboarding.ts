import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contextOf } from '../context.js';
import { deleteTenantIdentity, putTenantIdentity, subdomainOf, tenantInfo } from '../../tenants/identity.js';
import { subdomain } from '../../tenants/schemas.js';
import { audit } from '../../audit/audit.js';
import { notFound, unprocessable } from '../../platform/errors.js';
import { access, errors, jsonApi, noContent, sendJsonApi, WHO } from '../jsonapi.js';

const tenantInfoDocument = z.object({
  data: z.object({
    type: z.literal('tenantInfo'),
    id: z.string(),
    attributes: z.looseObject({
      tenantId: z.string(),
      subdomain: z.string(),
      name: z.string(),
      branding: z.record(z.string(), z.string()),
      termsRequired: z.boolean(),
    }),
  }),
});

const tenantIdentityBody = z.object({
  data: z.object({
    type: z.literal('tenantInfo').optional(),
    attributes: z
      .looseObject({ tenantId: z.string().min(1).max(64), subdomain, name: z.string().trim().min(1).max(200) })
      .refine((a) => JSON.stringify(a).length <= 8192, 'attributes are limited to 8 KiB'),
  }),
});

export default async function onboardingRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/v3/onboarding/tenant-info',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['OnboardingService'],
        operationId: 'GetTenantInfo',
        summary: "Get the tenant's public identity",
        description: access([WHO.public], 'Tenant identity resolved from the subdomain of the Host header ({subdomain}.{BASE_DOMAIN}).'),
        security: [],
        response: { 200: jsonApi("The tenant's public identity", tenantInfoDocument), ...errors(404) },
      },
    },
    async (request, reply) => {
      const label = subdomainOf(request.hostname, app.config.BASE_DOMAIN);
      if (!label) throw notFound('Tenant');
      return sendJsonApi(reply, 200, await tenantInfo(app.db.prisma, label));
    },
  );

  r.put(
    '/api/v3/onboarding/tenant-identity',
    {
      config: { auth: 'sky' },
      schema: {
        tags: ['OnboardingService'],
        operationId: 'AddTenantIdentity',
        summary: "Publish a tenant's identity under a subdomain",
        description: access([WHO.sky], 'Creates or replaces what GetTenantInfo answers for `{subdomain}.{BASE_DOMAIN}`: the tenant, its name and branding.'),
        body: tenantIdentityBody,
        response: { 200: jsonApi("The tenant's public identity as stored", tenantInfoDocument), ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { tenantId, subdomain: sub, name, ...extra } = request.body.data.attributes;
      const doc = await putTenantIdentity(contextOf(request), { tenantId, subdomain: sub, name, extra }, app.config);
      return sendJsonApi(reply, 200, doc);
    },
  );

  r.delete(
    '/api/v3/onboarding/tenant-identity/:subdomain',
    {
      config: { auth: 'sky' },
      schema: {
        tags: ['OnboardingService'],
        operationId: 'DeleteTenantIdentity',
        summary: "Remove a tenant's published identity",
        description: access([WHO.sky]),
        params: z.object({ subdomain: z.string().max(63) }),
        response: { 204: noContent('Deleted'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deleteTenantIdentity(contextOf(request), request.params.subdomain, app.config);
      return reply.code(204).send(null);
    },
  );

  r.get(
    '/api/v3/tenants/smtp',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['TenantService'],
        operationId: 'SmtpEnabled',
        summary: 'Tell whether the server sends mail',
        description: access([WHO.anyone]),
        response: { 200: jsonApi('Whether the server sends mail', z.object({ smtpEnabled: z.boolean() })), ...errors(401, 403) },
      },
    },
    async (_request, reply) => sendJsonApi(reply, 200, { smtpEnabled: Boolean(app.config.SMTP_URL) }),
  );

  r.post(
    '/api/v3/users/accept-terms',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['TenantService'],
        operationId: 'AcceptTerms',
        summary: 'Accept the terms of use',
        description: access(
          ['The calling user; a trusted proxy may name the user in X-Forwarded-User-Id.'],
          'Records the time the calling user accepted the terms (X-Forwarded-User-Id must be the caller unless sent by a trusted proxy).',
        ),
        response: {
          200: jsonApi(
            'When the terms were accepted',
            z.object({ data: z.object({ type: z.literal('users'), id: z.string(), attributes: z.object({ termsAcceptedAt: z.string() }) }) }),
          ),
          ...errors(401, 403, 404, 422),
        },
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      const forwarded = request.headers['x-forwarded-user-id'];
      const userId = (typeof forwarded === 'string' && forwarded.trim()) || ctx.principal.subjectId;
      if (ctx.principal.kind !== 'user' && userId === ctx.principal.subjectId) throw unprocessable('Only users accept terms');
      const now = new Date();
      const updated = await ctx.prisma.$transaction(async (tx) => {
        const res = await tx.user.updateMany({ where: { tenantId: ctx.tenantId, id: userId }, data: { termsAcceptedAt: now } });
        if (res.count === 0) return false;
        await audit(tx, ctx.principal, { tenantId: ctx.tenantId, action: 'user.terms_accepted', targetType: 'user', targetId: userId }, ctx.requestId);
        return true;
      });
      if (!updated) throw notFound('User');
      return sendJsonApi(reply, 200, { data: { type: 'users' as const, id: userId, attributes: { termsAcceptedAt: now.toISOString() } } });
    },
  );
}
