// The export and import operations with ZITADEL's request options (admin API
// POST /export and /import), shared by the HTTP routes and the CLI.
import type { BlockList } from 'node:net';
import { z } from 'zod';
import { audit } from '../audit/audit.js';
import type { Prisma } from '../platform/db.js';
import { AppError, badRequest } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import type { Argon2Params } from '../platform/passwords.js';
import type { Principal } from '../principals/principal.js';
import type { ExportDocument } from './document.js';
import { exportOrg, selectOrgs } from './export.js';
import { buffered, writeJson } from './json-stream.js';
import { importDocument, type ImportResult } from './import.js';
import type { DefaultApplicationConfig } from '../oauth/applications.js';
import { checkS3Endpoint, exportFile, parseDuration, readExportFile, readS3, s3Failure, writeExportFile, writeS3 } from './outputs.js';
import { allowList } from '../platform/net.js';
import { exportInstanceKeys } from './instance-keys.js';

const s3Location = z.object({
  path: z.string().min(1).max(1024),
  endpoint: z.string().min(1).max(2048),
  accessKeyId: z.string().min(1).max(256),
  secretAccessKey: z.string().min(1).max(256),
  ssl: z.boolean().optional(),
  bucket: z.string().min(1).max(255),
});
const orgIdList = z.array(z.string().max(200).refine(isUuid, 'must be an org id (UUID)')).max(100_000);
const timeout = z
  .string()
  .max(32)
  .refine((v) => parseDuration(v) !== undefined, 'must be a duration such as "30s" or "5m"');

export const exportRequest = z.object({
  orgIds: orgIdList.optional(),
  excludedOrgIds: orgIdList.optional(),
  withPasswords: z.boolean().optional().describe('Password hashes (never plaintext)'),
  withOtp: z
    .boolean()
    .optional()
    .describe(
      "Second factors in pca.mfa: TOTP enrolments (secret sealed under this deployment's master key), recovery-code hashes (keyed by that key) and passkeys (public keys)",
    ),
  withKeys: z
    .boolean()
    .optional()
    .describe(
      "SAML SP private keys, OIDC IdP client secrets and client_secret_jwt application secrets, sealed under this deployment's master key: usable only by a server with the same key",
    ),
  withSigningKeys: z
    .boolean()
    .optional()
    .describe(
      "The OAuth/OIDC token signing keys and the client-certificate CA, in pcaInstance, sealed for the target's master key (sealFor): tokens and certificates this deployment issued are then accepted on the target. Requires sealFor",
    ),
  sealFor: z
    .base64()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be the base64 of a 32-byte key')
    .optional()
    .describe("The target deployment's master key (base64 of its 32 bytes), which withSigningKeys seals the keys for"),
  responseOutput: z.boolean().optional(),
  localOutput: z.object({ path: z.string().min(1).max(1024) }).optional(),
  s3Output: s3Location.optional(),
  gcsOutput: z.object({ bucket: z.string().optional(), serviceaccountJson: z.string().optional(), path: z.string().optional() }).optional(),
  timeout: timeout.optional(),
});
export type ExportRequest = z.infer<typeof exportRequest>;

export const importRequest = z.object({
  timeout: timeout.optional(),
  dataOrgs: z.looseObject({ orgs: z.array(z.unknown()), pcaInstance: z.unknown().optional() }).optional(),
  dataOrgsLocal: z.object({ path: z.string().min(1).max(1024) }).optional(),
  dataOrgsS3: s3Location.optional(),
  // Our own export document may also be posted as it is.
  orgs: z.array(z.unknown()).optional(),
  pcaInstance: z.unknown().optional().describe("With orgs: the deployment's signing keys of an export made withSigningKeys"),
  dryRun: z.boolean().optional().describe('Report what would change; write nothing'),
  onConflict: z
    .enum(['fail', 'skip', 'overwrite'])
    .optional()
    .describe('Existing rows with other values, and names taken by other rows: fail the org, skip the item, or (default) overwrite rows of the same id'),
});
export type ImportRequest = z.infer<typeof importRequest>;

