import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { loggerOptions } from '../../src/platform/logger.js';

/**
 * Opt-in capture of everything a test app logs, at trace level with the production
 * redaction, into the file named by TEST_LOG_FILE (set by test/global-setup.ts for a
 * whole run, scanned for secrets at its end). Without it test apps stay silent.
 */
export function testLogger(): false | object {
  const file = process.env.TEST_LOG_FILE;
  if (!file) return false;
  return { ...loggerOptions('trace'), stream: pino.destination({ dest: file, append: true, sync: true }) };
}

/** Error bodies are scanned too: a secret echoed back in an error is as leaked as a logged one. */
export function captureErrorBodies(app: FastifyInstance) {
  if (!process.env.TEST_LOG_FILE) return;
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400 && (typeof payload === 'string' || Buffer.isBuffer(payload))) {
      request.log.info({ errorBody: String(payload).slice(0, 4000), status: reply.statusCode }, 'error body');
    }
    return payload;
  });
}
