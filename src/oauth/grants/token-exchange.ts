import type { Application } from '../../generated/prisma/client.js';
import { recordTokenExchanged } from '../../audit/events.js';
import { invalidGrant, invalidRequest, invalidScope, OAuthError, unauthorizedClient } from '../errors.js';
import { currentSubject } from '../subject.js';
import { issueAccessToken, looksLikeJwt, OPAQUE_ACCESS_PREFIX, verifyAccessTokenJwt, verifyOpaqueToken, type ActorClaim, type OAuthDeps } from '../tokens.js';
import type { SigningAlg } from '../keys.js';
import type { GrantHandler } from './types.js';

// RFC 8693 §3: the token types this server takes and issues.
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';

const invalidTarget = (d: string) => new OAuthError('invalid_target', d);

/** What a presented access token (subject or actor token) stands for, once it is verified. */
interface Presented {
  tenantId: string;
  subjectId: string;
  kind: 'user' | 'serviceaccount';
  /** The client the token was issued to. */
  clientId?: string;
  scope: string;
  expiresAt: Date;
  grantId: string;
  sessionId?: string;
  jkt?: string;
  act?: ActorClaim;
}

const REFUSAL: Record<string, string> = { expired: 'has expired', revoked: 'was revoked' };

function isActorClaim(v: unknown, depth = 0): v is ActorClaim {
  if (!v || typeof v !== 'object' || Array.isArray(v) || depth > 10) return false;
  const a = v as Record<string, unknown>;
  return typeof a.sub === 'string' && (a.act === undefined || isActorClaim(a.act, depth + 1));
}

/**
 * Verifies a token presented for exchange: an access token this server issued (a JWT, or an
 * opaque one when the type is access_token), live, under a grant that is not revoked.
 */
async function verifyPresented(deps: OAuthDeps, token: string, type: string | undefined, name: string, now: Date): Promise<Presented> {
  if (!type) throw invalidRequest(`${name}_type is required`);
  if (type !== TOKEN_TYPE_ACCESS_TOKEN && type !== TOKEN_TYPE_JWT)
    throw invalidRequest(`${name}_type must be ${TOKEN_TYPE_ACCESS_TOKEN} or ${TOKEN_TYPE_JWT} (an access token of this server)`);
  if (looksLikeJwt(token)) {
    const check = await verifyAccessTokenJwt(deps, token, now);
    if (!check.ok) throw invalidGrant(`The ${name} ${REFUSAL[check.reason] ?? 'is not an access token of this server'}`);
    const c = check.claims;
    const kind = (c as { principal_kind?: unknown }).principal_kind;
    // Every access token of the token endpoint belongs to a grant (gid), and dies with it.
    if (!c.gid || (kind !== 'user' && kind !== 'serviceaccount')) throw invalidGrant(`The ${name} was not issued by this server's token endpoint`);
    return {
      tenantId: c.tenant_id,
      subjectId: c.sub,
      kind,
      clientId: c.client_id,
      scope: c.scope ?? '',
      expiresAt: new Date(c.exp * 1000),
      grantId: c.gid,
      sessionId: c.sid,
      jkt: typeof c.cnf?.jkt === 'string' ? c.cnf.jkt : undefined,
      act: isActorClaim(c.act) ? c.act : undefined,
    };
  }
  if (type === TOKEN_TYPE_JWT) throw invalidGrant(`The ${name} is not a JWT`);
  if (!token.startsWith(OPAQUE_ACCESS_PREFIX)) throw invalidGrant(`The ${name} is not an access token of this server`);
  const check = await verifyOpaqueToken(deps.prisma, token, 'access', now);
  if (!check.ok) throw invalidGrant(`The ${name} ${REFUSAL[check.reason] ?? 'is not an access token of this server'}`);
  const { grant } = check;
  const owner = grant.applicationId ? await deps.prisma.application.findUnique({ where: { id: grant.applicationId }, select: { clientId: true } }) : null;
  return {
    tenantId: check.token.tenantId,
    subjectId: (grant.userId ?? grant.serviceAccountId)!,
    kind: grant.userId ? 'user' : 'serviceaccount',
    clientId: owner?.clientId,
    scope: check.token.scope,
    expiresAt: check.token.expiresAt,
    grantId: grant.id,
    sessionId: grant.sessionId ?? undefined,
    jkt: check.token.dpopJkt ?? undefined,
  };
}

/**
 * RFC 8707 / RFC 8693 §2.1: this server issues tokens for its own API only, so `audience`
 * may name this server or the requesting client, and `resource` a URL of this server.
 */
function checkTarget(params: Record<string, string>, issuer: string, client: Application) {
  if (params.audience !== undefined && params.audience !== issuer && params.audience !== client.clientId) {
    throw invalidTarget('audience must be this server (its issuer) or the requesting client: tokens are issued for this server only');
  }
  if (params.resource !== undefined) {
    const url = URL.parse(params.resource);
    if (!url || url.hash || params.resource.includes('#')) throw invalidTarget('resource must be an absolute URI without a fragment (RFC 8707)');
    if (url.origin !== new URL(issuer).origin) throw invalidTarget('resource must be a URL of this server: tokens are issued for this server only');
  }
}

