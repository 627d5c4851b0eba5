// ZITADEL-compatible instance export and import (admin API v1) for operators. The
// routes are outside /api, so they authenticate here and require skylight-admin.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { argon2Params } from '../../platform/passwords.js';
import { runExport, runImport, exportRequest, importRequest, type RunContext } from '../../export/service.js';
import { audit } from '../../audit/audit.js';
import { conflict, forbidden, unauthorized } from '../../platform/errors.js';
import { allowList } from '../../platform/net.js';
import { isSkylightAdmin, SKYLIGHT_ADMIN } from '../../principals/principal.js';
import { contextOf } from '../context.js';
import { access, errors, WHO } from '../jsonapi.js';

const tags = ['Export and import (operator)'];
/** Import documents of whole deployments are far larger than ordinary requests. */
const IMPORT_BODY_LIMIT = 256 * 1024 * 1024;

const itemError = z.object({ type: z.string(), id: z.string().optional(), field: z.string().optional(), message: z.string() });
const importResult = z.object({
  dryRun: z.literal(true).optional(),
  instance: z
    .object({ status: z.enum(['imported', 'unchanged', 'failed']), created: z.number(), unchanged: z.number(), errors: z.array(itemError) })
    .optional()
    .describe('The signing keys of pcaInstance, when the document has them'),
  orgs: z.array(
    z.object({
      orgId: z.string(),
      name: z.string().optional(),
      status: z.enum(['imported', 'unchanged', 'failed']),
      created: z.number(),
      updated: z.number(),
      unchanged: z.number(),
      errors: z.array(itemError),
    }),
  ),
});

export default async function adminExportRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();

  app.addHook('onRequest', async (request) => {
    const v = await app.authenticate(request);
    if (!v) throw unauthorized();
    if (!v.ok) throw unauthorized('The credential is not valid');
    if (!isSkylightAdmin(v.principal)) throw forbidden(`This operation requires the ${SKYLIGHT_ADMIN} role`);
    request.principal = v.principal;
    request.tenantId = v.principal.tenantId;
  });

  const s3Allow = allowList(app.config.EXPORT_S3_ALLOW_CIDRS);
  const jwksAllow = allowList(app.config.CLIENT_JWKS_ALLOW_CIDRS);
  const argon = argon2Params(app.config);
  // The caller's context (the one builder, ../context.ts) with the settings an export or import needs.
  const runContextOf = (request: FastifyRequest): RunContext => {
    const c = contextOf(request);
    return {
      prisma: c.prisma,
      actor: c.principal,
      requestId: c.requestId,
      dataDir: app.config.DATA_DIR,
      baseDomain: app.config.BASE_DOMAIN,
      applications: app.config,
      argon,
      masterKey: app.masterKey,
      s3Allow,
      jwksAllow,
      onSigningKeys: async () => {
        app.pki.forgetAuthority();
        await app.oauth.keys.reload();
      },
      log: request.log,
    };
  };

  r.post(
    '/admin/v1/export',
    {
      schema: {
        tags,
        operationId: 'ExportData',
        summary: 'Export data',
        description: access(
          [WHO.sky, 'A bearer credential; these routes are outside /api.'],
          "Tenants, users, service accounts, groups and roles in ZITADEL's export format.",
        ),
        body: exportRequest,
        response: {
          200: z.record(z.string(), z.unknown()).describe('The export document, or where it was written'),
          ...errors(400, 401, 403, 409, 422, 502, 504),
        },
      },
    },
    async (request) => (await runExport(runContextOf(request), request.body)) as Record<string, unknown>,
  );

  r.post(
    '/admin/v1/backup',
    {
      schema: {
        tags,
        operationId: 'BackupEmbeddedDatabase',
        summary: 'Back up the embedded database',
        description: access(
          [WHO.sky, 'A bearer credential; these routes are outside /api.'],
          'A consistent copy of the whole embedded database, taken while the server runs: a gzip-compressed tar of its data ' +
            'directory. Restore it with `npm run cli -- restore --from <file>` into an empty DATA_DIR, with the same MASTER_KEY ' +
            '(or DATA_DIR/master.key). 409 on a PostgreSQL server, which is backed up with pg_dump.',
        ),
        response: {
          200: {
            description: 'The data directory as a .tar.gz',
            content: { 'application/gzip': { schema: z.any().meta({ type: 'string', format: 'binary' }) } },
          },
          ...errors(401, 403, 409),
        },
      },
    },
    async (request, reply) => {
      const { db } = app;
      if (!db.snapshot) throw conflict('This server runs on a PostgreSQL server: back it up with pg_dump (docs/export.md, "Backup and restore")');
      const tarball = await db.snapshot();
      const c = contextOf(request);
      await audit(
        c.prisma,
        c.principal,
        { tenantId: null, action: 'instance.backed_up', targetType: 'instance', details: { bytes: tarball.length } },
        c.requestId,
      );
      const name = `iam-backup-${new Date().toISOString().replace(/[:.]/g, '-')}.tar.gz`;
      return reply.type('application/gzip').header('content-disposition', `attachment; filename="${name}"`).send(tarball);
    },
  );

  r.post(
    '/admin/v1/import',
    {
      bodyLimit: IMPORT_BODY_LIMIT,
      schema: {
        tags,
        operationId: 'ImportData',
        summary: 'Import data',
        description: access(
          [WHO.sky, 'A bearer credential; these routes are outside /api.'],
          "An export document, ours or ZITADEL's; idempotent, one transaction per organisation. 207 when an organisation failed.",
        ),
        body: importRequest,
        response: {
          200: importResult.describe('Every organisation imported (or already as the document has it)'),
          207: importResult.describe('At least one organisation failed and was rolled back; the others are as reported'),
          ...errors(400, 401, 403, 413, 422, 504),
        },
      },
    },
    async (request, reply) => {
      const result = await runImport(runContextOf(request), request.body);
      // A failed org is never reported as a plain success.
      if (result.orgs.some((o) => o.status === 'failed') || result.instance?.status === 'failed') reply.code(207);
      return result;
    },
  );
}
