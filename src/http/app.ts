import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from '../platform/config.js';
import type { Database } from '../platform/db.js';
import { loggerOptions } from '../platform/logger.js';
import { RequestLog } from './request-log.js';
import { securityHeaders } from './security-headers.js';
import { createMetrics, type Metrics } from '../platform/metrics.js';
import { addressIn } from '../platform/net.js';
import { errorHandler, sendError } from './errors.js';
import { metricsRoute } from './metrics.js';
import { withExamples } from './openapi-examples.js';
import { badRequest } from '../platform/errors.js';
import auth from './plugins/auth.js';
import healthRoutes from './routes/health.js';
import idpRoutes from './routes/idps.js';
import onboardingRoutes from './routes/onboarding.js';
import samlRoutes from './routes/saml.js';
import oidcIdpRoutes from './routes/oidc-idp.js';
import tenantRoutes from './routes/tenants.js';
import sessionRoutes from './routes/session.js';
import serviceAccountRoutes from './routes/service-accounts.js';
import scimRoutes from './routes/scim.js';
import adminExportRoutes from './routes/admin-export.js';
import userRoutes from './routes/users.js';
import usergroupRoutes from './routes/usergroups.js';
import roleRoutes from './routes/roles.js';
import oauthPlugin from './plugins/oauth.js';
import { SWAGGER_UI_CLIENT_ID } from '../oauth/applications.js';
import oauthRoutes from './routes/oauth.js';
import loginRoutes from './routes/login.js';
import loginSecondFactorRoutes from './routes/login-second-factor.js';
import loginPolicyRoutes from './routes/login-policy.js';
import tenantLogoRoutes from './routes/tenant-logo.js';
import accountTotpRoutes from './routes/account-totp.js';
import accountPasskeyRoutes from './routes/account-passkeys.js';
import applicationRoutes from './routes/applications.js';
import pki from './plugins/pki.js';
import certRoutes from './routes/certs.js';
import samlLogin from './plugins/saml-login.js';
import setPasswordRoutes from './routes/set-password.js';
import accountRoutes from './routes/account.js';
import deviceRoutes from './routes/device.js';
import userSessionRoutes from './routes/user-sessions.js';
import userRecoveryRoutes from './routes/user-recovery.js';
import auditPlugin from './plugins/audit.js';
import auditEventRoutes from './routes/audit-events.js';
import { connectRateLimitStore } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Database;
    masterKey: Buffer;
    metrics: Metrics;
  }
}

export interface AppOptions {
  config: Config;
  db: Database;
  masterKey: Buffer;
  /** Tests pass false to keep output quiet; the server passes pino options. */
  logger?: boolean | object;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

const SCHEMA_REF = '#/components/schemas/';

// Swagger UI's top bar and tab carry the product's name instead of Fastify's logo. The logo is an SVG image, which
// the page loads as a data: URL (its Content-Security-Policy allows data: images); text in an <img> runs nothing.
const DOCS_TITLE = 'PCA IAM API';
const DOCS_LOGO = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="180" height="40" viewBox="0 0 180 40" role="img" aria-label="PCA IAM">' +
    '<text x="0" y="28" font-family="system-ui, sans-serif" font-size="24" font-weight="700" fill="#ffffff">PCA IAM</text>' +
    '<text x="124" y="28" font-family="system-ui, sans-serif" font-size="18" fill="#89bf04">API</text></svg>',
);
// Swagger UI draws its own logo, an SVG with an inline <style>, before the one above replaces it: the style's hash
// lets it apply rather than print a CSP violation (test/swagger-ui-chromium.test.ts catches a new one on upgrades).
const SWAGGER_LOGO_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";

/**
 * The document without the named schemas nothing in it refers to: the zod provider names an input and an
 * output variant of every schema, and most are used one way only.
 */
function withoutUnusedSchemas<T extends { paths?: unknown; components?: { schemas?: Record<string, unknown> } }>(doc: T): T {
  const schemas = doc.components?.schemas;
  if (!schemas) return doc;
  const used = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith(SCHEMA_REF)) {
        const name = value.slice(SCHEMA_REF.length);
        if (!used.has(name)) {
          used.add(name);
          visit(schemas[name]);
        }
      } else visit(value);
    }
  };
  visit(doc.paths);
  return { ...doc, components: { ...doc.components, schemas: Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name))) } };
}

function hasNul(values: unknown): boolean {
  if (!values || typeof values !== 'object') return false;
  for (const v of Object.values(values)) {
    if (typeof v === 'string' ? v.includes('\0') : Array.isArray(v) && v.some((x) => typeof x === 'string' && x.includes('\0'))) return true;
  }
  return false;
}

// Fastify types these factories for Ajv's compilers; zod's take the same route arguments.
const zodCompilers = { buildValidator: () => validatorCompiler, buildSerializer: () => serializerCompiler } as unknown as NonNullable<
  FastifyServerOptions['schemaController']
