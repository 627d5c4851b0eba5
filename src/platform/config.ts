import { z } from 'zod';
import { BlockList, isIP } from 'node:net';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const cidrList = z.string().transform((value, ctx) => {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    const max = family === 6 ? 128 : 32;
    const prefix = bits === undefined ? max : Number(bits);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address or CIDR` });
      return z.NEVER;
    }
  }
  return list;
});

const httpUrl = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));

/** `host:port`, IPv6 hosts in brackets (`[::1]:9464`). */
const hostPort = z.string().transform((value, ctx) => {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || (m[1] !== undefined && isIP(m[1]) !== 6) || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464' });
    return z.NEVER;
  }
  return { host: host!, port };
});

export const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' }).optional(),
  /**
   * A direct connection to the same database, for LISTEN and migrations, when DATABASE_URL
   * goes through a transaction-pooling PgBouncer (where LISTEN and session locks do not work).
   */
  DATABASE_DIRECT_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' }).optional(),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /** Longest wait for one query's answer: bounds a request when the database stops answering (a partition raises no error). */
  DB_QUERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  /**
   * Embedded database only: PostgreSQL's shared_buffers, in MB. Its page cache lives inside the
   * process (WASM memory, never given back); the files it reads stay in the OS page cache anyway.
   */
  EMBEDDED_SHARED_BUFFERS_MB: z.coerce.number().int().min(1).max(4096).default(16),
  WASM_OPTIMIZE: bool.default(false),
  PUBLIC_URL: httpUrl.optional(),
  BASE_DOMAIN: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, 'must be a DNS name')
    .default('localhost'),
  MASTER_KEY: z
    .string()
    .refine((v) => decodeKey(v) !== undefined, 'must be 32 bytes, as 64 hex characters or base64')
    .optional(),
  TRUSTED_PROXIES: cidrList.default([]),
  CORS_ORIGINS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.union([z.literal('*'), httpUrl])))
    .default([]),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional(),
  SMTP_FROM: z.string().min(3).max(320).optional(),
  SET_PASSWORD_TOKEN_TTL_HOURS: z.coerce.number().int().min(1).max(720).default(72),
  PASSWORD_RESET_TTL_MINUTES: z.coerce.number().int().min(5).max(1440).default(30),
  DATA_DIR: z.string().min(1).default('./data'),
  BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(8192).max(1048576).default(19456),
  ARGON2_ITERATIONS: z.coerce.number().int().min(1).max(20).default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  BOOTSTRAP_ADMIN_USERNAME: z.string().min(3).max(150).optional(),
  BOOTSTRAP_ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').max(256).optional(),
  BOOTSTRAP_ADMIN_PAT: z.string().optional(),
  METRICS_ENABLED: bool.default(true),
  /** When set, /metrics requires `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters')
    .max(1024)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  /** When set, /metrics is served on this separate address only (not on the API port). */
  METRICS_LISTEN: hostPort.optional(),
  CREDENTIAL_CACHE_SIZE: z.coerce.number().int().min(0).max(10_000_000).default(100_000),
  CREDENTIAL_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  USER_COUNT_CACHE_SIZE: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  /** Audit events older than this are purged (0 keeps them forever); see docs/audit.md. */
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(365),
  // SAML IdP metadata fetching (issue 8): private/loopback targets are refused unless listed here.
  SAML_METADATA_ALLOW_CIDRS: cidrList.default([]),
  SAML_METADATA_TIMEOUT_MS: z.coerce.number().int().min(100).max(60000).default(5000),
  SAML_METADATA_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  SAML_CLOCK_SKEW_MS: z.coerce.number().int().min(0).max(600000).default(60000),
  SAML_REQUEST_TTL_MS: z.coerce.number().int().min(10000).max(86400000).default(600000),
  // External OpenID Connect IdPs: discovery, JWKS and token requests go through the same SSRF guard.
  OIDC_IDP_ALLOW_CIDRS: cidrList.default([]),
  OIDC_IDP_TIMEOUT_MS: z.coerce.number().int().min(100).max(60000).default(5000),
  OIDC_IDP_LOGIN_TTL_MS: z.coerce.number().int().min(10000).max(86400000).default(600000),
  // Export/import S3 endpoints: private/loopback targets are refused unless listed here (SSRF guard).
  EXPORT_S3_ALLOW_CIDRS: cidrList.default([]),
  // Clients' jwks_uri (private_key_jwt, request objects): https only; private/loopback targets are
  // refused unless listed here (then plain http to them is allowed too).
  CLIENT_JWKS_ALLOW_CIDRS: cidrList.default([]),
  CLIENT_JWKS_TIMEOUT_MS: z.coerce.number().int().min(100).max(30000).default(3000),
  CLIENT_JWKS_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024)
    .default(65536),
  CLIENT_JWKS_CACHE_SECONDS: z.coerce.number().int().min(1).max(86400).default(300),
  /** Shortest time between two fetches of one jwks_uri caused by an unknown kid. */
  CLIENT_JWKS_REFETCH_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  // --- OAuth / hosted login (issue 4) ---
  ANALYTICS_UI_REDIRECT_URIS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .default([]),
  SESSION_IDLE_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 86400)
    .default(3600),
  SESSION_ABSOLUTE_SECONDS: z.coerce
    .number()
    .int()
    .min(300)
    .max(90 * 86400)
    .default(43200),
  SESSION_COOKIE_DOMAIN: z
    .string()
    .regex(/^\.?[a-z0-9.-]+$/i, 'must be a domain')
    .optional(),
  /**
   * A Redis server the rate limits count in, so they hold for the deployment rather than per
   * instance (behind a load balancer). Unset: each instance counts in memory.
   */
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
  RATE_LIMIT_AUTHORIZE: z.coerce.number().int().min(1).default(300),
  RATE_LIMIT_TOKEN: z.coerce.number().int().min(1).default(1200),
  RATE_LIMIT_LOGIN: z.coerce.number().int().min(1).default(30),
  // Device authorization (RFC 8628): how long a device code lives, the least time between polls,
  // and how many user-code checks (right or wrong) a client address may make per minute.
  DEVICE_CODE_LIFETIME_SECONDS: z.coerce.number().int().min(1).max(3600).default(600),
  DEVICE_CODE_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(60).default(5),
  RATE_LIMIT_DEVICE_CODE: z.coerce.number().int().min(1).default(10),
  // Login throttling (src/users/lockout.ts): failed passwords per account and client address
  // before that address is refused, and how long a lock (that one, or the account's) lasts.
  LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).max(1000).default(5),
  LOGIN_LOCKOUT_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 86400)
    .default(900),
  CLIENT_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  // Client-certificate authority (issue 7)
  PKI_CA_KEY_TYPE: z.enum(['rsa3072', 'rsa4096', 'p384', 'p256']).default('rsa3072'),
  PKI_CA_COMMON_NAME: z.string().min(1).max(64).default('PCA IAM Client CA'),
  PKI_CA_VALIDITY_DAYS: z.coerce.number().int().min(1).max(36500).default(3650),
  PKI_CA_CERT_FILE: z.string().min(1).optional(),
  PKI_CA_KEY_FILE: z.string().min(1).optional(),
  PKI_CERT_DEFAULT_HOURS: z.coerce.number().int().min(1).default(8760),
  PKI_CERT_MAX_HOURS: z.coerce.number().int().min(1).max(876000).default(8760),
  PKI_OCSP_VALIDITY_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86400)
    .default(3600),
  PKI_CRL_VALIDITY_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 30)
    .default(24),
  PKI_CLIENT_CERT_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
    .default('X-SSL-Client-Cert'),
  PKI_VALIDATE_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(0),
});

