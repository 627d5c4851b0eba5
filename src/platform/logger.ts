import type { LoggerOptions } from 'pino';

// Credentials must never reach a log line, whatever route logs the request.
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-forwarded-client-cert"]',
  'res.headers["set-cookie"]',
  // Plugins that log request headers of their own (e.g. @fastify/multipart's busboy options at trace).
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-ssl-client-cert"]',
  '*.password',
  '*.pat',
  '*.token',
  '*.secret',
  '*.clientSecret',
  '*.client_secret',
  '*.refresh_token',
  '*.access_token',
  '*.privateKey',
];

// Query parameters that carry credentials (OAuth codes and tokens, passwords, assertions).
const SECRET_PARAM = /(^|_)(token|secret|password|passwd|code|assertion|key|pat)$|^saml(request|response)$|^ticket$|^id_token_hint$/i;
const PAT_SHAPED = /pca_[0-9A-Za-z]{46}/g;
// A JWT anywhere in a URL (an ID token as id_token_hint, a token pasted into a path).
const JWT_SHAPED = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/**
 * The URL as logged: values of credential-named query parameters are replaced, and a
 * PAT pasted anywhere into the URL (a client mistake, but a leak all the same) masked.
 */
export function scrubUrl(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).replace(PAT_SHAPED, 'pca_[redacted]').replace(JWT_SHAPED, 'eyJ[redacted]');
  if (q < 0) return path;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair.replace(PAT_SHAPED, 'pca_[redacted]').replace(JWT_SHAPED, 'eyJ[redacted]');
      let key = pair.slice(0, eq);
      try {
        key = decodeURIComponent(key);
      } catch {
        /* keep it encoded */
      }
      return SECRET_PARAM.test(key) ? `${pair.slice(0, eq)}=[redacted]` : pair.replace(PAT_SHAPED, 'pca_[redacted]').replace(JWT_SHAPED, 'eyJ[redacted]');
    })
    .join('&');
  return `${path}?${query}`;
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: undefined,
    serializers: {
      req: (req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) => ({
        method: req.method,
        url: req.url === undefined ? undefined : scrubUrl(req.url),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
  };
}
