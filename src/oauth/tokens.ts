import { acrOf } from './acr.js';
import { createHash, KeyObject, randomUUID, sign as signWith } from 'node:crypto';
import { promisify } from 'node:util';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Prisma } from '../platform/db.js';
import { randomToken, sha256Hex } from '../platform/secrets.js';
import type { Refusal } from '../principals/principal.js';
import { groupClaims } from './group-claims.js';
import type { KeyStore, SigningAlg } from './keys.js';
import { hasScope } from './scopes.js';

/** What an access token is issued for: a user or a service account, with its roles as of now. */
export interface TokenSubject {
  kind: 'user' | 'serviceaccount';
  tenantId: string;
  subjectId: string;
  username: string;
  roles: string[];
  groups: string[];
}

export interface OAuthDeps {
  prisma: Prisma;
  keys: KeyStore;
  issuer: string;
}

export type AccessTokenFormat = 'jwt' | 'opaque';

export interface IssueAccessTokenInput {
  subject: TokenSubject;
  /** The client the token is issued to (client_id claim, audience); absent for client-less grants. */
  clientId?: string;
  applicationId?: string | null;
  scope: string;
  format: AccessTokenFormat;
  /** Seconds. */
  lifetime: number;
  alg?: SigningAlg;
  /** The token family; opaque tokens without one get a family of their own. */
  grantId?: string;
  sessionId?: string;
  /** The thumbprint of the DPoP key the token is bound to (RFC 9449 §6): only its holder may use it. */
  jkt?: string;
  /** Who acts for the subject (RFC 8693 §4.1, token exchange); a JWT carries it, so only a JWT may have it. */
  act?: ActorClaim;
}

/** RFC 8693 §4.1: the acting party, and the earlier ones of a chain of delegations nested under `act`. */
export interface ActorClaim {
  sub: string;
  client_id?: string;
  act?: ActorClaim;
}

export interface IssuedAccessToken {
  accessToken: string;
  expiresIn: number;
  jti: string;
  grantId?: string;
}

// Opaque tokens carry a prefix so that secret scanners recognise them and the
// authenticators can tell them from PATs and JWTs without a lookup.
export const OPAQUE_ACCESS_PREFIX = 'pcaat_';
export const REFRESH_PREFIX = 'pcart_';
export const hashToken = sha256Hex;

export const ROLES_CLAIM = 'urn:zitadel:iam:org:project:roles';
const RESOURCE_OWNER_CLAIM = 'urn:zitadel:iam:user:resourceowner:id';

/** The roles claim PCA frontends read (ZITADEL's shape): { role: { tenantId: tenantId } }. */
export function rolesClaim(tenantId: string, roles: string[]) {
  return Object.fromEntries(roles.map((r) => [r, { [tenantId]: tenantId }]));
}

/**
 * Issues an access token for a principal: a JWT (RFC 9068, typ at+jwt) signed with the
 * active key of `alg`, or an opaque token stored as a hash. Used by every grant.
 */
