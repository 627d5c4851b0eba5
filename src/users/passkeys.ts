import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { audit, type AuditActor } from '../audit/audit.js';
import type { Prisma } from '../platform/db.js';
import { isUuid } from '../platform/ids.js';
import { isLastSecondFactor } from './last-factor.js';
import { claimLoginAttempt, clientAddressKey, failedLogin, recordSuccessfulLogin } from './lockout.js';
import type { MfaDeps } from './totp.js';

/*
 * Passkeys (WebAuthn credentials): a second factor after the password, and, where the login
 * policy allows it, a passwordless login on their own (a discoverable credential with user
 * verification is two factors in one: something held and something known or are).
 *
 * Each ceremony's challenge is stored in the database rather than in the instance, so the
 * browser's answer may reach any instance; taking it deletes it, so it works once, and
 * it lasts a few minutes. An assertion's signature counter must grow (when the
 * authenticator keeps one), else the credential may have been cloned and is refused.
 * Failed assertions count toward the login throttle (./lockout.ts) like wrong codes.
 */

/** The relying party of a ceremony: the host name the page is on, and the origin(s) its answer may come from. */
export interface RelyingParty {
  id: string;
  name: string;
  origins: string[];
}

export type ChallengePurpose = 'registration' | 'second-factor' | 'passwordless';

// Loaded at the first ceremony: the library and its ASN.1 parsers are a few hundred modules
// that a process without passkey logins would otherwise load at every start.
const webauthn = () => import('@simplewebauthn/server');

const CHALLENGE_SECONDS = 5 * 60;
const MAX_PASSKEYS = 20;
const MAX_NAME = 64;
// A browser's answer is a few kilobytes; far more is not an answer.
const MAX_RESPONSE = 32_768;

export interface PasskeySummary {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** A synced (backed-up) credential: `swk` rather than `hwk` in amr. */
  backedUp: boolean;
}

export const userHandleOf = (userId: string) => new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));

export async function listPasskeys(prisma: Prisma, tenantId: string, userId: string): Promise<PasskeySummary[]> {
  return prisma.passkey.findMany({
    where: { tenantId, userId },
    orderBy: { createdAt: 'asc' },
    select: { id: true, name: true, createdAt: true, lastUsedAt: true, backedUp: true },
  });
}

export async function hasPasskey(prisma: Prisma, tenantId: string, userId: string): Promise<boolean> {
  return (await prisma.passkey.count({ where: { tenantId, userId } })) > 0;
}

/** A name a user gave a passkey: trimmed, one line, bounded; undefined when unusable. */
export function passkeyName(value: string | undefined): string | undefined {
  const name = (value ?? '').replace(/\s+/g, ' ').trim();
  return name && name.length <= MAX_NAME ? name : undefined;
}

async function storeChallenge(prisma: Prisma, tenantId: string, userId: string | null, purpose: ChallengePurpose, challenge: string): Promise<string> {
  const row = await prisma.webAuthnChallenge.create({
    data: { tenantId, userId, purpose, challenge, expiresAt: new Date(Date.now() + CHALLENGE_SECONDS * 1000) },
  });
  return row.id;
}

/** Takes a challenge once: deleted whatever the answer, and only while it is fresh and for the same user and purpose. */
async function takeChallenge(prisma: Prisma, tenantId: string, handle: string, userId: string | null, purpose: ChallengePurpose): Promise<string | undefined> {
  if (!isUuid(handle)) return undefined;
  const row = await prisma.webAuthnChallenge.findUnique({ where: { tenantId_id: { tenantId, id: handle } } });
  if (!row) return undefined;
  const { count } = await prisma.webAuthnChallenge.deleteMany({ where: { tenantId, id: handle } });
  if (count !== 1 || row.purpose !== purpose || row.userId !== userId || row.expiresAt.getTime() <= Date.now()) return undefined;
  return row.challenge;
}