/** The scope of the new token: the subject token's, or part of it (never more). */
function narrowedScope(requested: string | undefined, granted: string): string {
  const held = granted.split(' ').filter(Boolean);
  const asked = requested === undefined ? held : [...new Set(requested.split(' ').filter(Boolean))];
  const beyond = asked.find((s) => !held.includes(s));
  if (beyond) throw invalidScope(`The scope "${beyond}" is not in the subject token's scope`);
  // No refresh token is ever issued for an exchange.
  return asked.filter((s) => s !== 'offline_access').join(' ');
}

/**
 * OAuth 2.0 Token Exchange (RFC 8693), for a service acting on behalf of a user: a
 * confidential client trades an access token of a user (subject_token) for a token of its
 * own, for that user, optionally naming itself as the actor (actor_token; the new token's
 * `act` claim). Nothing can grow in the exchange: the subject, tenant and token family stay
 * those of the subject token, the roles are the user's as they are now (never the actor's),
 * the scope can only narrow and the lifetime never outlasts the subject token.
 */
export const tokenExchangeGrant: GrantHandler = {
  requiresClient: true,
  async handle({ deps, params, client: app, now, origin, dpopJkt }) {
    const client = app!;
    if (client.clientType !== 'confidential') throw unauthorizedClient('Token exchange needs a confidential client');
    if (!params.subject_token) throw invalidRequest('subject_token is required');
    if (params.requested_token_type !== undefined && params.requested_token_type !== TOKEN_TYPE_ACCESS_TOKEN) {
      throw invalidRequest(`requested_token_type must be ${TOKEN_TYPE_ACCESS_TOKEN}: only access tokens are issued by exchange`);
    }
    if (params.actor_token === undefined && params.actor_token_type !== undefined) throw invalidRequest('actor_token_type without actor_token');
    checkTarget(params, deps.issuer, client);

    const subjectToken = await verifyPresented(deps, params.subject_token, params.subject_token_type, 'subject_token', now);
    if (subjectToken.tenantId !== client.tenantId) throw invalidGrant('The subject_token belongs to another tenant');
    if (subjectToken.kind !== 'user') throw invalidGrant("The subject_token must be a user's access token");
    // RFC 9449: a bound token is used only by the holder of its key, and exchanging is a use.
    if (subjectToken.jkt && subjectToken.jkt !== dpopJkt) {
      throw invalidGrant('The subject_token is DPoP-bound: send a DPoP proof signed with its key');
    }

    let actor: Presented | undefined;
    if (params.actor_token !== undefined) {
      actor = await verifyPresented(deps, params.actor_token, params.actor_token_type, 'actor_token', now);
      if (actor.tenantId !== client.tenantId) throw invalidGrant('The actor_token belongs to another tenant');
      // The client names itself as the actor, never another party.
      if (actor.clientId !== client.clientId) throw invalidGrant('The actor_token must have been issued to the requesting client');
      if (actor.jkt && actor.jkt !== dpopJkt) throw invalidGrant('The actor_token is DPoP-bound: send a DPoP proof signed with its key');
    }

    const scope = narrowedScope(params.scope, subjectToken.scope);
    const remaining = Math.floor((subjectToken.expiresAt.getTime() - now.getTime()) / 1000);
    if (remaining < 1) throw invalidGrant('The subject_token has expired');
    // The user as now: a locked, inactive or deleted user (or a disabled tenant) gets nothing,
    // and the roles are the user's current ones.
    const subject = await currentSubject(deps.prisma, subjectToken.tenantId, subjectToken.subjectId, subjectToken.grantId);
    if (typeof subject === 'string') throw invalidGrant('The user of the subject_token can no longer sign in');

    const act: ActorClaim | undefined = actor
      ? { sub: actor.subjectId, ...(actor.clientId ? { client_id: actor.clientId } : {}), ...(subjectToken.act ? { act: subjectToken.act } : {}) }
      : subjectToken.act;
    // Always a JWT: the actor and the requesting client travel in the token, while the token
    // stays in the subject token's family (gid), so that it dies with it.
    const access = await issueAccessToken(
      deps,
      {
        subject,
        clientId: client.clientId,
        applicationId: client.id,
        scope,
        format: 'jwt',
        lifetime: Math.min(client.accessTokenLifetime, remaining),
        alg: client.signingAlg as SigningAlg,
        grantId: subjectToken.grantId,
        sessionId: subjectToken.sessionId,
        jkt: dpopJkt,
        act,
      },
      now,
    );
    await recordTokenExchanged(
      deps.prisma,
      { tenantId: client.tenantId, subject, clientId: client.clientId, actor: act, grantId: subjectToken.grantId, scope, tokenId: access.jti },
      origin,
    );
    return {
      access_token: access.accessToken,
      issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      token_type: dpopJkt ? 'DPoP' : 'Bearer',
      expires_in: access.expiresIn,
      ...(scope ? { scope } : {}),
    };
  },
};
