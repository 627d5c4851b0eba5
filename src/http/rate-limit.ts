import rateLimit, { type FastifyRateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared rate-limit store's connection (REDIS_URL), if there is one. */
    rateLimitStore?: Redis;
  }
}

/**
 * Connects the shared store when REDIS_URL is set. ioredis is loaded only then: most
 * deployments never need it. Short timeouts and no retry queue, because a request must not
 * wait on a limit's counter; while Redis is unreachable the limits are skipped (skipOnError
 * below) and the per-account login throttle, kept in the database, still holds.
 */
export async function connectRateLimitStore(app: FastifyInstance): Promise<void> {
  const url = app.config.REDIS_URL;
  if (!url) return;
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { connectTimeout: 1000, commandTimeout: 500, maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    app.log.warn({ err: err.message }, 'rate-limit store unreachable; rate limits are not applied until it answers');
  });
  redis.on('ready', () => {
    if (down) app.log.info('rate-limit store answers again');
    down = false;
  });
  // Not awaited for long: a server whose Redis is down still starts (ioredis keeps reconnecting).
  await redis.connect().catch(() => {});
  app.decorate('rateLimitStore', redis);
  app.addHook('onClose', async () => {
    redis.disconnect();
  });
}

/** Registers the route-level limits of one routes module, counting in the shared store if any. */
export async function registerRateLimits(app: FastifyInstance): Promise<void> {
  const options: FastifyRateLimitOptions = { global: false };
  if (app.rateLimitStore) Object.assign(options, { redis: app.rateLimitStore, nameSpace: 'iam-rate-limit:', skipOnError: true });
  await app.register(rateLimit, options);
}
