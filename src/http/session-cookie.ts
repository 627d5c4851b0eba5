import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Prisma } from '../platform/db.js';
import { loadSubject } from '../principals/load.js';
import { sessionOf, startSession, type SessionRow, type SessionSettings } from '../sessions/browser-session.js';
import { messagePage } from '../ui/pages.js';
import { brandPages } from '../ui/page-brand.js';

/** The browser session cookie: it carries the session's secret (src/sessions/browser-session.ts). */
export const SESSION_COOKIE = 'iam_session';

export function cookieOptions(s: SessionSettings) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: s.PUBLIC_URL.startsWith('https:'),
    ...(s.SESSION_COOKIE_DOMAIN ? { domain: s.SESSION_COOKIE_DOMAIN } : {}),
  };
}

/** The session secret the request's cookie carries, if any. */
export const sessionSecretOf = (request: FastifyRequest): string | undefined => request.cookies?.[SESSION_COOKIE];

export function setSessionCookie(reply: Pick<FastifyReply, 'setCookie'>, s: SessionSettings, secret: string) {
  reply.setCookie(SESSION_COOKIE, secret, { ...cookieOptions(s), maxAge: s.SESSION_ABSOLUTE_SECONDS });
}

export function clearSessionCookie(reply: FastifyReply, s: SessionSettings) {
  reply.clearCookie(SESSION_COOKIE, cookieOptions(s));
}

/** Creates a session and sets its cookie on the answer. */
export async function createSession(
  prisma: Prisma,
  reply: Pick<FastifyReply, 'setCookie'>,
  s: SessionSettings,
  input: { tenantId: string; userId: string; amr: string[] },
  now = new Date(),
): Promise<SessionRow> {
  const { session, secret } = await startSession(prisma, s, input, now);
  setSessionCookie(reply, s, secret);
  return session;
}

/**
 * The user of the browser's session, for the account pages; when there is none (or it no
 * longer signs in), the page asking to sign in has been sent and the answer is undefined.
 */
export async function accountUserOf(request: FastifyRequest, reply: FastifyReply) {
  const { prisma } = request.server.db;
  const s = await sessionOf(prisma, sessionSecretOf(request), request.server.config);
  if (s?.ok) {
    const subject = await loadSubject(prisma, s.session.tenantId, s.session.userId, 'session', s.session.id);
    await brandPages(request, s.session.tenantId);
    if (subject.ok) return { tenantId: s.session.tenantId, userId: s.session.userId, username: subject.principal.username };
  }
  await messagePage(reply, 'Sign in first', 'Sign in to an application of your organisation, then open this page again.', 401);
  return undefined;
}
