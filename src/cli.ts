// Admin commands: npm run cli -- <command> [options]
import { parseArgs } from 'node:util';
import { bootstrap, bootstrapBanner } from './bootstrap/bootstrap.js';
import { ConfigError, loadConfig } from './platform/config.js';
import { listMigrations } from './platform/migrate.js';
import { openMigratedDatabase } from './platform/start.js';
import { generatePat } from './principals/pat.js';
import { exportCommand, importCommand } from './export/cli.js';
import { rotateKeys } from './oauth/keys.js';
import { createAnalyticsUiApplication } from './oauth/applications.js';
import { audit } from './audit/audit.js';
import { loadMasterKey } from './platform/secrets.js';

const HELP = `Usage: npm run cli -- <command> [options]

Commands:
  migrate                         apply pending database migrations and exit
  migrations                      list the migrations this build contains
  bootstrap                       create the operator tenant and admins if absent (prints credentials once)
  new-pat                         print a freshly generated PAT (e.g. for BOOTSTRAP_ADMIN_PAT)
  create-tenant --name N [--subdomain S]
                                  create a tenant and print its id
  export --out FILE|- [--org ID]... [--exclude-org ID]... [--with-passwords]
                                  export tenants in ZITADEL's instance-export format (streamed)
  import --in FILE|-              import such a document (ours or ZITADEL's), idempotently
  rotate-keys                     rotate the token signing keys: the published next key starts signing;
                                  the current one stays published until its tokens expire
  help                            this text

The database is the one the server would use (DATABASE_URL, or the embedded one under DATA_DIR).`;

type Command = (args: string[]) => Promise<number>;

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
      console.log(created ? bootstrapBanner(created) : 'already bootstrapped; nothing printed');
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
    return withDatabase(async ({ db, config }) => {
      const tenant = await db.prisma.$transaction(async (tx) => {
        const created = await tx.tenant.create({
          data: {
            name: values.name!,
            identity: values.subdomain ? { create: { subdomain: values.subdomain, name: values.name! } } : undefined,
          },
        });
        // As through the API: every tenant gets its AnalyticsUI application.
        await createAnalyticsUiApplication(tx, created.id, values.subdomain, config);
        await audit(tx, 'system', { tenantId: created.id, action: 'tenant.created', targetType: 'tenant', targetId: created.id, details: { via: 'cli' } });
        return created;
      });
      console.log(tenant.id);
      return 0;
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
