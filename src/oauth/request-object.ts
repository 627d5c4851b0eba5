import { decodeProtectedHeader, errors } from 'jose';
import type { Application } from '../generated/prisma/client.js';
import type { Prisma } from '../platform/db.js';
import { CLIENT_KEY_ALGS, JwksUnavailable, type ClientKeys } from './client-keys.js';

/** Request objects are signed with the client's keys (RFC 9101 §4); "none" and MACs are refused. */
export const REQUEST_OBJECT_ALGS = CLIENT_KEY_ALGS;
const MAX_REQUEST_OBJECT_LENGTH = 16384;
const CLOCK_SKEW_SECONDS = 60;
// Claims of the JWT itself, not parameters of the authorization request.
const JWT_CLAIMS = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'sub']);

export type RequestObjectResult =
  /** spend() records the object's jti once the request is accepted: false when it was already used. */
  { ok: true; params: Record<string, string>; spend: () => Promise<boolean> } | { ok: false; description: string };

/**
 * The parameters of a signed request object (RFC 9101): signed by one of the client's keys,
 * issued by the client for this server, current, naming the same client as the request that
 * carries it. Its jti, when it has one, is used once. The request's parameters are then those
 * of the object alone (§6.3), with the client_id.
 */
export async function openRequestObject(
  deps: { prisma: Prisma; issuer: string; clientKeys: ClientKeys },
  app: Pick<Application, 'id' | 'tenantId' | 'clientId' | 'jwks' | 'jwksUri'>,
  jwt: string,
  now = Date.now(),
): Promise<RequestObjectResult> {
  const refuse = (description: string): RequestObjectResult => ({ ok: false, description });
  if (jwt.length > MAX_REQUEST_OBJECT_LENGTH) return refuse('The request object is too large');
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(jwt).alg;
  } catch {
    return refuse('The request object is not a JWT');
  }
  if (alg === 'none') return refuse('Unsigned request objects (alg none) are not accepted');
  if (typeof alg !== 'string' || !(REQUEST_OBJECT_ALGS as readonly string[]).includes(alg)) {
    return refuse(`The request object must be signed with one of ${REQUEST_OBJECT_ALGS.join(', ')}`);
  }
  if (!app.jwks && !app.jwksUri) return refuse('The client has registered no keys (jwks or jwksUri) to sign request objects with');
  let payload: Record<string, unknown>;
  try {
    const verified = await deps.clientKeys.verify(app, jwt, {
      algorithms: [...REQUEST_OBJECT_ALGS],
      issuer: app.clientId,
      audience: deps.issuer,
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp'],
      currentDate: new Date(now),
    });
    payload = verified.payload as Record<string, unknown>;
  } catch (err) {
    if (err instanceof JwksUnavailable) return refuse(`The client's keys cannot be fetched: ${err.message}`);
    if (err instanceof errors.JWTExpired) return refuse('The request object has expired');
    if (err instanceof errors.JWTClaimValidationFailed)
      return refuse(`The request object is not valid: ${err.claim} ${err.reason === 'check_failed' ? 'does not match' : err.reason}`);
    return refuse('The request object is not signed by a key of the client');
  }
  if (payload.client_id !== app.clientId) return refuse('The client_id of the request object does not match the request');
  if (payload.request !== undefined || payload.request_uri !== undefined) return refuse('A request object cannot carry request or request_uri');
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload)) {
    if (JWT_CLAIMS.has(k)) continue;
    if (typeof v === 'string') params[k] = v;
    else if (typeof v === 'number' && Number.isInteger(v)) params[k] = String(v);
    else return refuse(`${k.slice(0, 50)} in the request object must be a string`);
  }
  const { jti, exp } = payload as { jti?: unknown; exp: number };
  if (jti !== undefined && (typeof jti !== 'string' || !jti || jti.length > 200)) return refuse('The jti of the request object must be 1 to 200 characters');
  // Recorded only once the whole request is found valid, so that a refused one changes nothing;
  // the same one-time store as client assertions, in a namespace of its own.
  const spend = async () => {
    if (jti === undefined) return true;
    const inserted = await deps.prisma.$executeRaw`
      INSERT INTO "UsedClientAssertion" ("tenantId", "applicationId", jti, "expiresAt")
      VALUES (${app.tenantId}::uuid, ${app.id}::uuid, ${`request:${jti as string}`}, ${new Date((exp + CLOCK_SKEW_SECONDS) * 1000)})
      ON CONFLICT DO NOTHING`;
    return inserted > 0;
  };
  return { ok: true, params, spend };
}
