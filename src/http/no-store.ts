import type { FastifyReply } from 'fastify';

/**
 * Marks an answer that carries tokens, codes or claims as never to be stored (RFC 6749
 * 5.1, RFC 7662 and OIDC Core 5.3): Cache-Control for HTTP/1.1 caches, Pragma for
 * HTTP/1.0 ones.
 */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}
