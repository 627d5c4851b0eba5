import { answerValidation } from './session.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, forbidden } from '../../platform/errors.js';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { REASONS } from '../../pki/authority.js';
import { MAX_OCSP_REQUEST_BYTES } from '../../pki/ocsp.js';
import { certView } from '../../pki/service.js';
import { contextOf } from '../context.js';
import { access, errors, jsonApi, listDocument, pageQuery, plainText, resource, sendJsonApi, skipTake, WHO } from '../jsonapi.js';
import { forwardedCert } from '../plugins/pki.js';

const tags = ['Certificates'];
// The CSR media types of the contract (pca-api.md: application/octet-stream,
// application/pkcs10) and PEM's own. Nothing a cross-site HTML form can send
// (application/x-www-form-urlencoded, multipart/form-data, text/plain): SignCSR and
// RenewCerts act with the caller's credential, which a browser may attach by itself.
const CSR_TYPES = ['application/pkcs10', 'application/octet-stream', 'application/x-pem-file'];
const BINARY_TYPES = [...CSR_TYPES, 'application/x-x509-ca-cert', 'application/ocsp-request'];

/**
 * Refuses, before the body is read, any media type but the CSR types. Content-type parsers
 * are per plugin, not per route, and this plugin also inherits the JSON parsers: the check
 * has to be the route's own. Route hooks run after the authentication hook, so a caller
 * without a credential still gets 401 first.
 */
async function onlyCsrTypes(request: FastifyRequest) {
  const type = request.headers['content-type']?.split(';')[0]!.trim().toLowerCase();
  if (!type || !CSR_TYPES.includes(type)) {
    throw new AppError(415, 'unsupported_media_type', 'Unsupported media type', `This operation takes a CSR body: ${CSR_TYPES.join(', ')}`, {
      header: 'content-type',
    });
  }
}

/**
 * RenewCerts' authorization, before the media type is judged: only the holder of a
 * certificate, authenticated by it, may renew (the service checks it again).
 */
async function certificateHolderOnly(request: FastifyRequest) {
  if (request.principal?.credential !== 'cert') throw forbidden('RenewCerts requires authentication with the current client certificate');
}

const format = z.enum(['der', 'pem']).default('der');
const certduration = z.string().max(16).optional().describe('Validity in hours (default PKI_CERT_DEFAULT_HOURS, at most PKI_CERT_MAX_HOURS)');
// assignedRoles: repeated (?assignedRoles=a&assignedRoles=b) or comma-separated.
const roleList = z
  .union([z.string().max(2000), z.array(z.string().max(200)).max(50)])
  .optional()
  .transform((v) =>
    v === undefined
      ? undefined
      : [v]
          .flat()
          .flatMap((s) => s.split(','))
          .map((s) => s.trim())
          .filter(Boolean),
  );

const signQuery = z.object({
  certduration,
  format,
  requestedUsername: z.string().max(200).optional(),
  assignedRoles: roleList,
});
const renewQuery = z.object({ certduration, format });

const certStatus = z
  .object({
    expiry: z.number().describe('notAfter, Unix seconds'),
    reason: z.enum(REASONS),
    serialNum: z.string(),
    status: z.enum(['Good', 'Revoked', 'Expired']),
    tenantId: z.string(),
    userId: z.string().describe('The service account tied to the certificate'),
  })
  .meta({ id: 'CertStatus' });
// The patterns document the values each path parameter can take (the handlers judge them: any other serial
// names no certificate, 404), and so tell /certs/{serialNum}/revoke from /certs/ocsp/{ocspRequest} apart.
const serialParams = z.object({
  serialNum: z.string().max(40).meta({ pattern: '^[1-9][0-9]{0,18}$', description: 'The serial number: a positive int64, in decimal' }),
});
const ocspParams = z.object({
  ocspRequest: z.string().meta({ pattern: '^[A-Za-z0-9+/=_-]+$', description: 'The DER OCSPRequest in base64 (RFC 6960 appendix A.1)' }),
});
// Bodies that are bytes, not JSON: documented under their own media types (nothing serializes them).
const binary = z.any().meta({ type: 'string', format: 'binary' });
const pem = z.string();
const certBinary = {
  description: 'The certificate: DER with `format=der` (the default), PEM with `format=pem`',
  content: { 'application/pkix-cert': { schema: binary }, 'application/x-pem-file': { schema: pem } },
};
const csrBody = z.any().describe('PKCS#10 certification request, PEM or DER (at most 16 KiB)');
const ocspBinary = { description: 'A DER OCSPResponse (RFC 6960)', content: { 'application/ocsp-response': { schema: binary } } };

