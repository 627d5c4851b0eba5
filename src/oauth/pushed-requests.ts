import type { Prisma as Db } from '../generated/prisma/client.js';
import type { Prisma } from '../platform/db.js';
import { randomToken } from '../platform/secrets.js';
import { hashToken } from './tokens.js';

/** RFC 9126 §2.2: the request_uri names the pushed request by this URN and a secret. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';
/** Long enough for a browser redirect, short enough that a leaked request_uri is soon worthless. */
export const PUSHED_REQUEST_LIFETIME_SECONDS = 60;

/** Stores the validated parameters of a pushed request; returns its request_uri. */
export async function storePushedRequest(
  prisma: Prisma,
  client: { id: string; tenantId: string },
  params: Record<string, string>,
  now = Date.now(),
): Promise<string> {
  const secret = randomToken(32);
  await prisma.pushedAuthorizationRequest.create({
    data: {
      tenantId: client.tenantId,
      requestHash: hashToken(secret),
      applicationId: client.id,
      params: params as Db.InputJsonValue,
      expiresAt: new Date(now + PUSHED_REQUEST_LIFETIME_SECONDS * 1000),
    },
  });
  return REQUEST_URI_PREFIX + secret;
}

/**
 * Takes a pushed request for the client that pushed it: deleted as it is read, so that it is
 * used once on every instance. Another client's request_uri is left alone (not spent by whoever
 * stole it) and refused like an unknown one. Returns the parameters, or why there are none.
 */
export async function takePushedRequest(
  prisma: Prisma,
  client: { id: string; tenantId: string },
  requestUri: string,
  now = Date.now(),
): Promise<{ ok: true; params: Record<string, string> } | { ok: false; description: string }> {
  if (!requestUri.startsWith(REQUEST_URI_PREFIX) || requestUri.length > 200) return { ok: false, description: 'request_uri is not one this server issued' };
  const rows = await prisma.$queryRaw<{ params: Record<string, string>; expiresAt: Date }[]>`
    DELETE FROM "PushedAuthorizationRequest"
     WHERE "tenantId" = ${client.tenantId}::uuid AND "requestHash" = ${hashToken(requestUri.slice(REQUEST_URI_PREFIX.length))}
       AND "applicationId" = ${client.id}::uuid
    RETURNING params, "expiresAt"`;
  const row = rows[0];
  if (!row) return { ok: false, description: 'request_uri is unknown, already used, or pushed by another client' };
  if (row.expiresAt.getTime() <= now) return { ok: false, description: 'request_uri has expired' };
  return { ok: true, params: row.params };
}
