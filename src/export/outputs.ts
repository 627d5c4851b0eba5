// Where an export goes (a file in the export folder under DATA_DIR, an S3-compatible
// bucket) and where an import comes from; plus ZITADEL's Go-style duration strings for `timeout`.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, realpath, unlink } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { BlockList } from 'node:net';
import path from 'node:path';
import { AppError, badRequest, conflict, unprocessable } from '../platform/errors.js';
import { AddressRefused, assertHostAllowed, guardedLookup } from '../platform/net.js';

export interface S3Location {
  endpoint: string;
  bucket: string;
  path: string;
  accessKeyId: string;
  secretAccessKey: string;
  ssl?: boolean;
}

/**
 * The folder under DATA_DIR that export files are written to and import files read from.
 * The rest of DATA_DIR (the master key, the embedded database) is out of reach.
 */
export const EXPORT_FOLDER = 'exports';

/** A file of the export folder: where it is, and its name relative to the folder (the only one messages show). */
export interface ExportFile {
  file: string;
  name: string;
  pointer: string;
}

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * Resolves a client-supplied path inside the export folder (<DATA_DIR>/exports). Refuses
 * absolute paths, "..", and symbolic links on the way: nothing leads out of the folder.
 * With `create`, missing folders on the way are made (mode 0700) and an existing file is
 * refused, as exports never replace a file. Messages never show where DATA_DIR is.
 */
export async function exportFile(dataDir: string, requested: string, pointer: string, opts: { create: boolean }): Promise<ExportFile> {
  if (!requested || requested.includes('\0')) throw badRequest('The path is empty or invalid', pointer);
  if (path.isAbsolute(requested)) throw badRequest('The path must be relative to the export folder (DATA_DIR/exports)', pointer);
  const parts = requested.split('/').filter((p) => p !== '' && p !== '.');
  if (!parts.length) throw badRequest('The path must name a file of the export folder', pointer);
  if (parts.includes('..')) throw badRequest('The path must not contain ".."', pointer);
  const name = parts.join('/');
  const rootDir = path.resolve(dataDir, EXPORT_FOLDER);
  await mkdir(rootDir, { recursive: true, mode: 0o700 });
  let dir = await realpath(rootDir);
  for (const [i, part] of parts.slice(0, -1).entries()) {
    dir = path.join(dir, part);
    const here = parts.slice(0, i + 1).join('/');
    const st = await lstat(dir).catch((err) => (codeOf(err) === 'ENOENT' ? undefined : Promise.reject(err)));
    if (!st) {
      if (!opts.create) throw badRequest(`"${name}" does not exist in the export folder`, pointer);
      await mkdir(dir, { mode: 0o700 }).catch((err) => (codeOf(err) === 'EEXIST' ? undefined : Promise.reject(err)));
      // Made by someone else meanwhile: judged like any existing entry.
      if (!(await lstat(dir)).isDirectory()) throw badRequest(`"${here}" is not a folder of the export folder`, pointer);
    } else if (st.isSymbolicLink()) throw badRequest(`"${here}" is a symbolic link; the path must stay inside the export folder`, pointer);
    else if (!st.isDirectory()) throw badRequest(`"${here}" is not a folder of the export folder`, pointer);
  }
  const f = { file: path.join(dir, parts.at(-1)!), name, pointer };
  if (opts.create && (await lstat(f.file).catch(() => undefined))) throw alreadyThere(f);
  return f;
}

const alreadyThere = (f: ExportFile) => conflict(`"${f.name}" already exists in the export folder; an export never replaces a file`, f.pointer);

/**
 * Writes a new file with owner-only permissions (an export may hold password hashes),
 * as `produce` writes its chunks, atomically: the content goes to a temporary file that is then linked under its name,
 * which fails rather than replace anything there (a file, or a symbolic link to one).
 */
