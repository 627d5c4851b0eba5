// Where an export goes (a file under DATA_DIR, an S3-compatible bucket) and where
// an import comes from; plus ZITADEL's Go-style duration strings for `timeout`.
import { mkdir, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { badRequest } from '../platform/errors.js';

export interface S3Location {
  endpoint: string;
  bucket: string;
  path: string;
  accessKeyId: string;
  secretAccessKey: string;
  ssl?: boolean;
}

/**
 * Resolves a client-supplied path inside DATA_DIR and refuses anything that would
 * leave it: absolute paths elsewhere, "..", and symlinked directories pointing out.
 */
export async function pathUnderDataDir(dataDir: string, requested: string): Promise<string> {
  if (!requested || requested.includes('\0')) throw badRequest('The path is empty or invalid', '/localOutput/path');
  const root = await realpath(path.resolve(dataDir)).catch(() => path.resolve(dataDir));
  const target = path.resolve(root, requested);
  const rel = path.relative(root, target);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) throw badRequest(`The path must name a file inside DATA_DIR (${dataDir})`, '/localOutput/path');
  // The directory may exist already as a symlink; what counts is where it really is.
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const realDir = await realpath(dir);
  const realRel = path.relative(root, realDir);
  if (realRel.startsWith('..') || path.isAbsolute(realRel)) throw badRequest('The path leaves DATA_DIR through a symbolic link', '/localOutput/path');
  return path.join(realDir, path.basename(target));
}

/** Writes atomically with owner-only permissions: an export may hold password hashes. */
export async function writeLocal(file: string, body: string) {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, body, { mode: 0o600 });
  await rename(tmp, file);
}

export const readLocal = (file: string) => readFile(file, 'utf8');

function s3Client(loc: S3Location) {
  const endpoint = /^https?:\/\//.test(loc.endpoint) ? loc.endpoint : `${loc.ssl === false ? 'http' : 'https'}://${loc.endpoint}`;
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: loc.accessKeyId, secretAccessKey: loc.secretAccessKey },
  });
}

export async function writeS3(loc: S3Location, body: string, signal?: AbortSignal) {
  const client = s3Client(loc);
  try {
    await client.send(new PutObjectCommand({ Bucket: loc.bucket, Key: loc.path.replace(/^\/+/, ''), Body: body, ContentType: 'application/json' }), { abortSignal: signal });
  } finally {
    client.destroy();
  }
}

export async function readS3(loc: S3Location, signal?: AbortSignal): Promise<string> {
  const client = s3Client(loc);
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
