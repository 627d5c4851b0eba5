import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PkiService } from '../../pki/service.js';

declare module 'fastify' {
  interface FastifyInstance {
    pki: PkiService;
  }
}

/** The forwarded client certificate, only when a trusted proxy sent it: a certificate is public, anyone could paste one. */
export function forwardedCert(request: FastifyRequest): string | undefined {
  const value = request.headers[request.server.config.PKI_CLIENT_CERT_HEADER.toLowerCase()];
  const cert = Array.isArray(value) ? value[0] : value;
  if (!cert || !request.server.isTrustedProxy(request)) return undefined;
  return cert;
}

export default fp(
  async function pki(app: FastifyInstance) {
    const service = new PkiService(app.db, app.masterKey, app.config, app.log, app.invalidation);
    app.decorate('pki', service);
    app.addHook('onClose', async () => service.close());
    // An imported CA is checked at start, so a wrong file fails loudly instead of on first use.
    if (app.config.PKI_CA_CERT_FILE) app.addHook('onReady', async () => void (await service.ready()));
    // Client certificates as API credentials: see ../credentials.ts.
  },
  { name: 'pki', dependencies: [] },
);
