import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { runWithOrigin } from '../../audit/origin.js';

/**
 * Every handler runs inside its request's audit origin (request id, client address as
 * request.ip sees it), so the audit events a service writes while handling it say where the
 * request came from. A callback hook: the handler is called from within `done`.
 */
export default fp(async function auditOrigin(app: FastifyInstance) {
  app.addHook('preHandler', (request, _reply, done) => runWithOrigin({ requestId: request.id, clientAddress: request.ip }, done));
});
