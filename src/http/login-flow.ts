import type { FastifyReply, FastifyRequest } from 'fastify';
import { completeLogin, type CompleteLoginInput, type LoginOutcome } from '../oauth/login.js';
import { messagePage, termsPage } from '../ui/pages.js';
import { noStore } from './no-store.js';
import { setSessionCookie } from './session-cookie.js';

/**
 * A login method that replaces the password step for some users (SAML federation: the
 * user's or the tenant's default IdP). Returns the URL to send the browser to, or
 * undefined to let the next hook (and finally the password page) decide.
 */
export type LoginRedirectHook = (args: {
  request: FastifyRequest;
  tenantId: string;
  email: string;
  /** The sealed authorization request to resume afterwards (pass it back to completeLogin). */
  authRequest?: string;
}) => Promise<string | undefined>;

/**
 * Where a plain sign-in (no authorization request) may go back to: a page of the hosted
 * UI that sent the browser to the login, never an arbitrary URL (an open redirect).
 */
export function returnPath(value: unknown): string | undefined {
  return typeof value === 'string' && /^\/ui\/account(\/[a-z-]*)?$/.test(value) ? value : undefined;
}

/** Answers what the end of a login decided: the terms page, the session cookie and the way back to the client (or to `next`). */
export function sendLoginOutcome(request: FastifyRequest, reply: FastifyReply, outcome: LoginOutcome, next?: string) {
  const { config } = request.server;
  switch (outcome.kind) {
    case 'refused':
      return messagePage(reply, 'Sign-in failed', 'This account cannot sign in.', 403);
    case 'terms':
      return termsPage(request, reply, {
        tenantName: outcome.tenantName,
        pending: outcome.pending,
        formTargets: outcome.formTargets,
        termsText: outcome.termsText,
      });
    case 'signed-in':
      setSessionCookie(reply, config, outcome.session.secret);
      if (next) return noStore(reply.code(303)).redirect(next, 303);
      return messagePage(reply, 'Signed in', `You are signed in to ${outcome.tenantName}. You can close this page.`);
    case 'redirect':
      setSessionCookie(reply, config, outcome.session.secret);
      return noStore(reply.code(303)).redirect(outcome.url, 303);
  }
}

/** The end of every successful login (password, terms, SAML), answered. */
export async function finishLogin(request: FastifyRequest, reply: FastifyReply, input: CompleteLoginInput, next?: string) {
  const app = request.server;
  const origin = { requestId: request.id, clientAddress: request.ip };
  const userAgent = request.headers['user-agent'];
  const outcome = await completeLogin(
    { prisma: app.db.prisma, masterKey: app.masterKey, issuer: app.oauth.issuer, config: app.config, origin, userAgent },
    input,
  );
  return sendLoginOutcome(request, reply, outcome, next);
}