function parseJson<T>(raw: string): T | undefined {
  if (!raw || raw.length > MAX_RESPONSE) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === 'object' && typeof (v as { id?: unknown }).id === 'string' && typeof (v as { response?: unknown }).response === 'object'
      ? (v as T)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface Ceremony<T> {
  /** The stored challenge's id: the form sends it back with the answer. */
  handle: string;
  options: T;
}

/** Starts adding a passkey for a signed-in user: creation options for navigator.credentials.create. */
export async function beginPasskeyRegistration(
  deps: Pick<MfaDeps, 'prisma'>,
  rp: RelyingParty,
  tenantId: string,
  userId: string,
): Promise<Ceremony<PublicKeyCredentialCreationOptionsJSON>> {
  const user = await deps.prisma.user.findUniqueOrThrow({ where: { tenantId_id: { tenantId, id: userId } } });
  const existing = await deps.prisma.passkey.findMany({ where: { tenantId, userId }, select: { credentialId: true, transports: true } });
  const options = await (
    await webauthn()
  ).generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.email || user.username,
    userDisplayName: [user.firstName, user.lastName].filter(Boolean).join(' ') || user.username,
    userID: userHandleOf(user.id),
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports })),
    // Discoverable when the authenticator can, so that the same passkey also signs in without a name.
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    timeout: CHALLENGE_SECONDS * 1000,
  });
  return { handle: await storeChallenge(deps.prisma, tenantId, userId, 'registration', options.challenge), options };
}

export type RegistrationResult = { ok: true; passkey: PasskeySummary } | { ok: false; reason: 'challenge' | 'invalid' | 'duplicate' | 'limit' | 'name' };

/** Finishes adding a passkey: checks the browser's answer against the stored challenge and keeps the public key. */
export async function finishPasskeyRegistration(
  deps: Pick<MfaDeps, 'prisma' | 'origin'>,
  rp: RelyingParty,
  input: { tenantId: string; userId: string; handle: string; response: string; name: string | undefined },
): Promise<RegistrationResult> {
  const { prisma } = deps;
  const { tenantId, userId } = input;
  const challenge = await takeChallenge(prisma, tenantId, input.handle, userId, 'registration');
  const name = passkeyName(input.name);
  if (!challenge) return { ok: false, reason: 'challenge' };
  if (!name) return { ok: false, reason: 'name' };
  const response = parseJson<RegistrationResponseJSON>(input.response);
  if (!response) return { ok: false, reason: 'invalid' };
  let verified;
  try {
    verified = await (
      await webauthn()
    ).verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origins,
      expectedRPID: rp.id,
      requireUserVerification: false,
    });
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  if (!verified.verified) return { ok: false, reason: 'invalid' };
  const info = verified.registrationInfo;
  return prisma.$transaction(async (tx) => {
    if ((await tx.passkey.count({ where: { tenantId, userId } })) >= MAX_PASSKEYS) return { ok: false, reason: 'limit' } as const;
    if (await tx.passkey.findUnique({ where: { tenantId_credentialId: { tenantId, credentialId: info.credential.id } } }))
      return { ok: false, reason: 'duplicate' } as const;
    const row = await tx.passkey.create({
      data: {
        tenantId,
        userId,
        credentialId: info.credential.id,
        publicKey: new Uint8Array(info.credential.publicKey),
        counter: BigInt(info.credential.counter),
        transports: (info.credential.transports ?? []).slice(0, 8),
        name,
        aaguid: info.aaguid,
        backupEligible: info.credentialDeviceType === 'multiDevice',
        backedUp: info.credentialBackedUp,
      },
    });
    await audit(
      tx,
      { kind: 'user', id: userId },
      { tenantId, action: 'mfa.passkey.registered', targetType: 'user', targetId: userId, details: { passkeyId: row.id, name, aaguid: info.aaguid } },
      deps.origin,
    );
    return { ok: true, passkey: { id: row.id, name: row.name, createdAt: row.createdAt, lastUsedAt: row.lastUsedAt, backedUp: row.backedUp } } as const;
  });
}

/**
 * A passkey added during a login that requires a second factor the user lacks: the
 * attestation is that factor, so the attempt goes through the login throttle like a code
 * (the password step left it counted until the second factor passes).
 */
