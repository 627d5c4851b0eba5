import http from 'node:http';
import https from 'node:https';
import { lookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { addressIn } from '../platform/net.js';
import { badRequest, unprocessable } from '../platform/errors.js';

export interface FetchOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Addresses allowed even though they are private, loopback or link-local (SAML_METADATA_ALLOW_CIDRS). */
  allow: BlockList;
}

// Addresses a metadata URL must not reach: the server's own network (SSRF).
const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32]] as const) {
  BLOCKED.addSubnet(net, bits, 'ipv6');
}

/** Whether the address is one a metadata fetch may connect to. */
export function addressAllowed(address: string, allow: BlockList): boolean {
  if (addressIn(allow, address)) return true;
  // IPv4-mapped IPv6 is judged as the IPv4 address it maps to.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const plain = mapped ?? address;
  return !BLOCKED.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
}

class Refused extends Error {}

/**
 * Resolves the host and refuses when any resolved address is blocked. The socket then
 * connects to exactly the addresses checked here, so DNS rebinding cannot swap them.
 */
function guardedLookup(allow: BlockList): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as { address: string; family: number }[];
      const bad = list.find((a) => !addressAllowed(a.address, allow));
      if (bad || !list.length) return callback(new Refused(`${hostname} resolves to a private or reserved address`), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
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
      if (err instanceof Refused) return reject(unprocessable(`metadataUrl is refused: ${err.message}`, '/metadataUrl'));
      if (err.message === 'timeout') return reject(unprocessable(`metadataUrl did not answer within ${opts.timeoutMs} ms`, '/metadataUrl'));
      reject(unprocessable(`metadataUrl could not be fetched (${(err as NodeJS.ErrnoException).code ?? err.message})`, '/metadataUrl'));
    });
  });

  if (result.location !== undefined) {
    if (redirects <= 0 || !result.location) throw unprocessable('metadataUrl redirects too often', '/metadataUrl');
    return fetchMetadata(new URL(result.location, url).toString(), opts, redirects - 1);
  }
  if (result.status !== 200) throw unprocessable(`metadataUrl answered HTTP ${result.status}`, '/metadataUrl');
  return result.body!;
}

/** BlockList of the CIDRs in SAML_METADATA_ALLOW_CIDRS. */
export function allowList(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [addr, bits] = entry.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}
