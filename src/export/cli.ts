// CLI commands `export` and `import` (wired into src/cli.ts by its owner):
//   npm run cli -- export --out file.json [--org ID]... [--exclude-org ID]... [--with-passwords] [--with-otp] [--with-keys] [--with-signing-keys --seal-for KEYFILE]
//   npm run cli -- import --in file.json [--dry-run] [--on-conflict fail|skip|overwrite]
// Both stream the document org by org (export writes each org as it is read from the
// database; import imports each org as soon as it is parsed) with a progress bar on a terminal.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import chain from 'stream-chain';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamValues } from 'stream-json/streamers/stream-values.js';
import { argon2Params } from '../platform/passwords.js';
import { decodeKey, loadConfig } from '../platform/config.js';
import { openMigratedDatabase } from '../platform/start.js';
import { streamExport } from './service.js';
import { importInstance, importOrg, type OrgResult } from './import.js';
import type { InstanceResult } from './instance-keys.js';
import { loadMasterKey } from '../platform/secrets.js';
import { allowList } from '../platform/net.js';
import type { ConflictPolicy } from './write-step.js';

const isConflictPolicy = (v: string): v is ConflictPolicy => v === 'fail' || v === 'skip' || v === 'overwrite';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

const defaultIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr });

function progress(io: CliIo, label: string) {
  if (!io.stderr.isTTY) return undefined;
  return new SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} users and service accounts | {orgs} org(s) | {rate}/s | ETA {eta_formatted}`,
      stream: io.stderr as NodeJS.WritableStream,
      hideCursor: true,
    },
    Presets.shades_classic,
  );
}

async function write(out: WriteStream | NodeJS.WritableStream, chunk: string) {
  if (!out.write(chunk)) await once(out, 'drain');
}

/** `export --out FILE` ("-" for stdout). Returns the process exit code. */
export async function exportCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, io: CliIo = defaultIo()): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', short: 'o' },
      org: { type: 'string', multiple: true },
      'exclude-org': { type: 'string', multiple: true },
      'with-passwords': { type: 'boolean', default: false },
      'with-otp': { type: 'boolean', default: false },
      'with-keys': { type: 'boolean', default: false },
      'with-signing-keys': { type: 'boolean', default: false },
      'seal-for': { type: 'string' },
    },
    strict: true,
  });
  if (!values.out || values['with-signing-keys'] !== !!values['seal-for']) {
    io.stderr.write(
      'usage: export --out FILE.json [--org ID]... [--exclude-org ID]... [--with-passwords] [--with-otp] [--with-keys] [--with-signing-keys --seal-for KEYFILE]\n',
    );
    return 2;
  }
  let sealFor: Buffer | undefined;
  if (values['seal-for']) {
    // The target's key in the form of DATA_DIR/master.key or MASTER_KEY: 64 hex digits or base64 of 32 bytes.
    sealFor = await readFile(values['seal-for'], 'utf8').then(
      (text) => decodeKey(text.trim()),
      () => undefined,
    );
    if (!sealFor) {
      io.stderr.write(`${values['seal-for']} does not hold a 32-byte key (64 hex digits or base64, as DATA_DIR/master.key or MASTER_KEY)\n`);
      return 2;
    }
  }
  const config = loadConfig(env);
  const { db } = await openMigratedDatabase(config);
  const toStdout = values.out === '-';
  const out = toStdout ? io.stdout : createWriteStream(values.out, { mode: 0o600 });
  const bar = progress(io, 'export');
  let count = 0;
  let rows = 0;
  let orgs = 0;
  const started = Date.now();
  const payload = () => ({ orgs, rate: Math.round(rows / Math.max(0.001, (Date.now() - started) / 1000)) });
  try {
    count = await streamExport(
      {
        prisma: db.prisma,
        actor: 'system',
        dataDir: config.DATA_DIR,
        baseDomain: config.BASE_DOMAIN,
        argon: argon2Params(config),
        masterKey: loadMasterKey(config.MASTER_KEY, config.DATA_DIR).key,
      },
      {
        orgIds: values.org,
        excludedOrgIds: values['exclude-org'],
        withPasswords: values['with-passwords'],
        withOtp: values['with-otp'],
        withKeys: values['with-keys'],
        withSigningKeys: values['with-signing-keys'],
        sealFor: sealFor?.toString('base64'),
      },
      (chunk) => write(out, chunk),
      {
        onStart: (_, total) => bar?.start(total, 0, payload()),
        onOrg: (done) => {
          orgs = done;
          bar?.update(rows, payload());
        },
        onRows: (n) => {
          rows += n;
          bar?.update(rows, payload());
        },
      },
    );
    bar?.stop();
    if (!toStdout) {
      (out as WriteStream).end();
      await once(out, 'finish');
      io.stderr.write(`exported ${count} org(s) to ${values.out}\n`);
    }
    return 0;
  } finally {
    bar?.stop();
    await db.close();
  }
}

/**
 * Yields the elements of the document's top-level "orgs" array one at a time, without
 * loading the file. A document without that array is not an export: `{"foo":1}` must
 * not pass for an empty one.
 */
const VALUE_STARTS = new Set(['startObject', 'startArray', 'startString', 'startNumber', 'nullValue', 'trueValue', 'falseValue']);

/** The orgs of the document one by one, and its `pcaInstance` section, in the order they come. */
async function* streamDocument(input: NodeJS.ReadableStream): AsyncGenerator<{ kind: 'org' | 'instance'; value: unknown }> {
  let depth = 0;
  let key: unknown;
  let sawOrgs = false;
  // What each value the pick lets through is, noted as it starts (the pick keeps their order).
  const kinds: ('org' | 'instance')[] = [];
  const watch = (token: { name: string; value?: unknown }) => {
    if (VALUE_STARTS.has(token.name)) {
      if (depth === 1 && key === 'pcaInstance') kinds.push('instance');
      else if (depth === 2 && key === 'orgs') kinds.push('org');
    }
    if (token.name === 'startObject' || token.name === 'startArray') depth++;
    else if (token.name === 'endObject' || token.name === 'endArray') depth--;
    else if (depth === 1 && token.name === 'keyValue') {
      key = token.value;
      if (key === 'orgs') sawOrgs = true;
    }
    return token;
  };
  const wanted = (stack: unknown[]) => (stack.length === 1 && stack[0] === 'pcaInstance') || (stack.length === 2 && stack[0] === 'orgs');
  // stream-chain's typings cannot express a parser pipeline of differing stream types.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const pipeline = chain([input, parser(), watch, pick({ filter: wanted as any }), streamValues()] as any[]);
  for await (const item of pipeline as AsyncIterable<{ key: number; value: unknown }>) yield { kind: kinds.shift() ?? 'org', value: item.value };
  if (!sawOrgs) throw new Error('the document has no top-level "orgs" array');
}

/**
 * `import --in FILE` ("-" for stdin). Orgs are read from the file as a stream and each
 * is imported as soon as it has been read. Prints the per-org report as JSON; exit 1
 * when an org failed, 2 on unusable input.
 */
export async function importCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, io: CliIo = defaultIo()): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { in: { type: 'string', short: 'i' }, 'dry-run': { type: 'boolean', default: false }, 'on-conflict': { type: 'string' } },
    strict: true,
  });
  const onConflict = values['on-conflict'] ?? 'overwrite';
  if (!values.in || !isConflictPolicy(onConflict)) {
    io.stderr.write('usage: import --in FILE.json [--dry-run] [--on-conflict fail|skip|overwrite]\n');
    return 2;
  }
  const fromStdin = values.in === '-';
  let size = 0;
  if (!fromStdin) {
    try {
      size = (await stat(values.in)).size;
    } catch {
      io.stderr.write(`cannot read ${values.in}\n`);
      return 2;
    }
  }
  const config = loadConfig(env);
  const { db } = await openMigratedDatabase(config);
  const input = fromStdin ? process.stdin : createReadStream(values.in);
  let read = 0;
  input.on('data', (c: Buffer | string) => (read += c.length));
  // The bar runs over the bytes of the file (the number of orgs and rows is known only at
  // its end); the rows counter moves batch by batch inside a large org.
  const bar =
    size && io.stderr.isTTY
      ? new SingleBar(
          {
            format: 'import [{bar}] {percentage}% | {orgs} org(s) | {rows} users and service accounts | {rate}/s | ETA {eta_formatted}',
            stream: io.stderr as NodeJS.WritableStream,
            hideCursor: true,
          },
          Presets.shades_classic,
        )
      : undefined;
  const orgs: OrgResult[] = [];
  let instance: InstanceResult | undefined;
  const started = Date.now();
  let rows = 0;
  const payload = () => ({ orgs: orgs.length, rows, rate: Math.round(rows / Math.max(0.001, (Date.now() - started) / 1000)) });
  const opts = {
    argon: argon2Params(config),
    baseDomain: config.BASE_DOMAIN,
    applications: config,
    actor: 'system' as const,
    masterKey: loadMasterKey(config.MASTER_KEY, config.DATA_DIR).key,
    jwksAllow: allowList(config.CLIENT_JWKS_ALLOW_CIDRS),
    onRows: (n: number) => {
      rows += n;
      bar?.update(read, payload());
    },
    dryRun: values['dry-run'],
    onConflict,
    // The report on stdout carries a safe description; the operator's terminal gets the full error.
    onFailure: (err: unknown, orgId: string) => io.stderr.write(`org ${orgId} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`),
  };
  bar?.start(size, 0, payload());
  try {
    for await (const { kind, value } of streamDocument(input)) {
      if (kind === 'instance') instance = await importInstance(db.prisma, value, opts);
      else orgs.push(await importOrg(db.prisma, value, orgs.length, opts));
      bar?.update(read, payload());
    }
  } catch (err) {
    bar?.stop();
    io.stderr.write(`${values.in} is not a valid export document: ${(err as Error).message}\n`);
    await db.close();
    return 2;
  }
  bar?.update(size, payload());
  bar?.stop();
  await db.close();
  io.stdout.write(JSON.stringify({ ...(values['dry-run'] ? { dryRun: true } : {}), ...(instance ? { instance } : {}), orgs }, null, 2) + '\n');
  return orgs.some((o) => o.status === 'failed') || instance?.status === 'failed' ? 1 : 0;
}
