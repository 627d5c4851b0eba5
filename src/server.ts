import { closeMetrics, listenMetrics } from './http/metrics.js';
import { ConfigError, loadConfig, type Config } from './platform/config.js';
import { loadMasterKey } from './platform/secrets.js';
import { chooseWasmTiers } from './platform/wasm.js';
import { openMigratedDatabase } from './platform/start.js';
import { isWellFormedPat } from './principals/pat.js';

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

function configOrExit(): Config {
  try {
    const config = loadConfig();
    if (config.BOOTSTRAP_ADMIN_PAT && !isWellFormedPat(config.BOOTSTRAP_ADMIN_PAT)) {
      throw new ConfigError('Invalid configuration: BOOTSTRAP_ADMIN_PAT: not a PAT of this server (generate one with `npm run cli -- new-pat`)');
    }
    return config;
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

async function main() {
  const config = configOrExit();
  chooseWasmTiers(config.WASM_OPTIMIZE);
  const { key: masterKey, generated } = loadMasterKey(config.MASTER_KEY, config.DATA_DIR);
  // The HTTP layer and the bootstrap load while the database opens (its WebAssembly compiles on
  // other threads). Loading errors surface where the modules are awaited; the handler only keeps
  // a database error from leaving them unhandled.
  const modules = Promise.all([import('./http/app.js'), import('./bootstrap/bootstrap.js'), import('./bootstrap/credentials-file.js')]);
  modules.catch(() => {});
  const { db, applied } = await openMigratedDatabase(config);
  const [{ buildApp }, { bootstrap }, { announceBootstrap }] = await modules;
  // The first start's bootstrap hashes the admin password on the thread pool while the routes compile here.
  const [app, created] = await Promise.all([buildApp({ config, db, masterKey }), bootstrap(db, config)]);
  if (generated) app.log.warn(`generated a master key in ${config.DATA_DIR}/master.key; set MASTER_KEY to share one between instances`);
  if (applied.length) app.log.info({ migrations: applied }, 'applied database migrations');

  // Only on the start that created them, and never into the JSON log on stdout.
  if (created) announceBootstrap(created, config.DATA_DIR);

  let stopping = false;
  // stop() is defined before the metrics listener exists and reads it when called.
  // eslint-disable-next-line prefer-const
  let metricsServer: Awaited<ReturnType<typeof listenMetrics>>;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    await Promise.all([app.close(), closeMetrics(metricsServer)]);
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.PORT, host: config.HOST });
  // Metrics on their own address when METRICS_LISTEN is set (the API port then does not serve them).
  metricsServer = await listenMetrics(app);
  app.log.info(`${db.kind === 'embedded' ? `embedded database in ${config.DATA_DIR}` : 'PostgreSQL server'}; public URL ${config.PUBLIC_URL}`);
}

main().catch((err) => fail(`Start-up failed: ${err instanceof Error ? err.message : String(err)}`));