export async function writeExportFile<T>(f: ExportFile, produce: (write: (chunk: string) => Promise<void>) => Promise<T>): Promise<T> {
  const tmp = path.join(path.dirname(f.file), `.${path.basename(f.file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    let result: T;
    try {
      result = await produce(async (chunk) => void (await handle.write(chunk)));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(tmp, f.file).catch((err) => Promise.reject(codeOf(err) === 'EEXIST' ? alreadyThere(f) : err));
    return result;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Reads a file of the export folder; a symbolic link in its place is refused. */
export async function readExportFile(f: ExportFile): Promise<string> {
  const handle = await open(f.file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)).catch((err) => {
    const code = codeOf(err);
    if (code === 'ENOENT') return Promise.reject(badRequest(`"${f.name}" does not exist in the export folder`, f.pointer));
    if (code === 'ELOOP') return Promise.reject(badRequest(`"${f.name}" is a symbolic link; the path must stay inside the export folder`, f.pointer));
    if (code === 'EACCES' || code === 'EPERM') return Promise.reject(badRequest(`"${f.name}" cannot be read by the server`, f.pointer));
    return Promise.reject(err);
  });
  try {
    if (!(await handle.stat()).isFile()) throw badRequest(`"${f.name}" is not a file`, f.pointer);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * The endpoint as a URL: a host[:port] (scheme from `ssl`, https unless false) or an
 * http(s) URL without credentials. Refuses (400) anything else.
 */
function endpointUrl(loc: S3Location, pointer: string): URL {
  const raw =
    /^[a-z][a-z0-9+.-]*:/i.test(loc.endpoint) && loc.endpoint.includes('://') ? loc.endpoint : `${loc.ssl === false ? 'http' : 'https'}://${loc.endpoint}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest('endpoint is not a host name, host:port or http(s) URL', pointer);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest('endpoint must be an http or https URL', pointer);
  if (url.username || url.password) throw badRequest('endpoint must not carry credentials', pointer);
  if (!url.hostname || url.search || url.hash) throw badRequest('endpoint is not a host name, host:port or http(s) URL', pointer);
  return url;
}

/**
 * The SSRF guard of S3 endpoints (the SAML metadata fetch's, src/platform/net.ts): an
 * endpoint that is, or resolves to, a loopback, private, link-local or reserved address
 * is refused (422) unless EXPORT_S3_ALLOW_CIDRS lists it. Run before any work, so a
 * refused request writes nothing; the connection itself is guarded again (DNS rebinding).
 */
export async function checkS3Endpoint(loc: S3Location, allow: BlockList, pointer: string): Promise<URL> {
  const url = endpointUrl(loc, pointer);
  try {
    await assertHostAllowed(url.hostname, allow);
  } catch (err) {
    if (err instanceof AddressRefused) throw unprocessable(`endpoint is refused: ${err.message} (EXPORT_S3_ALLOW_CIDRS can allow it)`, pointer);
    throw unprocessable(`endpoint ${url.hostname} cannot be resolved${codeOf(err) ? ` (${codeOf(err)})` : ''}`, pointer);
  }
  return url;
}

// The AWS SDK is the largest dependency and only exports and imports through S3 use it.
const s3 = () => import('@aws-sdk/client-s3');

async function s3Client(url: URL, loc: S3Location, allow: BlockList) {
  const { S3Client } = await s3();
  const lookup = guardedLookup(allow);
  return new S3Client({
    endpoint: `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: loc.accessKeyId, secretAccessKey: loc.secretAccessKey },
    requestHandler: { httpAgent: new http.Agent({ lookup }), httpsAgent: new https.Agent({ lookup }) },
  });
}

/**
 * What the client may learn of a failed S3 call: the S3 error code and HTTP status, or
 * the network error code; never a message text (the SDK's or the peer's).
 */
export function s3Failure(what: string, err: unknown, pointer: string, status: number): AppError {
  if (err instanceof AddressRefused || (err as Error | undefined)?.name === 'AddressRefused') {
    return unprocessable(`endpoint is refused: ${(err as Error).message} (EXPORT_S3_ALLOW_CIDRS can allow it)`, pointer);
  }
  const e = err as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = typeof e?.name === 'string' && /^[A-Za-z0-9.]{1,64}$/.test(e.name) ? e.name : undefined;
  let why: string;
  if (e?.$metadata?.httpStatusCode) why = `${name ?? 'error'} (HTTP ${e.$metadata.httpStatusCode})`;
  else if (typeof e?.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(e.code)) why = `the endpoint could not be reached (${e.code})`;
  else why = name && name !== 'Error' ? name : 'the endpoint could not be reached';
  return status === 400 ? badRequest(`${what}: ${why}`, pointer) : new AppError(status, 'storage_failed', 'Bad gateway', `${what}: ${why}`, { pointer });
}

export async function writeS3(url: URL, loc: S3Location, allow: BlockList, body: string, signal?: AbortSignal) {
  const { PutObjectCommand } = await s3();
  const client = await s3Client(url, loc, allow);
  try {
    await client.send(new PutObjectCommand({ Bucket: loc.bucket, Key: loc.path.replace(/^\/+/, ''), Body: body, ContentType: 'application/json' }), {
      abortSignal: signal,
    });
  } finally {
    client.destroy();
  }
}

export async function readS3(url: URL, loc: S3Location, allow: BlockList, signal?: AbortSignal): Promise<string> {
  const { GetObjectCommand } = await s3();
  const client = await s3Client(url, loc, allow);
  try {
    const res = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.path.replace(/^\/+/, '') }), { abortSignal: signal });
    return (await res.Body?.transformToString('utf8')) ?? '';
  } finally {
    client.destroy();
  }
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "90s", "1m30s", "500ms" (Go's time.Duration syntax) into milliseconds. */
export function parseDuration(v: string): number | undefined {
  const s = v.trim();
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNITS[m[2]!]!;
  return total;
}
