import type { Application } from '../generated/prisma/client.js';
import { audit } from '../audit/audit.js';
import type { AuthRequest } from './authorize.js';
import type { AuditOrigin } from '../audit/origin.js';
import type { Prisma } from '../platform/db.js';
import { randomToken } from '../platform/secrets.js';
import { OAuthError, invalidRequest, unauthorizedClient } from './errors.js';
import { GRANT_DEVICE_CODE } from './schemas.js';
import { grantableScopes } from './scopes.js';
import { hashToken } from './tokens.js';
import { formatUserCode, generateUserCode, verificationUri, verificationUriComplete } from './user-code.js';

/*
 * OAuth 2.0 Device Authorization Grant (RFC 8628). The device asks for a device code and a
 * user code; the user enters the user code at /ui/device in a browser, signs in and approves;
 * the device polls the token endpoint with the device code (./grants/device-code.ts). All
 * state is in the database, so every instance answers every step.
 */

/** RFC 8628 §3.5: each slow_down adds this to the interval the device must keep. */
export const SLOW_DOWN_SECONDS = 5;

export interface DeviceSettings {
  /** How long the device code and user code live (DEVICE_CODE_LIFETIME_SECONDS). */
  lifetimeSeconds: number;
  /** The least time between polls (DEVICE_CODE_INTERVAL_SECONDS). */
  intervalSeconds: number;
}

// How long the hosted login may take for a device authorization; the request's own expiry still applies.
const LOGIN_SECONDS = 15 * 60;

/**
 * The sealed request the hosted login carries for a device authorization: the application's
 * tenant (its login policy, branding, second factors), and the user code to return to.
 */
export function deviceLoginRequest(issuer: string, d: PendingDevice, now = Date.now()): AuthRequest {
  return {
    clientId: d.clientId,
    applicationId: d.applicationId,
    tenantId: d.tenantId,
    redirectUri: verificationUri(issuer),
    scope: d.scope,
    device: d.userCode,
    exp: Math.floor(now / 1000) + LOGIN_SECONDS,
  };
}

export interface DeviceAuthorizationResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/** RFC 8628 §3.1–3.2: a new device authorization request of an authenticated client. */
export async function startDeviceAuthorization(
  deps: { prisma: Prisma; issuer: string },
  client: Application,
  params: Record<string, string>,
  settings: DeviceSettings,
  now = new Date(),
): Promise<DeviceAuthorizationResponse> {
  if (!client.grantTypes.includes(GRANT_DEVICE_CODE)) throw unauthorizedClient(`The client may not use ${GRANT_DEVICE_CODE}`);
  if ((params.scope?.length ?? 0) > 2048) throw invalidRequest('scope is too long');
  const scope = grantableScopes(params.scope).join(' ');
  const expiresAt = new Date(now.getTime() + settings.lifetimeSeconds * 1000);
  for (let attempt = 0; attempt < 5; attempt++) {
    const deviceCode = randomToken(43);
    const userCode = generateUserCode();
    // A code still held by an expired request the purge has not reached is free again.
    await deps.prisma.deviceAuthorization.deleteMany({ where: { userCode, expiresAt: { lte: now } } });
    const created = await deps.prisma.deviceAuthorization.createMany({
      data: [
        {
          tenantId: client.tenantId,
          applicationId: client.id,
          deviceCodeHash: hashToken(deviceCode),
          userCode,
          scope,
          pollInterval: settings.intervalSeconds,
          expiresAt,
        },
      ],
      skipDuplicates: true,
    });
    if (created.count === 1) {
      return {
        device_code: deviceCode,
        user_code: formatUserCode(userCode),
        verification_uri: verificationUri(deps.issuer),
        verification_uri_complete: verificationUriComplete(deps.issuer, userCode),
        expires_in: settings.lifetimeSeconds,
        interval: settings.intervalSeconds,
      };
    }
  }
  // 20^8 codes: five collisions in a row mean the table is full of live codes.
  throw new OAuthError('temporarily_unavailable', 'No user code is free; try again later', 503);
}

export interface PendingDevice {
  id: string;
  tenantId: string;
  userCode: string;
  scope: string;
  applicationId: string;
  applicationName: string;
  clientId: string;
}

export type DeviceLookup = { ok: true; device: PendingDevice } | { ok: false; reason: 'unknown' | 'expired' | 'decided' };

/** The request a user code names, if the user may still decide it. */
export async function findPendingDevice(prisma: Prisma, userCode: string, now = new Date()): Promise<DeviceLookup> {
  const row = await prisma.deviceAuthorization.findUnique({
    where: { userCode },
    include: { application: { select: { name: true, clientId: true, tenant: { select: { state: true } } } } },
  });
  if (!row || row.application.tenant.state !== 'active') return { ok: false, reason: 'unknown' };
  if (row.expiresAt <= now) return { ok: false, reason: 'expired' };
  if (row.status !== 'pending') return { ok: false, reason: 'decided' };
  return {
    ok: true,
    device: {
      id: row.id,
      tenantId: row.tenantId,
      userCode: row.userCode,
      scope: row.scope,
      applicationId: row.applicationId,
      applicationName: row.application.name,
      clientId: row.application.clientId,
    },
  };
}

export interface DeviceDecision {
  device: PendingDevice;
  approve: boolean;
  user: { id: string; username: string; authTime: Date; amr: string[] };
}

/**
 * The signed-in user approves or denies a pending request, once: of two decisions (two tabs,
 * two instances) the first wins. Returns false when it was no longer pending or had expired.
 */
export async function decideDevice(prisma: Prisma, d: DeviceDecision, origin?: AuditOrigin, now = new Date()): Promise<boolean> {
  const done = await prisma.deviceAuthorization.updateMany({
    where: { id: d.device.id, tenantId: d.device.tenantId, status: 'pending', expiresAt: { gt: now } },
    data: { status: d.approve ? 'approved' : 'denied', userId: d.user.id, authTime: d.user.authTime, amr: d.user.amr },
  });
  if (done.count === 0) return false;
  await audit(
    prisma,
    { kind: 'user', id: d.user.id, name: d.user.username },
    {
      tenantId: d.device.tenantId,
      action: d.approve ? 'device_authorization.approved' : 'device_authorization.denied',
      targetType: 'application',
      targetId: d.device.applicationId,
      details: { clientId: d.device.clientId, scope: d.device.scope, deviceAuthorizationId: d.device.id },
    },
    origin,
  );
  return true;
}
