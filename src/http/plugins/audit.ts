import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { audit } from '../../audit/audit.js';
import { requestEnded, requestStarted } from '../../audit/origin.js';
import { purgeAuditEvents } from '../../audit/retention.js';

const PURGE_EVERY_MS = 3600_000;

/**
 * The audit log's HTTP side: each request's client address (as request.ip sees it) is
 * registered under its id while it runs, so that the events services write for it say
 * where it came from (../../audit/origin.ts); a listening server records its start with the
 * settings that matter to an auditor; old events are purged hourly (AUDIT_RETENTION_DAYS).
 */
export default fp(async function auditPlugin(app: FastifyInstance) {
  app.addHook('onRequest', (request, _reply, done) => {
    requestStarted(request.id, request.ip);
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    requestEnded(request.id);
    done();
  });

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
