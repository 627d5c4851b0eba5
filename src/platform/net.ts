import { lookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Whether a socket's peer address is inside the configured list (IPv4-mapped IPv6 counts as IPv4). */
export function addressIn(list: BlockList, address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  return list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
}

// SSRF guard for URLs an admin hands us (SAML metadataUrl, export S3 endpoints):
// addresses of the server's own network that such a URL must not reach.
const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
] as const) {
  BLOCKED.addSubnet(net, bits, 'ipv6');
}

/** Whether an outgoing connection may go to the address: public, or inside `allow` (an operator's *_ALLOW_CIDRS). */
export function addressAllowed(address: string, allow: BlockList): boolean {
  if (addressIn(allow, address)) return true;
  // IPv4-mapped IPv6 is judged as the IPv4 address it maps to.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const plain = mapped ?? address;
  return !BLOCKED.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
}

/** BlockList of a configured list of IPs and CIDRs (already validated by the config schema). */
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

/** A host that is, or resolves to, an address the guard refuses. */
export class AddressRefused extends Error {
  override name = 'AddressRefused';
}

/**
 * A `lookup` for sockets (http(s).request, Agent options) that resolves the host and
 * refuses when any resolved address is blocked. The socket then connects to exactly
 * the addresses checked here, so DNS rebinding cannot swap them. IP literals skip
 * `lookup` altogether: check those with `assertHostAllowed` first.
 */
export function guardedLookup(allow: BlockList): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as { address: string; family: number }[];
      const bad = list.find((a) => !addressAllowed(a.address, allow));
      if (bad || !list.length) return callback(new AddressRefused(`${hostname} resolves to a private or reserved address`), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/**
 * Refuses (AddressRefused) a host that is a blocked IP literal or resolves to a blocked
 * address; DNS failures are passed on as they are. `hostname` as in URL#hostname.
 */
export async function assertHostAllowed(hostname: string, allow: BlockList): Promise<void> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    if (!addressAllowed(host, allow)) throw new AddressRefused(`${host} is a private or reserved address`);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    guardedLookup(allow)(host, { all: true }, (err) => (err ? reject(err) : resolve()));
  });
}

export interface GuardedFetchOptions {
  allow: BlockList;
  timeoutMs: number;
  maxBytes: number;
}

/**
 * A fetch (the subset OAuth clients such as openid-client use) whose connections go
 * only to addresses the guard allows: IP literals are checked, names are resolved and
 * checked by `guardedLookup`, redirects are never followed, and each exchange is bounded
 * in time and size. Refusals surface as AddressRefused.
 */
export function guardedFetch(opts: GuardedFetchOptions) {
  return async (rawUrl: string, init: { method?: string; headers?: Record<string, string>; body?: unknown; signal?: AbortSignal }): Promise<Response> => {
    const url = new URL(rawUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AddressRefused(`${url.protocol} URLs are not fetched`);
    if (url.username || url.password) throw new AddressRefused('URLs with credentials are not fetched');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && !addressAllowed(host, opts.allow)) throw new AddressRefused(`${host} is a private or reserved address`);
    const body =
      init.body === undefined || init.body === null
        ? undefined
        : init.body instanceof URLSearchParams
          ? init.body.toString()
          : typeof init.body === 'string'
            ? init.body
            : Buffer.from(init.body as ArrayBuffer);
    const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        {
          method: init.method ?? 'GET',
          headers: { ...init.headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
          lookup: guardedLookup(opts.allow),
          timeout: opts.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > opts.maxBytes) req.destroy(new Error(`the answer is larger than ${opts.maxBytes} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (Array.isArray(v)) for (const x of v) headers.append(k, x);
              else if (v !== undefined) headers.set(k, v);
            }
            const status = res.statusCode ?? 502;
            const noBody = status === 204 || status === 304;
            resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, headers }));
          });
          res.on('error', reject);
        },
      );
      // The whole exchange, not just socket inactivity, is bounded.
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
      init.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  };
}