>['compilersFactory'];

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const helmetOptions = {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'self'"] },
    },
    strictTransportSecurity: config.PUBLIC_URL.startsWith('https:') ? { maxAge: 31536000, includeSubDomains: true } : (false as const),
    crossOriginResourcePolicy: { policy: 'same-site' as const },
  };
  // Also applied to errors the router raises before any hook runs.
  const setSecurityHeaders = securityHeaders(helmetOptions);
  const app = Fastify({
    logger: opts.logger ?? loggerOptions(config.LOG_LEVEL),
    bodyLimit: config.BODY_LIMIT,
    // request.ip honours X-Forwarded-For only when the peer is a configured proxy.
    trustProxy: (address: string) => addressIn(config.trustedProxies, address),
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // Malformed percent-encoding and the like, refused by the router before any route runs.
    frameworkErrors: (error, request, reply) => {
      setSecurityHeaders(reply.raw);
      return sendError(reply, 400, [{ status: '400', code: 'bad_request', title: 'Bad request', detail: error.message }]);
    },
    forceCloseConnections: 'idle',
    // One completion line per request instead of Fastify's two; the validate routes' only at debug.
    logController: new RequestLog(),
    // Every route validates and serialises through zod. Named here rather than set afterwards,
    // Fastify never loads its default compilers (Ajv, fast-json-stringify): 70 ms of every start.
    schemaController: { compilersFactory: zodCompilers },
  }).withTypeProvider<ZodTypeProvider>();

  app.decorate('config', config);
  app.decorate('db', opts.db);
  app.decorate('masterKey', opts.masterKey);
  app.decorate('metrics', createMetrics(opts.db.pool));

  // JSON:API documents are JSON; parse them with Fastify's hardened JSON parser. Plain
  // text is no API media type: without a parser it is answered 415, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const json = (request: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void) => {
    if (body.includes('\\u0000') || body.includes('\0')) return done(badRequest('NUL characters are not allowed'));
    parseJson(request, body, done);
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, json);
  app.addContentTypeParser('application/vnd.api+json', { parseAs: 'string' }, json);

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, [{ status: '404', code: 'not_found', title: 'Not found', detail: `No route ${request.method} ${request.url.split('?')[0]}` }]),
  );

  // Helmet's headers are worked out once (./security-headers.ts): @fastify/helmet rebuilds its
  // middleware on every request, which cost more than the whole proxy-validation handler.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    setSecurityHeaders(reply.raw);
    done();
  });
  // PostgreSQL text cannot hold NUL; refuse it at the edge with a clear error rather
  // than deep in a query (the error handler still maps the database's refusal).
  app.addHook('preValidation', async (request) => {
    if (hasNul(request.params) || hasNul(request.query)) throw badRequest('NUL characters are not allowed in the URL');
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    app.metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    app.metrics.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  if (config.CORS_ORIGINS.length) {
    await app.register(cors, {
      origin: config.CORS_ORIGINS.includes('*') ? true : config.CORS_ORIGINS,
      credentials: !config.CORS_ORIGINS.includes('*'),
      exposedHeaders: ['x-request-id'],
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'PCA Identity & Access Management API',
        version: '25.7',
        description: 'Multi-tenant IAM server: the PCA IAM API 25.7 (`/api/v3`) plus OpenID Connect, SAML, an X.509 CA and SCIM 2.0.',
      },
      servers: [{ url: config.PUBLIC_URL }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'PAT, JWT access token or opaque access token' },
          oauth2: {
            type: 'oauth2',
            description: 'Sign in through this server (authorization code with PKCE, operator tenant)',
            flows: {
              authorizationCode: {
                authorizationUrl: `${config.PUBLIC_URL}/oauth/v2/authorize`,
                tokenUrl: `${config.PUBLIC_URL}/oauth/v2/token`,
                scopes: { openid: 'OpenID Connect', profile: 'Profile claims', email: 'Email claims' },
              },
            },
          },
        },
      },
      security: [{ bearer: [] }, { oauth2: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (documentObject) => withExamples(withoutUnusedSchemas(jsonSchemaTransformObject(documentObject))),
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(/style-src ([^;]*);/, (_all, sources: string) => `style-src ${sources.trim()} ${SWAGGER_LOGO_STYLE};`),
    theme: { title: DOCS_TITLE },
    logo: { type: 'image/svg+xml', content: DOCS_LOGO, href: '/docs' },
    uiConfig: { persistAuthorization: false, oauth2RedirectUrl: `${config.PUBLIC_URL}/docs/static/oauth2-redirect.html` },
    // "Authorize" runs the code flow with PKCE against this server, as the operator tenant's SwaggerUI client.
    initOAuth: { clientId: SWAGGER_UI_CLIENT_ID, usePkceWithAuthorizationCodeGrant: true, scopes: ['openid', 'profile'] },
  });

  await app.register(cookie);
  await connectRateLimitStore(app);
  // Credentials and the services routes share: the principal plugin first, then the
  // credential kinds that plug into it, then the seams between features.
  await app.register(auditPlugin);
  await app.register(auth);
  await app.register(oauthPlugin);
  await app.register(pki);
  await app.register(samlLogin);

  await app.register(healthRoutes);
  await app.register(onboardingRoutes);
  await app.register(tenantRoutes);
  await app.register(sessionRoutes);
  await app.register(userRoutes);
  await app.register(userSessionRoutes);
  await app.register(userRecoveryRoutes);
  await app.register(usergroupRoutes);
  await app.register(roleRoutes);
  await app.register(serviceAccountRoutes);
  await app.register(idpRoutes);
  await app.register(samlRoutes);
  await app.register(oidcIdpRoutes);
  await app.register(certRoutes);
  await app.register(applicationRoutes);
  await app.register(oauthRoutes);
  await app.register(loginRoutes);
  await app.register(loginSecondFactorRoutes);
  await app.register(loginPolicyRoutes);
  await app.register(tenantLogoRoutes);
  await app.register(accountTotpRoutes);
  await app.register(accountPasskeyRoutes);
  await app.register(setPasswordRoutes);
  await app.register(accountRoutes);
  await app.register(deviceRoutes);
  await app.register(scimRoutes, { prefix: '/scim/v2' });
  await app.register(adminExportRoutes);
  await app.register(auditEventRoutes);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // Loopback only, a bearer token, or a separate listener: see src/http/metrics.ts.
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => metricsRoute(app, request, reply));

  return app;
}
