import type { BlockList } from 'node:net';
import { FetchRefused, fetchGuarded } from '../platform/guarded-fetch.js';
import { badRequest, unprocessable } from '../platform/errors.js';

// The SSRF guard is shared with the export's S3 endpoints and clients' jwks_uri (src/platform/net.ts).
export { allowList } from '../platform/net.js';

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Addresses allowed even though they are private, loopback or link-local (SAML_METADATA_ALLOW_CIDRS). */
  allow: BlockList;
}

/** Fetches IdP metadata from a URL the admin gave: http(s) only, bounded in time and size, no private targets. */
export async function fetchMetadata(rawUrl: string, opts: FetchOptions): Promise<string> {
  try {
    return await fetchGuarded(rawUrl, { ...opts, accept: 'application/samlmetadata+xml, application/xml, text/xml', label: 'metadataUrl' });
  } catch (err) {
    if (!(err instanceof FetchRefused)) throw err;
    throw err.kind === 'malformed' ? badRequest(err.message, '/metadataUrl') : unprocessable(err.message, '/metadataUrl');
  }
}