// Header values must be printable ASCII; anything else is percent-encoded.

function sendCert(reply: FastifyReply, cert: Buffer | string) {
  if (typeof cert === 'string') return reply.code(200).type('application/x-pem-file').send(cert);
  return reply.code(200).type('application/pkix-cert').send(cert);
}

export default async function certRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();

  // Binary bodies (CSRs in DER or PEM, OCSP requests) arrive as raw bytes.
  r.addContentTypeParser(BINARY_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const bodyBuffer = (body: unknown) => (Buffer.isBuffer(body) ? body : Buffer.alloc(0));

  r.post(
    '/api/v3/certs/sign',
    {
      config: { auth: 'admin' },
      preParsing: onlyCsrTypes,
      schema: {
        tags,
        operationId: 'SignCSR',
        summary: 'Sign a certificate request',
        description: access(
          [WHO.admin, WHO.policy],
          'Signs a PKCS#10 request (PEM or DER body) and ties the certificate to a service account (created when absent) with assignedRoles.',
        ),
        querystring: signQuery,
        consumes: CSR_TYPES,
        body: csrBody,
        response: { 200: certBinary, ...errors(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (request, reply) => sendCert(reply, await app.pki.signCsr(contextOf(request), bodyBuffer(request.body), request.query)),
  );

  r.post(
    '/api/v3/certs/renew',
    {
      config: { auth: 'user' },
      preParsing: [certificateHolderOnly, onlyCsrTypes],
      schema: {
        tags,
        operationId: 'RenewCerts',
        summary: 'Renew a client certificate',
        description: access(
          ['The holder of a valid client certificate, authenticated by it (forwarded by a trusted proxy); no other credential.'],
          'A new certificate for the same identity. Body: a new CSR.',
        ),
        querystring: renewQuery,
        consumes: CSR_TYPES,
        body: csrBody,
        response: { 200: certBinary, ...errors(400, 401, 403, 413, 415) },
      },
    },
    async (request, reply) => sendCert(reply, await app.pki.renew(request.principal!, request.id, bodyBuffer(request.body), request.query)),
  );

  r.get(
    '/api/v3/certs',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'ListCerts',
        summary: 'List certificates',
        description: access([WHO.admin]),
        querystring: pageQuery,
        response: {
          200: jsonApi(
            'A page of the certificates',
            z.object({
              bodyFilters: z.record(z.string(), z.unknown()),
              links: z.record(z.string(), z.string().nullable()),
              data: z.array(z.object({ type: z.literal('certs'), id: z.string(), attributes: certStatus })),
              meta: z.object({ page: z.number(), pageSize: z.number(), total: z.number(), totalPages: z.number() }),
            }),
          ),
          ...errors(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const { total, rows } = await app.pki.list(contextOf(request), skipTake(request.query).skip, skipTake(request.query).take);
      const now = new Date();
      return sendJsonApi(
        reply,
        200,
        listDocument(
          request,
          request.query,
          total,
          rows.map((row) => resource('certs', row.serial.toString(), certView(row, now))),
        ),
      );
    },
  );

  r.get(
    '/api/v3/certs/ca',
    {
      config: { auth: 'none' },
      schema: {
        tags,
        operationId: 'CaCertificate',
        summary: 'Get the issuing CA certificate',
        description: access([WHO.public]),
        security: [],
        response: { 200: { description: 'The issuing CA certificate', content: { 'application/x-pem-file': { schema: pem } } } },
      },
    },
    async (_request, reply) => reply.type('application/x-pem-file').send(await app.pki.caPem()),
  );

  r.get(
    '/api/v3/certs/crl',
    {
      config: { auth: 'none' },
      schema: {
        tags,
        operationId: 'CertificateRevocationList',
        summary: 'Get the certificate revocation list',
        description: access([WHO.public]),
        security: [],
        response: { 200: { description: 'The DER certificate revocation list', content: { 'application/pkix-crl': { schema: binary } } } },
      },
    },
    async (_request, reply) =>
      reply
        .type('application/pkix-crl')
        .header('cache-control', 'public, max-age=300')
        .send(await app.pki.crlDer()),
  );

  r.get(
    '/api/v3/certs/:serialNum',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'GetCert',
        summary: "Get a certificate's status",
        description: access([WHO.admin]),
        params: serialParams,
        response: { 200: jsonApi("The certificate's status", certStatus), ...errors(401, 403, 404) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, certView(await app.pki.get(contextOf(request), request.params.serialNum))),
  );

  r.post(
    '/api/v3/certs/:serialNum/revoke',
    {
      config: { auth: 'admin' },
      schema: {
        tags,
        operationId: 'RevokeCert',
        summary: 'Revoke a certificate',
        description: access([WHO.admin, WHO.policy]),
        params: serialParams,
        body: z.object({ reason: z.enum(REASONS) }),
        response: { 200: jsonApi("The certificate's status after revocation", certStatus), ...errors(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => sendJsonApi(reply, 200, certView(await app.pki.revoke(contextOf(request), request.params.serialNum, request.body.reason))),
  );

  const sendOcsp = (reply: FastifyReply, res: { der: Buffer; maxAge: number }, get: boolean) => {
    // RFC 5019 §6: GET responses may be cached by HTTP caches for their validity.
    reply.header('cache-control', get && res.maxAge > 0 ? `public, max-age=${res.maxAge}, no-transform` : 'no-store');
    return reply.code(200).type('application/ocsp-response').send(res.der);
  };

  r.get(
    '/api/v3/certs/ocsp/:ocspRequest',
    {
      config: { auth: 'none' },
      schema: {
        tags,
        operationId: 'OcspGet',
        summary: "Ask for a certificate's status (OCSP, GET)",
        description: access([WHO.public], 'RFC 6960 / RFC 5019: the DER OCSPRequest, base64 in the path.'),
        security: [],
        params: ocspParams,
        response: { 200: ocspBinary },
      },
    },
    async (request, reply) => {
      const b64 = request.params.ocspRequest;
      const der = b64.length <= (MAX_OCSP_REQUEST_BYTES * 4) / 3 + 4 && /^[A-Za-z0-9+/=_-]+$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
      return sendOcsp(reply, await app.pki.ocsp(der), true);
    },
  );

  r.post(
    '/api/v3/certs/ocsp',
    {
      config: { auth: 'none', cacheNeutral: true },
      bodyLimit: 64 * 1024,
      schema: {
        tags,
        operationId: 'OcspPost',
        summary: "Ask for a certificate's status (OCSP, POST)",
        description: access([WHO.public]),
        security: [],
        consumes: ['application/ocsp-request'],
        body: z.any().describe('DER OCSPRequest'),
        response: { 200: ocspBinary, ...errors(413, 415) },
      },
    },
    async (request, reply) => sendOcsp(reply, await app.pki.ocsp(bodyBuffer(request.body)), false),
  );

  r.get(
    '/api/v3/session/validate-cert',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['Session validation'],
        operationId: 'ValidateCert',
        summary: 'Validate a client certificate for a reverse proxy',
        description: access(
          ['No credential of its own: the route judges the certificate a trusted proxy forwards.'],
          `Called by a TLS-terminating proxy with the client certificate in the ${app.config.PKI_CLIENT_CERT_HEADER} header (URL-encoded PEM). 200 sets X-Forwarded-Tenant-Id, -User-Id, -User-Username, -User-Roles.`,
        ),
        security: [],
        response: {
          200: plainText('The certificate is valid; identity in the X-Forwarded-* response headers'),
          401: plainText('No client certificate from a trusted proxy, or an unknown one'),
          403: plainText('A known certificate that is expired or revoked, or whose account or tenant is disabled'),
        },
      },
    },
    async (request, reply) => {
      const cert = forwardedCert(request);
      if (!cert) return reply.code(401).type('text/plain').send('No client certificate from a trusted proxy');
      // The same answers and headers as the other validate routes, minus the groups (certificates map to service accounts).
      return answerValidation(reply, await app.cachedVerification('c', cert, () => app.pki.verifyClientCert(cert)), false);
    },
  );
}