export async function enrolPasskeyAtLogin(
  deps: MfaDeps,
  rp: RelyingParty,
  input: { tenantId: string; userId: string; handle: string; response: string; name: string | undefined; clientIp?: string },
): Promise<RegistrationResult | { ok: false; reason: 'throttled'; lockedNow?: boolean }> {
  const { prisma } = deps;
  const address = clientAddressKey(input.clientIp);
  const claim = await claimLoginAttempt(prisma, input.tenantId, input.userId, { address, policy: deps.throttle });
  if (!claim.admitted) return { ok: false, reason: 'throttled', lockedNow: claim.lockedNow };
  const result = await finishPasskeyRegistration(deps, rp, input);
  if (!result.ok) {
    const { lockedNow } = await failedLogin(prisma, input.tenantId, input.userId, { address, policy: deps.throttle, claimed: true });
    return lockedNow ? { ok: false, reason: 'throttled', lockedNow } : result;
  }
  await recordSuccessfulLogin(prisma, input.tenantId, input.userId, { address });
  return result;
}

/**
 * Starts a passkey check: for a known user (the second factor) the options name that
 * user's credentials and prefer user verification; for a passwordless login they name
 * none (the authenticator offers its discoverable credentials) and require it.
 */
export async function beginPasskeyAuthentication(
  deps: Pick<MfaDeps, 'prisma'>,
  rp: RelyingParty,
  tenantId: string,
  userId: string | null,
): Promise<Ceremony<PublicKeyCredentialRequestOptionsJSON>> {
  const credentials = userId ? await deps.prisma.passkey.findMany({ where: { tenantId, userId }, select: { credentialId: true, transports: true } }) : [];
  const options = await (
    await webauthn()
  ).generateAuthenticationOptions({
    rpID: rp.id,
    allowCredentials: credentials.map((c) => ({ id: c.credentialId, transports: c.transports })),
    userVerification: userId ? 'preferred' : 'required',
    timeout: CHALLENGE_SECONDS * 1000,
  });
  const purpose: ChallengePurpose = userId ? 'second-factor' : 'passwordless';
  return { handle: await storeChallenge(deps.prisma, tenantId, userId, purpose, options.challenge), options };
}

export type PasskeyCheck = { ok: true; userId: string; method: 'hwk' | 'swk' } | { ok: false; lockedNow?: boolean };

/**
 * Checks a browser's passkey answer. With `userId` (the second factor) the credential must
 * be that user's; without it (passwordless) the credential names the user, and user
 * verification is required. `purpose` is recorded in the audit log.
 */
