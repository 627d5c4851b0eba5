// Admin commands: npm run cli -- <command> [options]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { bootstrap } from './bootstrap/bootstrap.js';
import { announceBootstrap } from './bootstrap/credentials-file.js';
import { ConfigError, loadConfig } from './platform/config.js';
import { listMigrations } from './platform/migrate.js';
import { openMigratedDatabase } from './platform/start.js';
import { restoreEmbedded } from './platform/db.js';
import { generatePat } from './principals/pat.js';
import { exportCommand, importCommand } from './export/cli.js';
import { rotateKeys } from './oauth/keys.js';
import { createTenant } from './tenants/service.js';
import { tenantCreate } from './tenants/schemas.js';
import { AppError } from './platform/errors.js';
import { dbErrorFacts } from './platform/db-errors.js';
import { loadMasterKey } from './platform/secrets.js';

const HELP = `Usage: npm run cli -- <command> [options]

Commands:
  migrate                         apply pending database migrations and exit
  migrations                      list the migrations this build contains
  bootstrap                       create the operator tenant and admins if absent (prints credentials once)
  new-pat                         print a freshly generated PAT (e.g. for BOOTSTRAP_ADMIN_PAT)
  create-tenant --name N [--subdomain S]
                                  create a tenant and print its id
  export --out FILE|- [--org ID]... [--exclude-org ID]... [--with-passwords] [--with-otp] [--with-keys]
                                  export tenants in ZITADEL's instance-export format (streamed)
  import --in FILE|-              import such a document (ours or ZITADEL's), idempotently
  restore --from FILE             put a backup of the embedded database (POST /admin/v1/backup) in place,
                                  into a DATA_DIR that holds no database yet
  rotate-keys                     rotate the token signing keys: the published next key starts signing;
                                  the current one stays published until its tokens expire
  help                            this text

The database is the one the server would use (DATABASE_URL, or the embedded one under DATA_DIR).`;

type Command = (args: string[]) => Promise<number>;

/** A refusal in one line, as the API words it; undefined for errors that are no refusal. */
function cliMessage(err: unknown): string | undefined {
  if (err instanceof AppError) return err.message;
  // A unique index refused what a concurrent write took between the check and the insert.
  if (dbErrorFacts(err).codes.has('P2002') || dbErrorFacts(err).codes.has('23505')) return 'already exists (created concurrently); nothing was written';
  return undefined;
}

async function withDatabase<T>(fn: (ctx: Awaited<ReturnType<typeof openMigratedDatabase>> & { config: ReturnType<typeof loadConfig> }) => Promise<T>) {
  const config = loadConfig();
  const opened = await openMigratedDatabase(config);
  try {
    return await fn({ ...opened, config });
  } finally {
    await opened.db.close();
  }
}

const commands: Record<string, Command> = {
  async migrate() {
    return withDatabase(async ({ applied }) => {
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      return 0;
    });
  },
  async migrations() {
    for (const m of listMigrations()) console.log(`${m.name}  ${m.checksum.slice(0, 12)}`);
    return 0;
  },
  async bootstrap() {
    return withDatabase(async ({ db, config }) => {
      const created = await bootstrap(db, config);
      if (created) announceBootstrap(created, config.DATA_DIR);
      else console.log('already bootstrapped; nothing printed');
      return 0;
    });
  },
  async 'new-pat'() {
    console.log(generatePat());
    return 0;
  },
  async 'create-tenant'(args) {
    const { values } = parseArgs({ args, options: { name: { type: 'string' }, subdomain: { type: 'string' } } });
    if (!values.name) {
      console.error('create-tenant: --name is required');
      return 2;
    }
    // The same input rules and the same command as POST /api/v3/tenants.
    const input = tenantCreate.safeParse({ name: values.name, ...(values.subdomain !== undefined ? { subdomain: values.subdomain } : {}) });
    if (!input.success) {
      const issue = input.error.issues[0]!;
      console.error(`create-tenant: --${String(issue.path[0] ?? 'name')} ${issue.message}`);
      return 2;
    }
    return withDatabase(async ({ db, config }) => {
      try {
        const tenant = await createTenant({ prisma: db.prisma, principal: 'system' }, input.data, config, 'cli');
        console.log(tenant.id);
        return 0;
      } catch (err) {
        const message = cliMessage(err);
        if (!message) throw err;
        console.error(`create-tenant: ${message}`);
        return 1;
      }
    });
  },
  async 'rotate-keys'() {
    return withDatabase(async ({ db, config }) => {
      const active = await rotateKeys(db.prisma, loadMasterKey(config.MASTER_KEY, config.DATA_DIR).key);
      console.log(`Signing keys rotated. Active key ids: ${active.join(', ')}`);
      console.log('Running instances pick the new keys up within a minute.');
      return 0;
    });
  },
  async restore(args) {
    const { values } = parseArgs({ args, options: { from: { type: 'string' } } });
    if (!values.from) {
      console.error('restore: --from FILE is required (a backup from POST /admin/v1/backup)');
      return 2;
    }
    const config = loadConfig();
    if (config.DATABASE_URL) {
      console.error('restore: DATABASE_URL is set; a PostgreSQL server is restored with pg_restore (docs/export.md)');
      return 2;
    }
    let tarball: Buffer;
    try {
      tarball = readFileSync(values.from);
    } catch {
      console.error(`restore: cannot read ${values.from}`);
      return 2;
    }
    try {
      await restoreEmbedded(config.DATA_DIR, tarball);
    } catch (err) {
      console.error(`restore: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
    console.log(`restored into ${config.DATA_DIR}; start the server with the MASTER_KEY (or master.key) of the backed-up one`);
    return 0;
  },
  export: (args) => exportCommand(args),
  import: (args) => importCommand(args),
  async help() {
    console.log(HELP);
    return 0;
  },
};

async function main() {
  const [name = 'help', ...rest] = process.argv.slice(2);
  const command = commands[name];
  if (!command) {
    console.error(`unknown command "${name}"\n\n${HELP}`);
    return 2;
  }
  return command(rest);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? err.message : `error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
