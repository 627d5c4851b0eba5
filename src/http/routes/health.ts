import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { migrationsApplied, listMigrations } from '../../platform/migrate.js';
import { access, errors, WHO } from '../jsonapi.js';
import { sendError } from '../errors.js';

// The PCA API answers the JSON string "OK"; Fastify sends strings verbatim, so encode it once.
const OK_JSON = JSON.stringify('OK');

export default async function healthRoutes(app: FastifyInstance) {
  const expected = listMigrations().length;

  app.get(
    '/api/v3/health/liveness',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['HealthService'],
        operationId: 'LivenessCheck',
        summary: 'Check that the process is alive',
        description: access([WHO.public]),
        security: [],
        response: { 200: z.literal('OK').describe('The process answers') },
      },
    },
    async (_request, reply) => reply.type('application/json').send(OK_JSON),
  );

  app.get(
    '/api/v3/health/readiness',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['HealthService'],
        operationId: 'ReadinessCheck',
        summary: 'Check that the server is ready',
        description: access([WHO.public], '"OK" only when the database answers and every migration is applied.'),
        security: [],
        response: { 200: z.literal('OK').describe('Ready to serve'), ...errors(503) },
      },
    },
    async (request, reply) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 2000)));
      const ready = await Promise.race([migrationsApplied(app.db.pool, expected).catch(() => false), timeout]);
      clearTimeout(timer);
      if (!ready) {
        reply.header('retry-after', '2');
        return sendError(reply, 503, [{ status: '503', code: 'not_ready', title: 'Not ready', detail: 'The database is unavailable or not migrated' }]);
      }
      return reply.type('application/json').send(OK_JSON);
    },
  );
}
