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
const FIELD = /"(password|newPassword|currentPassword|pat|token|secret|clientSecret|client_secret|refresh_token|refreshToken|access_token|accessToken|id_token|privateKey|private_key)"\s*:\s*"(?!\[redacted\]")([^"]{4,})"/g;

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
