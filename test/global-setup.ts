// Captures every log line (and error body) the suite's test apps produce and, at the
// end of the run, fails it if any credential appears there: a PAT, a bearer token, a
// JWT, a PEM private key, a password used in the tests, or a secret-named field not
// redacted; or if any response body carried server internals (a source path, a stack
// frame, the ORM's text: see test/helpers/log-capture.ts). Set TEST_LOG_CAPTURE=0 to
// turn it off; TEST_LOG_FILE to keep the file.
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { embeddedTemplate, writeEmbeddedTemplate } from '../src/platform/embedded-template.js';
import { leakedInternals, scanForSecrets } from './helpers/secret-scan.js';

let file: string | undefined;
let own = false;
let template: string | undefined;

export async function setup() {
  await makeDatabaseTemplate();
  if (process.env.TEST_LOG_CAPTURE === '0') return;
  if (!process.env.TEST_LOG_FILE) {
    file = path.join(mkdtempSync(path.join(tmpdir(), 'iam-test-logs-')), 'suite.log');
    process.env.TEST_LOG_FILE = file;
    own = true;
  } else file = process.env.TEST_LOG_FILE;
}

/**
 * Each test file's embedded database starts from one template made here (initdb and the migrations
 * once per run, as the build does for the server) instead of running them itself.
 */
async function makeDatabaseTemplate() {
  if (process.env.TEST_DATABASE_URL || process.env.TEST_EMBEDDED_TEMPLATE) return;
  template = mkdtempSync(path.join(tmpdir(), 'iam-test-template-'));
  await writeEmbeddedTemplate(template);
  // Checked once here, against the migrations it was just made from: the data directory to copy.
  const data = embeddedTemplate(template);
  if (!data) throw new Error(`the test database template in ${template} does not match the migrations it was made from`);
  process.env.TEST_EMBEDDED_TEMPLATE = data;
}

export function teardown() {
  if (template) rmSync(template, { recursive: true, force: true });
  if (!file || !existsSync(file)) return;
  const text = readFileSync(file, 'utf8');
  const findings = [...scanForSecrets(text, passwordsInTests()), ...leakedInternals(text)];
  if (own && !findings.length) rmSync(path.dirname(file), { recursive: true, force: true });
  if (findings.length) {
    // Vitest reports an error thrown here but still exits 0: set the exit code ourselves.
    process.exitCode = 1;
    throw new Error(`secrets found in test logs or error bodies, or server internals in response bodies (${file}):\n` + findings.slice(0, 20).join('\n'));
  }
}

/** String literals the tests use as passwords (`password: '...'`, `"password":"..."`). */
function passwordsInTests(): string[] {
  const out = new Set<string>();
  const dir = path.resolve('test');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        const src = readFileSync(p, 'utf8');
        for (const m of src.matchAll(/(?:password|Password|secret|Secret)['"]?\s*[:=]\s*['"`]([^'"`$[\]]{8,})['"`]/g)) {
          // Plain words ("lowercase", a policy test's weak password) also occur in messages; real test passwords have a digit or symbol.
          if (/[^A-Za-z]/.test(m[1]!)) out.add(m[1]!);
        }
      }
    }
  };
  walk(dir);
  return [...out];
}
