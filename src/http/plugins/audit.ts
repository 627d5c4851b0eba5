import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { audit } from '../../audit/audit.js';
import { runWithOrigin } from '../../audit/origin.js';
import { purgeAuditEvents } from '../../audit/retention.js';

const PURGE_EVERY_MS = 3600_000;

/**
 * The audit log's HTTP side: each handler runs inside its request's origin (request id,
 * client address as request.ip sees it), so that the events services write while handling
 * it say where the request came from; a listening server records its start with the
 * settings that matter to an auditor; old events are purged hourly (AUDIT_RETENTION_DAYS).
 */
export default fp(async function auditPlugin(app: FastifyInstance) {
  // A callback hook: the handler is called from within `done`, hence inside the origin.
  app.addHook('preHandler', (request, _reply, done) => runWithOrigin({ requestId: request.id, clientAddress: request.ip }, done));

  app.addHook('onListen', async () => {
    const { config } = app;
    await audit(app.db.prisma, 'system', {
      tenantId: null,
      action: 'server.started',
      targetType: 'server',
      details: {
        publicUrl: config.PUBLIC_URL,
        database: app.db.kind,
        trustedProxies: config.TRUSTED_PROXIES,
        corsOrigins: config.CORS_ORIGINS,
        metrics: !config.METRICS_ENABLED ? 'off' : config.METRICS_TOKEN ? 'token' : config.METRICS_LISTEN ? 'separate listener' : 'loopback',
        auditRetentionDays: config.AUDIT_RETENTION_DAYS,
        nodeVersion: process.version,
      },
    });
  });

  const purge = () =>
    purgeAuditEvents(app.db.prisma, app.config.AUDIT_RETENTION_DAYS).then(
      (n) => n && app.log.info({ deleted: n }, 'purged audit events past their retention'),
      (err: unknown) => app.log.warn({ err: { message: (err as Error).message } }, 'purging old audit events failed'),
    );
  const timer = setInterval(purge, PURGE_EVERY_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
});
