import { createHmac } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomToken, constantTimeEqual } from '../platform/secrets.js';

// Synchronizer token bound to a per-browser cookie: the form carries HMAC(key, cookie).
// A cross-site page can neither read the cookie nor compute the HMAC.
export const CSRF_COOKIE = 'iam_csrf';

function tokenFor(key: Buffer, secret: string) {
  return createHmac('sha256', key)
    .update('csrf:' + secret)
    .digest('base64url');
}

/** The CSRF token to embed in a form (sets the browser's CSRF cookie when it has none). */
export function csrfToken(request: FastifyRequest, reply: FastifyReply): string {
  const key = request.server.masterKey;
  let secret = request.cookies?.[CSRF_COOKIE];
  if (!secret || !/^[0-9A-Za-z]{32}$/.test(secret)) {
    secret = randomToken(32);
    reply.setCookie(CSRF_COOKIE, secret, {
      path: '/ui',
      httpOnly: true,
      sameSite: 'lax',
      secure: request.server.config.PUBLIC_URL.startsWith('https:'),
    });
    // The same request may render a form and must see the cookie it just set.
    (request.cookies as Record<string, string>)[CSRF_COOKIE] = secret;
  }
  return tokenFor(key, secret);
}

/** Whether a submitted form's token matches the browser's CSRF cookie. */
export function csrfValid(request: FastifyRequest, submitted: unknown): boolean {
  const secret = request.cookies?.[CSRF_COOKIE];
  if (!secret || typeof submitted !== 'string') return false;
  return constantTimeEqual(tokenFor(request.server.masterKey, secret), submitted);
}