export async function finishPasskeyAuthentication(
  deps: MfaDeps,
  rp: RelyingParty,
  input: { tenantId: string; userId: string | null; handle: string; response: string; clientIp?: string; purpose: string },
): Promise<PasskeyCheck> {
  const { prisma } = deps;
  const { tenantId } = input;
  const passwordless = input.userId === null;
  const challenge = await takeChallenge(prisma, tenantId, input.handle, input.userId, passwordless ? 'passwordless' : 'second-factor');
  const response = parseJson<AuthenticationResponseJSON>(input.response);
  const credential = response?.id
    ? await prisma.passkey.findUnique({ where: { tenantId_credentialId: { tenantId, credentialId: response.id } }, include: { user: true } })
    : null;
  const owner = credential && (passwordless || credential.userId === input.userId) ? credential.user : null;
  const auditUserId = owner?.id ?? input.userId;
  const actor: AuditActor = { kind: 'user', id: auditUserId, name: owner?.username ?? null };
  const target = { tenantId, targetType: 'user', targetId: auditUserId };
  const fail = (reason: string, passkeyId?: string) =>
    audit(
      prisma,
      actor,
      { ...target, action: 'mfa.passkey.used', outcome: 'failure', details: { purpose: input.purpose, reason, ...(passkeyId ? { passkeyId } : {}) } },
      deps.origin,
    );
  if (!challenge || !response || !credential || !owner) {
    await fail(!challenge ? 'challenge' : !response ? 'malformed' : 'unknown_credential');
    return { ok: false };
  }
  // The answer's user handle, when it carries one, must name the credential's owner.
  if (response.response.userHandle !== undefined && response.response.userHandle !== Buffer.from(userHandleOf(owner.id)).toString('base64url')) {
    await fail('user_handle', credential.id);
    return { ok: false };
  }
  const address = clientAddressKey(input.clientIp);
  const claim = await claimLoginAttempt(prisma, tenantId, owner.id, { address, policy: deps.throttle });
  if (!claim.admitted) {
    await fail('throttled', credential.id);
    return { ok: false, lockedNow: claim.lockedNow };
  }
  let info;
  try {
    const verified = await (
      await webauthn()
    ).verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origins,
      expectedRPID: rp.id,
      credential: {
        id: credential.credentialId,
        publicKey: new Uint8Array(credential.publicKey),
        counter: Number(credential.counter),
        transports: credential.transports,
      },
      requireUserVerification: passwordless,
    });
    info = verified.verified ? verified.authenticationInfo : undefined;
  } catch {
    info = undefined;
  }
  // The counter moves only forward, also against a concurrent use of the same answer.
  const advanced =
    info &&
    (
      await prisma.passkey.updateMany({
        where: { id: credential.id, counter: credential.counter },
        data: { counter: BigInt(info.newCounter), backedUp: info.credentialBackedUp, lastUsedAt: new Date() },
      })
    ).count === 1;
  if (!info || !advanced) {
    const { lockedNow } = await failedLogin(prisma, tenantId, owner.id, { address, policy: deps.throttle, claimed: true });
    await fail(info ? 'counter' : 'bad_signature', credential.id);
    if (lockedNow) await audit(prisma, actor, { ...target, action: 'user.locked', details: { reason: 'failed_second_factor' } }, deps.origin);
    return { ok: false, lockedNow };
  }
  await recordSuccessfulLogin(prisma, tenantId, owner.id, { address });
  const method = info.credentialBackedUp ? 'swk' : 'hwk';
  await audit(
    prisma,
    actor,
    { ...target, action: 'mfa.passkey.used', details: { purpose: input.purpose, passkeyId: credential.id, method, userVerified: info.userVerified } },
    deps.origin,
  );
  return { ok: true, userId: owner.id, method };
}

export async function renamePasskey(deps: Pick<MfaDeps, 'prisma' | 'origin'>, tenantId: string, userId: string, id: string, value: string): Promise<boolean> {
  const name = passkeyName(value);
  if (!name || !isUuid(id)) return false;
  return deps.prisma.$transaction(async (tx) => {
    const { count } = await tx.passkey.updateMany({ where: { tenantId, userId, id }, data: { name } });
    if (count === 1) {
      await audit(
        tx,
        { kind: 'user', id: userId },
        { tenantId, action: 'mfa.passkey.renamed', targetType: 'user', targetId: userId, details: { passkeyId: id } },
        deps.origin,
      );
    }
    return count === 1;
  });
}

export type RemovalResult = 'removed' | 'not-found' | 'last-factor';

/** The signed-in user removes one of their passkeys, unless the last-factor rule (./last-factor.ts) keeps it. */
export async function removePasskey(deps: Pick<MfaDeps, 'prisma' | 'origin'>, tenantId: string, userId: string, id: string): Promise<RemovalResult> {
  if (!isUuid(id)) return 'not-found';
  return deps.prisma.$transaction(async (tx) => {
    const row = await tx.passkey.findUnique({ where: { tenantId_id: { tenantId, id } } });
    if (!row || row.userId !== userId) return 'not-found';
    if (await isLastSecondFactor(tx, tenantId, userId, { passkeyId: id })) return 'last-factor';
    await tx.passkey.delete({ where: { id } });
    await audit(
      tx,
      { kind: 'user', id: userId },
      { tenantId, action: 'mfa.passkey.removed', targetType: 'user', targetId: userId, details: { passkeyId: id, name: row.name } },
      deps.origin,
    );
    return 'removed';
  });
}
