// docs/audit.md is what operators filter the log by: every action the code can write must be
// named there, or a new event goes unnoticed. The source is read as text, so an action
// added anywhere (a literal passed on, a conditional) is found without a catalogue to keep.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = 'src';
// Where audit actions are not written: generated client, the OpenAPI examples (sample data), tests.
const skipped = (path: string) => path.startsWith(join(SRC, 'generated')) || path.endsWith('openapi-examples.ts') || path.endsWith('.test.ts');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (skipped(path)) return [];
    return e.isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

// The subjects audit actions are about; a dotted literal starting with one is an action name.
const SUBJECTS = [
  'user',
  'usergroup',
  'group',
  'role',
  'serviceaccount',
  'tenant',
  'idp',
  'application',
  'certificate',
  'mfa',
  'login',
  'login_policy',
  'session',
  'token',
  'signing_keys',
  'instance',
  'device_authorization',
  'server',
];
const DOTTED = new RegExp(`'((?:${SUBJECTS.join('|')})(?:\\.[a-z_]+)+)'`, 'g');
// Single-word actions are written as `action: '...'`.
const PLAIN = /\baction: '([a-z_]+)'/g;

function actionsInSource(): Set<string> {
  const found = new Set<string>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(DOTTED)) found.add(m[1]!);
    for (const m of text.matchAll(PLAIN)) found.add(m[1]!);
  }
  return found;
}

describe('audit actions', () => {
  it('are each named in docs/audit.md', () => {
    const actions = actionsInSource();
    // The scan itself works: actions written in several ways are found.
    for (const known of ['login.failed', 'bootstrap', 'logout', 'user.password_set', 'certificate.renewed', 'device_authorization.denied']) {
      expect(actions).toContain(known);
    }
    const documented = new Set([...readFileSync('docs/audit.md', 'utf8').matchAll(/`([a-z_.]+)`/g)].map((m) => m[1]!));
    expect([...actions].filter((a) => !documented.has(a)).sort()).toEqual([]);
  });

  it("in the API document's examples are ones the code writes", () => {
    const actions = actionsInSource();
    const examples = [...readFileSync(join(SRC, 'http/openapi-examples.ts'), 'utf8').matchAll(/\baction: '([a-z_.]+)'/g)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThan(0);
    expect(examples.filter((a) => !actions.has(a))).toEqual([]);
  });
});