export interface RunContext {
  prisma: Prisma;
  actor: Principal | 'system';
  requestId?: string;
  dataDir: string;
  baseDomain: string;
  /** The settings of the AnalyticsUI application every tenant gets (see ImportOptions). */
  applications?: DefaultApplicationConfig;
  argon: Argon2Params;
  /** Opens and makes the sealed SP keys of SAML IdPs. */
  masterKey?: Buffer;
  /** Private addresses a client's jwksUri may point to (CLIENT_JWKS_ALLOW_CIDRS). */
  jwksAllow?: BlockList;
  /** Private or loopback addresses an S3 endpoint may reach (EXPORT_S3_ALLOW_CIDRS); none when absent. */
  s3Allow?: BlockList;
  /** Tells this process's signing-key cache that keys were imported. */
  onSigningKeys?: () => Promise<void>;
  /** Where the full errors go whose reports carry only a safe description. */
  log?: { error(obj: object, msg: string): void };
}

const timedOut = () => new AppError(504, 'timeout', 'Timeout', 'The operation did not finish within its timeout');

async function withTimeout<T>(ms: number | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  if (!ms) return run(ctl.signal);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort();
      reject(timedOut());
    }, ms);
  });
  try {
    return await Promise.race([run(ctl.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Writes the document as JSON through `write`, org by org, each read from its own
 * snapshot and streamed as it is read. Returns the number of orgs.
 */
export async function streamExport(
  ctx: RunContext,
  req: Pick<ExportRequest, 'orgIds' | 'excludedOrgIds' | 'withPasswords' | 'withOtp' | 'withKeys' | 'withSigningKeys' | 'sealFor'>,
  write: (chunk: string) => void | Promise<void>,
  progress: {
    signal?: AbortSignal;
    /** Told how many orgs and rows (users and service accounts) the export holds, before it starts. */
    onStart?: (orgs: number, rows: number) => void;
    onOrg?: (done: number) => void;
    onRows?: (rows: number) => void;
    pageSize?: number;
  } = {},
): Promise<number> {
  const ids = await selectOrgs(ctx.prisma, req);
  if (progress.onStart) {
    const where = { tenantId: { in: ids } };
    progress.onStart(ids.length, (await ctx.prisma.user.count({ where })) + (await ctx.prisma.serviceAccount.count({ where })));
  }
  const out = buffered(write);
  await out.write('{');
  if (req.withSigningKeys) {
    // Checked by exportRequest too; the CLI reaches here directly.
    if (!req.sealFor || !ctx.masterKey) throw badRequest('withSigningKeys needs sealFor, the master key of the target', '/sealFor');
    await out.write(`"pcaInstance":${JSON.stringify(await exportInstanceKeys(ctx.prisma, ctx.masterKey, Buffer.from(req.sealFor, 'base64')))},`);
  }
  await out.write('"orgs":[');
  for (const [i, id] of ids.entries()) {
    if (progress.signal?.aborted) throw timedOut();
    if (i) await out.write(',');
    const opts = {
      withPasswords: req.withPasswords,
      withOtp: req.withOtp,
      withKeys: req.withKeys,
      baseDomain: ctx.baseDomain,
      onRows: progress.onRows,
      pageSize: progress.pageSize,
    };
    await exportOrg(ctx.prisma, id, opts, (org) => writeJson(org, out.write));
    progress.onOrg?.(i + 1);
  }
  await out.write(']}\n');
  await out.flush();
  return ids.length;
}

/** The document as one string (for an answer or an S3 object). */
async function exportText(
  ctx: RunContext,
  req: Parameters<typeof streamExport>[1],
  how: Parameters<typeof streamExport>[3],
): Promise<{ text: string; orgs: number }> {
  const chunks: string[] = [];
  const orgs = await streamExport(ctx, req, (c) => void chunks.push(c), how);
  return { text: chunks.join(''), orgs };
}

/** The document in one piece. */
export async function buildExport(ctx: RunContext, req: Parameters<typeof streamExport>[1], pageSize?: number): Promise<ExportDocument> {
  const { text } = await exportText(ctx, req, { pageSize });
  return JSON.parse(text) as ExportDocument;
}

export async function runExport(ctx: RunContext, req: ExportRequest): Promise<ExportDocument | Record<string, never>> {
  if (req.gcsOutput) throw badRequest('Google Cloud Storage output is not supported; use s3Output or localOutput', '/gcsOutput');
  if (req.withSigningKeys && !req.sealFor) throw badRequest('withSigningKeys needs sealFor, the master key of the target', '/sealFor');
  // With no output named, the document comes back in the response.
  const toResponse = req.responseOutput ?? (!req.localOutput && !req.s3Output);
  // Both outputs are checked before any work: a refused one leaves nothing written.
  const s3Allow = ctx.s3Allow ?? allowList([]);
  const s3Url = req.s3Output ? await checkS3Endpoint(req.s3Output, s3Allow, '/s3Output/endpoint') : undefined;
  const file = req.localOutput ? await exportFile(ctx.dataDir, req.localOutput.path, '/localOutput/path', { create: true }) : undefined;
  return withTimeout(req.timeout ? parseDuration(req.timeout) : undefined, async (signal) => {
    let orgs: number;
    let doc: ExportDocument | undefined;
    if (file && !toResponse && !req.s3Output) {
      // A file alone is written as the document is read: a large tenant never sits in memory.
      orgs = await writeExportFile(file, (write) => streamExport(ctx, req, write, { signal }));
    } else {
      const exported = await exportText(ctx, req, { signal });
      orgs = exported.orgs;
      if (file) await writeExportFile(file, async (write) => void (await write(exported.text)));
      if (req.s3Output && s3Url) {
        try {
          await writeS3(s3Url, req.s3Output, s3Allow, exported.text, signal);
        } catch (err) {
          if (signal.aborted) throw timedOut();
          ctx.log?.error({ err }, 'export: writing to S3 failed');
          throw s3Failure('Writing to S3 failed', err, '/s3Output', 502);
        }
      }
      if (toResponse) doc = JSON.parse(exported.text) as ExportDocument;
    }
    await audit(
      ctx.prisma,
      ctx.actor,
      {
        tenantId: null,
        action: 'instance.exported',
        targetType: 'instance',
        details: {
          orgs,
          withPasswords: !!req.withPasswords,
          withOtp: !!req.withOtp,
          withKeys: !!req.withKeys,
          withSigningKeys: !!req.withSigningKeys,
          response: toResponse,
          local: !!file,
          s3: !!req.s3Output,
        },
      },
      ctx.requestId,
    );
    return doc ?? {};
  });
}

export async function runImport(ctx: RunContext, req: ImportRequest, onOrg?: (done: number, total: number) => void): Promise<ImportResult> {
  const sources = [req.dataOrgs, req.dataOrgsLocal, req.dataOrgsS3, req.orgs].filter((s) => s !== undefined);
  if (sources.length !== 1) throw badRequest('Name exactly one source: dataOrgs, dataOrgsLocal, dataOrgsS3, or the document itself (orgs)');
  const s3Allow = ctx.s3Allow ?? allowList([]);
  const s3Url = req.dataOrgsS3 ? await checkS3Endpoint(req.dataOrgsS3, s3Allow, '/dataOrgsS3/endpoint') : undefined;
  return withTimeout(req.timeout ? parseDuration(req.timeout) : undefined, async (signal) => {
    let doc: unknown;
    if (req.dataOrgs) doc = req.dataOrgs;
    else if (req.orgs) doc = { orgs: req.orgs, pcaInstance: req.pcaInstance };
    else {
      let text: string;
      try {
        text = req.dataOrgsLocal
          ? await readExportFile(await exportFile(ctx.dataDir, req.dataOrgsLocal.path, '/dataOrgsLocal/path', { create: false }))
          : await readS3(s3Url!, req.dataOrgsS3!, s3Allow, signal);
      } catch (err) {
        if (err instanceof AppError) throw err;
        if (signal.aborted) throw timedOut();
        ctx.log?.error({ err }, 'import: reading the source failed');
        if (req.dataOrgsS3) throw s3Failure('The import source cannot be read from S3', err, '/dataOrgsS3', 400);
        throw badRequest(`The import source cannot be read${ctx.requestId ? `; see the server log (request id ${ctx.requestId})` : ''}`, '/dataOrgsLocal/path');
      }
      try {
        doc = JSON.parse(text);
      } catch {
        throw badRequest('The import source is not valid JSON');
      }
    }
    return importDocument(ctx.prisma, doc, {
      argon: ctx.argon,
      baseDomain: ctx.baseDomain,
      applications: ctx.applications,
      actor: ctx.actor,
      requestId: ctx.requestId,
      masterKey: ctx.masterKey,
      jwksAllow: ctx.jwksAllow,
      onSigningKeys: ctx.onSigningKeys,
      dryRun: req.dryRun,
      onConflict: req.onConflict,
      onOrg,
      onFailure: (err, orgId) => ctx.log?.error({ err, orgId }, 'import: an org failed and was rolled back'),
    });
  });
}