export async function issueAccessToken(deps: OAuthDeps, input: IssueAccessTokenInput, now = new Date()): Promise<IssuedAccessToken> {
  const { subject } = input;
  const iat = Math.floor(now.getTime() / 1000);
  if (input.format === 'opaque') {
    if (input.act) throw new Error('An opaque access token cannot carry an act claim');
    const grantId =
      input.grantId ??
      (await createGrant(deps.prisma, { subject, applicationId: input.applicationId ?? null, scope: input.scope, sessionId: input.sessionId })).id;
    const token = OPAQUE_ACCESS_PREFIX + randomToken(43);
    const row = await deps.prisma.oAuthToken.create({
      data: {
        tenantId: subject.tenantId,
        grantId,
        kind: 'access',
        tokenHash: hashToken(token),
        scope: input.scope,
        expiresAt: new Date(now.getTime() + input.lifetime * 1000),
        dpopJkt: input.jkt ?? null,
      },
      select: { id: true },
    });
    return { accessToken: token, expiresIn: input.lifetime, jti: row.id, grantId };
  }
  const jti = randomUUID();
  const { kid, key } = await deps.keys.signingKey(input.alg ?? 'RS256');
  // The groups scope asks for the names too; a service account is in no group.
  const scopedGroups =
    subject.kind === 'user' && hasScope(input.scope, 'groups') ? await groupClaims(deps.prisma, subject.tenantId, subject.subjectId) : undefined;
  const audience = input.clientId ? [input.clientId, deps.issuer] : [deps.issuer];
  const alg = input.alg ?? 'RS256';
  const accessToken = await signJws({ alg, kid, typ: 'at+jwt' }, key, {
    client_id: input.clientId,
    scope: input.scope,
    tenant_id: subject.tenantId,
    [RESOURCE_OWNER_CLAIM]: subject.tenantId,
    preferred_username: subject.username,
    principal_kind: subject.kind,
    roles: subject.roles,
    groups: subject.groups,
    [ROLES_CLAIM]: rolesClaim(subject.tenantId, subject.roles),
    ...scopedGroups,
    ...(input.grantId ? { gid: input.grantId } : {}),
    ...(input.sessionId ? { sid: input.sessionId } : {}),
    ...(input.jkt ? { cnf: { jkt: input.jkt } } : {}),
    ...(input.act ? { act: input.act } : {}),
    iss: deps.issuer,
    sub: subject.subjectId,
    aud: audience,
    iat,
    nbf: iat,
    exp: iat + input.lifetime,
    jti,
  });
  return { accessToken, expiresIn: input.lifetime, jti, grantId: input.grantId };
}

const signAsync = promisify(signWith);
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

/**
 * A compact JWS of the token endpoint's hot path, signed by node:crypto's callback form: the
 * signature (the costliest step of issuing a token) runs on libuv's thread pool, off the event
 * loop that serves every other request, where WebCrypto's sign (jose) takes the loop's time.
 */
async function signJws(header: { alg: SigningAlg; kid: string; typ: string }, key: CryptoKey, payload: Record<string, unknown>): Promise<string> {
  let keyObject = keyObjects.get(key);
  if (!keyObject) keyObjects.set(key, (keyObject = KeyObject.from(key)));
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  // RFC 7518 §3.4: an ES256 signature is R || S, not DER.
  const signature = await signAsync('sha256', Buffer.from(input), header.alg === 'ES256' ? { key: keyObject, dsaEncoding: 'ieee-p1363' } : keyObject);
  return `${input}.${signature.toString('base64url')}`;
}

export async function createGrant(
  prisma: Prisma,
  g: { subject: TokenSubject; applicationId: string | null; scope: string; sessionId?: string; nonce?: string | null; authTime?: Date; amr?: string[] },
) {
  return prisma.oAuthGrant.create({
    data: {
      tenantId: g.subject.tenantId,
      applicationId: g.applicationId,
      userId: g.subject.kind === 'user' ? g.subject.subjectId : null,
      serviceAccountId: g.subject.kind === 'serviceaccount' ? g.subject.subjectId : null,
      sessionId: g.sessionId ?? null,
      scope: g.scope,
      nonce: g.nonce ?? null,
      authTime: g.authTime ?? null,
      amr: g.amr ?? [],
    },
  });
}

export function atHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export interface IdTokenInput {
  subjectId: string;
  clientId: string;
  claims: Record<string, unknown>;
  nonce?: string | null;
  authTime?: Date | null;
  amr?: string[];
  sid?: string | null;
  accessToken?: string;
  lifetime: number;
  alg: SigningAlg;
}

