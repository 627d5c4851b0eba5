import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { AddressRefused, addressAllowed, guardedLookup } from '../platform/net.js';
import { badRequest, unprocessable } from '../platform/errors.js';

// The SSRF guard is shared with the export's S3 endpoints (src/platform/net.ts).
export { allowList } from '../platform/net.js';

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Addresses allowed even though they are private, loopback or link-local (SAML_METADATA_ALLOW_CIDRS). */
  allow: BlockList;
}

/** Fetches IdP metadata from a URL the admin gave: http(s) only, bounded in time and size, no private targets. */
export async function fetchMetadata(rawUrl: string, opts: FetchOptions, redirects = 3): Promise<string> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw badRequest('metadataUrl is not a valid URL', '/metadataUrl');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest('metadataUrl must be an http or https URL', '/metadataUrl');
  if (url.username || url.password) throw badRequest('metadataUrl must not carry credentials', '/metadataUrl');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !addressAllowed(host, opts.allow)) {
    throw unprocessable('metadataUrl points to a private or reserved address', '/metadataUrl');
  }

  const client = url.protocol === 'https:' ? https : http;
  const result = await new Promise<{ status: number; location?: string; body?: string }>((resolve, reject) => {
    const req = client.get(
      url,
      { lookup: guardedLookup(opts.allow), timeout: opts.timeoutMs, headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' } },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          res.resume();
          return resolve({ status, location: res.headers.location });
        }
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > opts.maxBytes) {
          res.destroy();
          return reject(unprocessable(`The metadata at metadataUrl is larger than ${opts.maxBytes} bytes`, '/metadataUrl'));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > opts.maxBytes) {
            res.destroy();
            reject(unprocessable(`The metadata at metadataUrl is larger than ${opts.maxBytes} bytes`, '/metadataUrl'));
          } else chunks.push(chunk);
        });
        res.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    // The whole exchange, not just socket inactivity, is bounded.
    const timer = setTimeout(() => req.destroy(new Error('timeout')), opts.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      if (err instanceof AddressRefused) return reject(unprocessable(`metadataUrl is refused: ${err.message}`, '/metadataUrl'));
      if (err.message === 'timeout') return reject(unprocessable(`metadataUrl did not answer within ${opts.timeoutMs} ms`, '/metadataUrl'));
      reject(unprocessable(`metadataUrl could not be fetched (${(err as NodeJS.ErrnoException).code ?? 'connection failed'})`, '/metadataUrl'));
    });
  });

  if (result.location !== undefined) {
    if (redirects <= 0 || !result.location) throw unprocessable('metadataUrl redirects too often', '/metadataUrl');
    return fetchMetadata(new URL(result.location, url).toString(), opts, redirects - 1);
  }
  if (result.status !== 200) throw unprocessable(`metadataUrl answered HTTP ${result.status}`, '/metadataUrl');
  return result.body!;
}
