import type { BlockList } from 'node:net';
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';
import { Cache } from '../platform/cache.js';
import { FetchRefused, fetchGuarded } from '../platform/guarded-fetch.js';

/** Asymmetric algorithms of client assertions and request objects; never "none", never a MAC keyed by a public key. */
export const CLIENT_KEY_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;

export interface ClientKeysOptions {
  allow: BlockList;
  timeoutMs: number;
  maxBytes: number;
  /** How long a fetched JWK Set is used before it is fetched again. */
  cacheSeconds: number;
  /** The shortest time between two fetches of one jwks_uri caused by an unknown kid. */
  refetchSeconds: number;
}

/** The keys of a client: its registered JWK Set, or the one at its jwks_uri. */
export interface KeyedClient {
  clientId: string;
  jwks: unknown;
  jwksUri: string | null;
}

/** The jwks_uri cannot give keys (refused by the SSRF guard, unreachable, not a JWK Set). */
export class JwksUnavailable extends Error {
  override name = 'JwksUnavailable';
}

interface Fetched {
  jwks: JSONWebKeySet;
  at: number;
}

/**
 * Verifies JWTs a client signs (private_key_jwt assertions, request objects) with the client's
 * public keys. A jwks_uri is fetched through the SSRF guard of outgoing requests and kept in the
 * shared cache; a kid it does not know causes one new fetch, at most every `refetchSeconds`, so
 * that a client's key rotation is picked up at once but a stream of made-up kids costs nothing.
 */
export class ClientKeys {
  private readonly cache: Cache<Fetched>;
  private readonly inflight = new Map<string, Promise<Fetched>>();

  constructor(private readonly opts: ClientKeysOptions) {
    // Correct by its lifetime alone: a client's keys are its own to rotate, not our writes to announce.
    this.cache = new Cache<Fetched>({ max: 10_000, ttlMs: Math.max(1, opts.cacheSeconds) * 1000, needsChannel: false, name: 'client_jwks' });
  }

  async verify(client: KeyedClient, jwt: string, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
    const algorithms = options.algorithms ?? [...CLIENT_KEY_ALGS];
    if (client.jwks) return jwtVerify(jwt, createLocalJWKSet(client.jwks as JSONWebKeySet), { ...options, algorithms });
    if (!client.jwksUri) throw new JwksUnavailable('The client has no keys');
    const uri = client.jwksUri;
    const current = await this.current(uri);
    try {
      return await jwtVerify(jwt, createLocalJWKSet(current.jwks), { ...options, algorithms });
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - current.at < this.opts.refetchSeconds * 1000) throw err;
      const fresh = await this.load(uri);
      return jwtVerify(jwt, createLocalJWKSet(fresh.jwks), { ...options, algorithms });
    }
  }

  private async current(uri: string): Promise<Fetched> {
    return this.cache.get(uri) ?? this.load(uri);
  }

  /** One fetch per URI at a time; the result replaces the cached set. */
  private load(uri: string): Promise<Fetched> {
    let p = this.inflight.get(uri);
    if (!p) {
      const since = this.cache.generation;
      p = this.fetch(uri)
        .then((f) => {
          this.cache.set(uri, f, [], since);
          return f;
        })
        .finally(() => this.inflight.delete(uri));
      this.inflight.set(uri, p);
    }
    return p;
  }

  private async fetch(uri: string): Promise<Fetched> {
    let body: string;
    try {
      body = await fetchGuarded(uri, {
        allow: this.opts.allow,
        timeoutMs: this.opts.timeoutMs,
        maxBytes: this.opts.maxBytes,
        accept: 'application/jwk-set+json, application/json',
        label: 'jwksUri',
        httpsOnly: true,
      });
    } catch (err) {
      if (err instanceof FetchRefused) throw new JwksUnavailable(err.message);
      throw err;
    }
    let jwks: unknown;
    try {
      jwks = JSON.parse(body);
    } catch {
      throw new JwksUnavailable('jwksUri did not answer with JSON');
    }
    const keys = (jwks as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > 100) throw new JwksUnavailable('jwksUri did not answer with a JWK Set');
    if (keys.some((k) => typeof k !== 'object' || k === null || 'd' in k || 'k' in k)) {
      throw new JwksUnavailable('The JWK Set at jwksUri holds private or symmetric keys');
    }
    return { jwks: jwks as JSONWebKeySet, at: Date.now() };
  }
}
