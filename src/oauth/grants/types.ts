import type pg from 'pg';
import type { Application } from '../../generated/prisma/client.js';
import type { StandingGrants } from '../standing-grants.js';
import type { OAuthDeps } from '../tokens.js';
import type { AuditOrigin } from '../../audit/origin.js';

export interface TokenResponse {
  access_token: string;
  /** DPoP when the access token is bound to the key of the request's DPoP proof (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
  /** RFC 8693 §2.2.1: the type of the token issued by an exchange. */
  issued_token_type?: string;
}

export interface GrantRequest {
  deps: OAuthDeps;
  /** Raw pool, for the hot-path queries that bypass Prisma. */
  pool: pg.Pool;
  standingGrants: StandingGrants;
  /**
   * Called when the grant changed what caches hold (it revoked tokens while refusing): the
   * caller must let the invalidation settle before its answer leaves.
   */
  invalidated(): void;
  /** The token request's form parameters. */
  params: Record<string, string>;
  /** The authenticated client; undefined only for grants with requiresClient false. */
  client: Application | undefined;
  now: Date;
  /** The thumbprint of the key of the request's valid DPoP proof: the tokens are bound to it. */
  dpopJkt?: string;
  /** The token request, for the audit log. */
  origin?: AuditOrigin;
}

/**
 * One grant type of the token endpoint. The endpoint authenticates the client and checks
 * that the client is allowed this grant type before calling `handle`.
 */
export interface GrantHandler {
  /** false for grants whose assertion identifies the caller without a client (JWT-bearer of a service account). */
  requiresClient: boolean;
  handle(req: GrantRequest): Promise<TokenResponse>;
}
