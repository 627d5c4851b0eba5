import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../platform/errors.js';
import { deleteTenantLogo, MAX_LOGO_BYTES, setTenantLogo } from '../../tenants/logo.js';
import { logoPath } from '../../ui/layout.js';
import { contextOf } from '../context.js';
import { access, documentSchema, errors, jsonApi, noContent, resource, resourceSchema, sendJsonApi, WHO } from '../jsonapi.js';

const TYPE = 'tenantLogo';
const tags = ['TenantService'];
const TENANT = "The tenant named by X-Forwarded-Tenant-Id (else the caller's).";
// The media types an upload may declare; what the bytes are decides (src/tenants/logo.ts), so
// an SVG or a GIF gets a clear 400 rather than a 415 that would suggest another type might pass.
const UPLOAD_TYPES = ['image/png', 'image/jpeg', 'application/octet-stream', 'image/svg+xml', 'image/gif', 'image/webp'];
// Past the 256 KiB accepted, a little room so that a slightly larger image is told its size (400).
const PARSE_LIMIT = 2 * MAX_LOGO_BYTES;

const logoResource = resourceSchema(
  TYPE,
  z.object({
    contentType: z.enum(['image/png', 'image/jpeg']).describe('What the bytes are, by their signature'),
    size: z.number().describe('Bytes'),
    etag: z.string().describe("Names these bytes: the logo URL's version and its HTTP ETag"),
    url: z.string().describe('Where the hosted pages load it from (same origin, cached for a year)'),
    updatedAt: z.iso.datetime(),
  }),
).meta({ id: 'TenantLogo' });

/** Refuses, before the body is read, a media type that is no image upload (the JSON parsers of the app would take it). */
async function onlyUploadTypes(request: FastifyRequest) {
  const type = request.headers['content-type']?.split(';')[0]!.trim().toLowerCase();
  if (!type || !UPLOAD_TYPES.includes(type)) {
    throw new AppError(415, 'unsupported_media_type', 'Unsupported media type', 'Send the logo as the request body: image/png or image/jpeg', {
      header: 'content-type',
    });
  }
}

export default async function tenantLogoRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.addContentTypeParser(UPLOAD_TYPES, { parseAs: 'buffer', bodyLimit: PARSE_LIMIT }, (_req, body, done) => done(null, body));

  r.put(
    '/api/v3/tenants/logo',
    {
      config: { auth: 'admin' },
      preParsing: onlyUploadTypes,
      bodyLimit: PARSE_LIMIT,
      schema: {
        tags,
        operationId: 'SetTenantLogo',
        summary: "Upload the tenant's logo",
        description: access(
          [WHO.admin],
          `${TENANT} The body is the image: PNG or JPEG, at most 256 KiB, recognised by its first bytes. SVG is refused (it can carry script). The hosted login and account pages show it, with the tenant's name as its alt text.`,
        ),
        consumes: ['image/png', 'image/jpeg', 'application/octet-stream'],
        body: z.any().meta({ type: 'string', format: 'binary' }).describe('The PNG or JPEG image'),
        response: { 200: jsonApi('The logo now shown', documentSchema(logoResource)), ...errors(400, 401, 403, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      const ctx = contextOf(request);
      const logo = await setTenantLogo(ctx, Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
      return sendJsonApi(reply, 200, {
        data: resource(TYPE, ctx.tenantId, { ...logo, url: logoPath(ctx.tenantId, logo.etag), updatedAt: logo.updatedAt.toISOString() }),
      });
    },
  );

  r.delete(
    '/api/v3/tenants/logo',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'DeleteTenantLogo',
        summary: "Remove the tenant's logo",
        description: access([WHO.admin], `${TENANT} The hosted pages show no logo again.`),
        response: { 204: noContent('Removed (also when there was none)'), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deleteTenantLogo(contextOf(request));
      return reply.code(204).send(null);
    },
  );
}
