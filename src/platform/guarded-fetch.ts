import http from 'node:http';
import https from 'node:https';
import { isIP, type BlockList } from 'node:net';
import { AddressRefused, addressAllowed, guardedLookup } from './net.js';

export interface GuardedFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Addresses allowed even though they are private, loopback or link-local (an operator's *_ALLOW_CIDRS). */
  allow: BlockList;
  /** The Accept header. */
  accept: string;
  /** How the URL is named in errors (the field it came from). */
  label: string;
  /** https only, except to an address inside `allow` (a test or in-cluster server). */
  httpsOnly?: boolean;
}

/** A URL refused before any request (`malformed`), or a fetch that failed or was refused (`failed`). */
export class FetchRefused extends Error {
  override name = 'FetchRefused';
  constructor(
    message: string,
    readonly kind: 'malformed' | 'failed',
  ) {
    super(message);
  }
}

/**
 * Fetches a document from a URL someone outside the server chose (SAML metadata, a client's
 * jwks_uri): bounded in time and size, redirects followed a few times, and no connection to a
 * private or reserved address unless `allow` lists it (the resolved addresses are the ones
 * connected to, so DNS rebinding cannot swap them).
 */
export async function fetchGuarded(rawUrl: string, opts: GuardedFetchOptions, redirects = 3): Promise<string> {
  const { label } = opts;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new FetchRefused(`${label} is not a valid URL`, 'malformed');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FetchRefused(`${label} must be an http or https URL`, 'malformed');
  if (url.username || url.password) throw new FetchRefused(`${label} must not carry credentials`, 'malformed');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !addressAllowed(host, opts.allow)) throw new FetchRefused(`${label} points to a private or reserved address`, 'failed');
  if (opts.httpsOnly && url.protocol !== 'https:' && !(isIP(host) && opts.allow.check(host, isIP(host) === 6 ? 'ipv6' : 'ipv4'))) {
    throw new FetchRefused(`${label} must be an https URL`, 'malformed');
  }

  const client = url.protocol === 'https:' ? https : http;
  const result = await new Promise<{ status: number; location?: string; body?: string }>((resolve, reject) => {
    const req = client.get(url, { lookup: guardedLookup(opts.allow), timeout: opts.timeoutMs, headers: { accept: opts.accept } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        res.resume();
        return resolve({ status, location: res.headers.location });
      }
      const tooLarge = () => new FetchRefused(`The document at ${label} is larger than ${opts.maxBytes} bytes`, 'failed');
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > opts.maxBytes) {
        res.destroy();
        return reject(tooLarge());
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          res.destroy();
          reject(tooLarge());
        } else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // The whole exchange, not just socket inactivity, is bounded.
    const timer = setTimeout(() => req.destroy(new Error('timeout')), opts.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      if (err instanceof FetchRefused) return reject(err);
      if (err instanceof AddressRefused) return reject(new FetchRefused(`${label} is refused: ${err.message}`, 'failed'));
      if (err.message === 'timeout') return reject(new FetchRefused(`${label} did not answer within ${opts.timeoutMs} ms`, 'failed'));
      reject(new FetchRefused(`${label} could not be fetched (${(err as NodeJS.ErrnoException).code ?? 'connection failed'})`, 'failed'));
    });
  });

  if (result.location !== undefined) {
    if (redirects <= 0 || !result.location) throw new FetchRefused(`${label} redirects too often`, 'failed');
    return fetchGuarded(new URL(result.location, url).toString(), opts, redirects - 1);
  }
  if (result.status !== 200) throw new FetchRefused(`${label} answered HTTP ${result.status}`, 'failed');
  return result.body!;
}