/** An ID token per OpenID Connect Core 2: nonce, at_hash, auth_time, amr, acr, sid, azp. */
export async function issueIdToken(deps: OAuthDeps, input: IdTokenInput, now = new Date()): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  const { kid, key } = await deps.keys.signingKey(input.alg);
  return new SignJWT({
    ...input.claims,
    azp: input.clientId,
    ...(input.nonce ? { nonce: input.nonce } : {}),
    ...(input.authTime ? { auth_time: Math.floor(input.authTime.getTime() / 1000) } : {}),
    ...(input.amr?.length ? { amr: input.amr, acr: acrOf(input.amr) } : {}),
    ...(input.sid ? { sid: input.sid } : {}),
    ...(input.accessToken ? { at_hash: atHash(input.accessToken) } : {}),
  })
    .setProtectedHeader({ alg: input.alg, kid, typ: 'JWT' })
    .setIssuer(deps.issuer)
    .setSubject(input.subjectId)
    .setAudience(input.clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + input.lifetime)
    .sign(key);
}

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  jti: string;
  exp: number;
  tenant_id: string;
  client_id?: string;
  scope?: string;
  gid?: string;
  sid?: string;
  cnf?: { jkt?: unknown };
  act?: unknown;
}

export type JwtCheck = { ok: true; claims: AccessTokenClaims } | { ok: false; reason: Refusal };

export const looksLikeJwt = (token: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);

/**
 * Verifies a JWT access token of this issuer: signature by a published key whose
 * algorithm matches the header (so alg "none" and HS256-with-the-public-key fail),
 * typ at+jwt (an ID token is not an access token), exp/nbf, then revocation.
 */
export async function verifyAccessTokenJwt(deps: OAuthDeps, token: string, now = new Date()): Promise<JwtCheck> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      token,
      async (header) => {
        const key = await deps.keys.verificationKey(header.kid, header.alg);
        if (!key) throw new joseErrors.JWKSNoMatchingKey();
        return key;
      },
      {
        issuer: deps.issuer,
        // Every access token names this server among its audiences (the API it is for).
        audience: deps.issuer,
        algorithms: ['RS256', 'ES256'],
        typ: 'at+jwt',
        currentDate: now,
        clockTolerance: 5,
        requiredClaims: ['sub', 'jti', 'exp', 'iat'],
      },
    ));
  } catch (err) {
    return { ok: false, reason: err instanceof joseErrors.JWTExpired ? 'expired' : 'unknown' };
  }
  const claims = payload as AccessTokenClaims;
  if (typeof claims.tenant_id !== 'string') return { ok: false, reason: 'unknown' };
  const [revoked, grant] = await Promise.all([
    deps.prisma.revokedJwt.findUnique({ where: { jti: claims.jti }, select: { jti: true } }),
    claims.gid ? deps.prisma.oAuthGrant.findUnique({ where: { id: claims.gid }, select: { revokedAt: true, tenantId: true } }) : undefined,
  ]);
  if (revoked) return { ok: false, reason: 'revoked' };
  // A grant that is gone was revoked with its user, application or tenant.
  if (claims.gid && (!grant || grant.revokedAt || grant.tenantId !== claims.tenant_id)) return { ok: false, reason: 'revoked' };
  return { ok: true, claims };
}

export interface OpaqueCheck {
  ok: true;
  token: { id: string; tenantId: string; grantId: string; scope: string; expiresAt: Date; kind: string; dpopJkt: string | null };
  grant: { id: string; tenantId: string; userId: string | null; serviceAccountId: string | null; applicationId: string | null; sessionId: string | null };
}

/** Looks up an opaque token (access or refresh) by hash and checks it is live. */
export async function verifyOpaqueToken(
  prisma: Prisma,
  token: string,
  kind: 'access' | 'refresh',
  now = new Date(),
): Promise<OpaqueCheck | { ok: false; reason: Refusal }> {
  const row = await prisma.oAuthToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { grant: true } });
  if (!row || row.kind !== kind) return { ok: false, reason: 'unknown' };
  if (row.revokedAt || row.grant.revokedAt) return { ok: false, reason: 'revoked' };
  if (row.expiresAt <= now) return { ok: false, reason: 'expired' };
  return { ok: true, token: row, grant: row.grant };
}

/** Revokes a token family: its refresh and opaque tokens, and (through gid) its JWTs. */
export async function revokeGrant(prisma: Pick<Prisma, 'oAuthGrant'>, grantId: string, reason: string, now = new Date()) {
  await prisma.oAuthGrant.updateMany({ where: { id: grantId, revokedAt: null }, data: { revokedAt: now, revokeReason: reason } });
}
