import type { Prisma } from '../platform/db.js';
import { randomToken, sha256Hex } from '../platform/secrets.js';
import type { Refusal } from '../principals/principal.js';

// lastSeenAt is written at most this often, so that a busy session is not a write per request.
const TOUCH_MS = 60_000;

export interface SessionSettings {
  PUBLIC_URL: string;
  SESSION_IDLE_SECONDS: number;
  SESSION_ABSOLUTE_SECONDS: number;
  SESSION_COOKIE_DOMAIN?: string;
}

export interface SessionRow {
  id: string;
  tenantId: string;
  userId: string;
  amr: string[];
  authTime: Date;
  expiresAt: Date;
  secondFactorAt: Date | null;
}

/** A session just created, with the secret its holder presents (the database keeps only its hash). */
export interface NewSession {
  session: SessionRow;
  secret: string;
}

/** Creates a server-side session; the caller hands the secret to the browser (the cookie). */
export async function startSession(
  prisma: Prisma,
  s: SessionSettings,
  input: { tenantId: string; userId: string; amr: string[]; userAgent?: string; clientAddress?: string },
  now = new Date(),
): Promise<NewSession> {
  const secret = randomToken(43);
  const row = await prisma.browserSession.create({
    data: {
      tenantId: input.tenantId,
      userId: input.userId,
      tokenHash: sha256Hex(secret),
      amr: input.amr,
      authTime: now,
      secondFactorAt: input.amr.includes('mfa') ? now : null,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + s.SESSION_ABSOLUTE_SECONDS * 1000),
      // Shown in session lists only; bounded so that a client cannot store much.
      userAgent: input.userAgent?.slice(0, 256) || null,
      clientAddress: input.clientAddress?.slice(0, 64) || null,
    },
  });
  return { session: row, secret };
}

export type SessionCheck = { ok: true; session: SessionRow } | { ok: false; reason: Refusal };

/** The live session named by a session secret (the cookie's value); undefined when there is none. */
export async function sessionOf(prisma: Prisma, secret: string | undefined, s: SessionSettings, now = new Date()): Promise<SessionCheck | undefined> {
  if (!secret) return undefined;
  if (!/^[0-9A-Za-z]{43}$/.test(secret)) return { ok: false, reason: 'unknown' };
  const row = await prisma.browserSession.findUnique({ where: { tokenHash: sha256Hex(secret) } });
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.endedAt) return { ok: false, reason: 'revoked' };
  if (row.expiresAt <= now || row.lastSeenAt.getTime() + s.SESSION_IDLE_SECONDS * 1000 <= now.getTime()) return { ok: false, reason: 'expired' };
  if (now.getTime() - row.lastSeenAt.getTime() > TOUCH_MS) {
    await prisma.browserSession.update({ where: { id: row.id }, data: { lastSeenAt: now } });
  }
  return { ok: true, session: row };
}

export async function endSession(prisma: Prisma, sessionId: string, now = new Date()) {
  await prisma.browserSession.updateMany({ where: { id: sessionId, endedAt: null }, data: { endedAt: now } });
}