type Raw = z.output<typeof configSchema>;
export type Config = Raw & { PUBLIC_URL: string; trustedProxies: BlockList };

export function decodeKey(value: string): Buffer | undefined {
  const buf = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  return buf.length === 32 ? buf : undefined;
}

export class ConfigError extends Error {}

/** Parses the environment; throws ConfigError whose message is one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty values count as unset, as docker-compose and shells often pass them.
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    const got = input[name] === undefined ? '' : ` (got ${JSON.stringify(redact(name, input[name]!))})`;
    throw new ConfigError(`Invalid configuration: ${name}: ${issue.message}${got}`);
  }
  const raw = parsed.data;
  if (!raw.PKI_CA_CERT_FILE !== !raw.PKI_CA_KEY_FILE) {
    throw new ConfigError('Invalid configuration: PKI_CA_CERT_FILE and PKI_CA_KEY_FILE must be set together');
  }
  const trustedProxies = new BlockList();
  for (const entry of raw.TRUSTED_PROXIES) {
    const [addr, bits] = entry.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) trustedProxies.addAddress(addr, type);
    else trustedProxies.addSubnet(addr, Number(bits), type);
  }
  return {
    ...raw,
    PUBLIC_URL: raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`,
    trustedProxies,
  };
}

function redact(name: string, value: string) {
  return /KEY|PASSWORD|PAT|SECRET|TOKEN|URL/.test(name) ? '<redacted>' : value;
}
