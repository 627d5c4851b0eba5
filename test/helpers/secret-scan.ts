/** Credentials that must never appear in a log line or an error body. */
const PATTERNS: [string, RegExp][] = [
  ['PAT', /pca_[0-9A-Za-z]{46}/],
  ['bearer token', /\bBearer\s+[A-Za-z0-9._~+/=-]{12,}/i],
  ['JWT', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['PEM private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['secret in a query string', /[?&](?:access_token|refresh_token|id_token|client_secret|password|token)=(?!\[redacted\])[^&"\s]{4,}/i],
];
const BASIC = /\bBasic\s+([A-Za-z0-9+/]{8,}={0,2})/g;
// Secret-named fields whose value is not the redaction marker.
const FIELD =
  /"(password|newPassword|currentPassword|pat|token|secret|clientSecret|client_secret|refresh_token|refreshToken|access_token|accessToken|id_token|privateKey|private_key)"\s*:\s*"(?!\[redacted\]")([^"]{4,})"/g;

export function scanForSecrets(text: string, passwords: string[] = []): string[] {
  const findings: string[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (!line) continue;
    const where = `line ${i + 1}`;
    for (const [what, re] of PATTERNS) {
      const m = re.exec(line);
      if (m) findings.push(`${where}: ${what}: ${excerpt(line, m.index)}`);
    }
    for (const m of line.matchAll(FIELD)) findings.push(`${where}: field ${m[1]}: ${excerpt(line, m.index)}`);
    // Basic credentials are base64 of "id:secret" (so the words "Basic authorization" are not one).
    for (const m of line.matchAll(BASIC)) {
      if (Buffer.from(m[1]!, 'base64').toString('utf8').includes(':')) findings.push(`${where}: basic credentials: ${excerpt(line, m.index)}`);
    }
    for (const p of passwords) if (line.includes(p)) findings.push(`${where}: a test password: ${excerpt(line, line.indexOf(p))}`);
  }
  return findings;
}

const excerpt = (line: string, at: number) => line.slice(Math.max(0, at - 60), at + 80);

/**
 * Server internals that must never appear in a response body: a path of the project's
 * source tree or of DATA_DIR, a file:line:column reference, a stack frame, the ORM's
 * "Invalid `x.y()` invocation" text. `roots` are absolute paths of this server's files.
 */
export function scanForInternals(body: string, roots: string[]): string | undefined {
  for (const root of roots) {
    const at = body.indexOf(root);
    if (at >= 0) return `server path ${root}: ${excerpt(body, at)}`;
  }
  const patterns: [string, RegExp][] = [
    ['node_modules path', /node_modules[\\/]/],
    ['source position', /\.(?:[cm]?[jt]s|tsx?):\d+:\d+/],
    ['stack frame', /\bat (?:async )?(?:[^\s()]+ )?\(?(?:file:\/\/|node:internal|\/)[^\s()]*:\d+(?::\d+)?\)?/],
    ['ORM invocation text', /Invalid `[^`]+` invocation/],
  ];
  for (const [what, re] of patterns) {
    const m = re.exec(body);
    if (m) return `${what}: ${excerpt(body, m.index)}`;
  }
  return undefined;
}

/** The log lines test/helpers/log-capture.ts writes for response bodies that leaked internals. */
export const LEAK_MESSAGE = 'response body leaks server internals';

export function leakedInternals(logText: string): string[] {
  const out: string[] = [];
  for (const [i, line] of logText.split('\n').entries()) {
    if (!line.includes(LEAK_MESSAGE)) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; method?: string; url?: string; status?: number; leak?: string };
      if (entry.msg === LEAK_MESSAGE) out.push(`line ${i + 1}: ${entry.method} ${entry.url} -> ${entry.status}: ${entry.leak}`);
    } catch {
      out.push(`line ${i + 1}: ${excerpt(line, 0)}`);
    }
  }
  return out;
}
