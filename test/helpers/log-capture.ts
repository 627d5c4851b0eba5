import { realpathSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { loggerOptions } from '../../src/platform/logger.js';
import { LEAK_MESSAGE, scanForInternals } from './secret-scan.js';

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

/**
 * Error bodies are scanned too: a secret echoed back in an error is as leaked as a logged
 * one. And every response body, of any status, is checked for server internals (source
 * paths, stack frames, ORM text, DATA_DIR): one found is logged under LEAK_MESSAGE and
 * fails the run at its end (test/global-setup.ts).
 */
export function captureErrorBodies(app: FastifyInstance, dataDir?: string) {
  if (!process.env.TEST_LOG_FILE) return;
  const roots = [process.cwd() + path.sep, ...(dataDir ? [path.resolve(dataDir), safeRealpath(dataDir)] : [])];
  app.addHook('onSend', async (request, reply, payload) => {
    if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
      const text = String(payload);
      if (reply.statusCode >= 400) request.log.info({ errorBody: text.slice(0, 4000), status: reply.statusCode }, 'error body');
      const type = String(reply.getHeader('content-type') ?? '');
      if (!/javascript|css/.test(type)) {
        const leak = scanForInternals(text, roots);
        if (leak) request.log.error({ leak, method: request.method, url: request.url, status: reply.statusCode }, LEAK_MESSAGE);
      }
    }
    return payload;
  });
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}
