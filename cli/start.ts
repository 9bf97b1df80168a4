import { join, resolve } from 'node:path';
import { systemClock } from '../functions/_shared/clock.ts';
import { type Config, type Env, parseConfig } from '../functions/_shared/config/index.ts';
import { createLogger, type Logger } from '../functions/_shared/log/index.ts';
import type { Runtime } from '../functions/_shared/runtime/index.ts';
import { type GatehouseApp, NO_APP } from '../functions/_shared/app.ts';
import { openDatabase, type OpenedDatabase } from './database.ts';
import { createAdmission } from '../functions/_shared/http/admission.ts';
import {
  createProcessMetrics,
  type ProcessMetrics,
  processRecorders,
} from '../functions/_shared/metrics/process.ts';
import { createMetrics } from '../functions/_shared/metrics/registry.ts';
import { installCrashGuard } from '../functions/_shared/runtime/crash-guard.ts';
import { trackedOnce } from '../functions/_shared/runtime/background.ts';
import { DatabaseUnavailableError } from '../functions/_shared/db/types.ts';
import {
  databaseLostStartupError,
  databaseStartupError,
  dataDirStartupError,
  portStartupError,
  StartupError,
} from './startup-errors.ts';
import { ensureDevelopmentSecrets, type GeneratedSecretName } from './dev-secrets.ts';
import { FUNCTIONS } from './functions.ts';
import { type LocalAuth, startLocalAuth, wantsLocalAuth } from './local-auth/index.ts';
import { createLocalRouter, type FetchApp } from './local-router.ts';
import { otherOrigins, type WebConfig } from './web-headers.ts';
import { loadMigrationFiles, runMigrations } from './migrate.ts';
import { startEmbeddedVacuum } from './embedded-vacuum.ts';
import type { Periodic } from './periodic.ts';
import { registerFlags } from '../functions/_shared/flags/index.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import { printBanner, switchedOffFlags } from './banner.ts';
import { type Scheduler, startScheduler } from './scheduler.ts';
import type { Sandbox } from './sandbox/index.ts';

export interface HttpServer {
  /** The port actually bound (differs from the asked one when that was 0). */
  readonly port: number;
  /** Stops accepting connections and resolves once in-flight requests have finished. */
  shutdown(): Promise<void>;
}

export type Serve = (
  options: { hostname: string; port: number },
  handler: (request: Request) => Response | Promise<Response>,
) => Promise<HttpServer>;

export interface StartOptions {
  /** The environment (`.env` merged under the real one). */
  readonly env: Env;
  /** The project folder: `migrations/` is read from here. */
  readonly projectRoot: string;
  readonly serve: Serve;
  /** Serves the web build at `/`. */
  readonly web: FetchApp;
  /** Answers unknown functions (a 404 problem). */
  readonly notFound: (logger: Logger) => FetchApp;
  /** Human-readable output (the banner); defaults to console.log. */
  readonly print?: (line: string) => void;
  /** The app built on the platform (`functions/_app`'s, from the command); none by default. */
  readonly app?: GatehouseApp;
  /** The development sandbox the env was filled for (`withSandbox`): its `fetch`, the banner. */
  readonly sandbox?: Sandbox | null;
}

export { StartupError } from './startup-errors.ts';

export interface RunningGatehouse {
  readonly config: Config;
  readonly url: string;
  /** Drains in-flight requests, closes the database; resolves true when done in time. */
  stop(deadlineMs?: number): Promise<boolean>;
}

/** How long shutdown may take before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * `gatehouse start`: config → the HTTP port (bound first, so a taken port is reported before
 * anything else happens; requests meanwhile get 503 "starting") → database (embedded unless
 * DATABASE_URL) → migrations → every function mounted under /functions/v1 → banner with URLs
 * (and, in development, the generated secrets with a ready-to-paste example).
 *
 * Failures a person can fix (a taken port, an unreachable or missing database) throw
 * {@link StartupError} with one line saying what to do.
 */
export async function startGatehouse(options: StartOptions): Promise<RunningGatehouse> {
  const print = options.print ?? ((line: string) => console.log(line));
  let env = options.env;
  let filled: Partial<Record<GeneratedSecretName, string>> = {};
  if (env.GATEHOUSE_ENV?.trim() !== 'production') {
    const dataDir = resolve(options.projectRoot, env.GATEHOUSE_DATA_DIR?.trim() || '.data');
    try {
      ({ env, filled } = await ensureDevelopmentSecrets(env, dataDir));
    } catch (error) {
      throw dataDirStartupError(error, dataDir) ?? error;
    }
  }
  const parsed = parseConfig(env);
  const config: Config = { ...parsed, dataDir: resolve(options.projectRoot, parsed.dataDir) };
  const logger = createLogger({ level: config.log.level, base: { service: 'gatehouse' } });
  const guard = installCrashGuard({ logger });

  let handler: (request: Request) => Response | Promise<Response> = startingUp;
  let server: HttpServer;
  try {
    server = await options.serve(
      { hostname: config.host, port: config.port },
      (request) => handler(request),
    );
  } catch (error) {
    throw portStartupError(error, config.host, config.port) ?? error;
  }
  const base = `http://${config.host}:${server.port}`;

  // Work started after a response (a detached promise locally); shutdown waits for it.
  const background = new Set<Promise<unknown>>();
  let database: OpenedDatabase | undefined;
  let scheduler: Scheduler;
  let vacuum: Periodic | null = null;
  let metrics: ProcessMetrics;
  let flushTimer: ReturnType<typeof setInterval> | undefined;
  let localAuth: LocalAuth | null = null;
  // The pools record into the registry before the metrics' flush, which needs one, exists.
  const registry = createMetrics();
  /** What start-up was doing, for the line that says the database went away meanwhile. */
  let doing = 'connecting';
  try {
    database = await openDatabase(config, {
      warn: (message) => logger.warn(message),
      inWorker: true,
      metrics: processRecorders(registry, config.metrics.enabled),
    });
    await database.adminDb.query('select 1', [], { timeoutMs: DATABASE_CHECK_TIMEOUT_MS })
      .catch((error) => {
        throw databaseStartupError(error, database!.description);
      });
    const files = await loadMigrationFiles(join(options.projectRoot, 'migrations'));
    doing = 'applying migrations';
    await runMigrations(database.adminDb, files, {
      log: (line) => logger.info(line, { component: 'migrate' }),
    });
    doing = 'starting';
    const added = await registerFlags(database.adminDb, options.app?.flags).catch((error) => {
      if (error instanceof TypeError) throw new StartupError(`${error.message} (functions/_app)`);
      throw error;
    });
    if (added.length > 0) logger.info("added the app's flags", { flags: added });
    localAuth = wantsLocalAuth(config)
      ? await startLocalAuth(config, database.adminDb, base)
      : null;
    const backgroundTask = trackedOnce((task) => {
      const guarded = task.catch((error) => logger.error('background task failed', { error }))
        .finally(() => background.delete(guarded));
      background.add(guarded);
    });
    metrics = createProcessMetrics(database.jobsDb, {
      ...config.metrics,
      registry,
      clock: systemClock,
      logger,
      background: backgroundTask,
      timeoutMs: config.database.timeoutMs,
    });
    const shared: Runtime = {
      config: localAuth?.config ?? config,
      db: database.db,
      jobsDb: database.jobsDb,
      logger,
      clock: systemClock,
      fetch: options.sandbox?.fetch ?? globalThis.fetch.bind(globalThis),
      background: backgroundTask,
      admission: createAdmission(config.http),
      faults: guard.counts,
      app: options.app ?? NO_APP,
      metrics,
    };
    // One job engine for the process: every function mounted here and the scheduler share
    // its slots and its pace (each would otherwise make its own, as deployed).
    const jobs = createJobRunner(shared);
    const runtime: Runtime = { ...shared, jobs };
    const functions = Object.fromEntries(
      Object.entries(FUNCTIONS).map(([name, build]) => [name, build(runtime)]),
    );
    handler = createLocalRouter({
      functions,
      web: options.web,
      notFound: options.notFound(logger),
      ...(localAuth ? { auth: localAuth.app } : {}),
      ...webSettings(base, config, localAuth),
    });
    if (config.metrics.enabled) {
      // Requests start a flush when one is due; the timer covers a process gone quiet.
      flushTimer = setInterval(() => {
        if (metrics.flusher.due()) backgroundTask(metrics.flusher.flush());
      }, config.metrics.flushIntervalMs);
    }
    scheduler = startScheduler({
      runner: jobs,
      intervalMs: config.queue.schedulerIntervalMs,
      logger: logger.child({ component: 'scheduler' }),
    });
    // PGlite has no autovacuum of its own (single-user mode): the server stands in for it.
    if (database.embedded) {
      vacuum = startEmbeddedVacuum({
        db: database.adminDb,
        logger: logger.child({ component: 'vacuum' }),
        shouldYield: () => runtime.admission.pressed(),
      });
    }
  } catch (error) {
    clearInterval(flushTimer);
    await server.shutdown().catch(() => {});
    await database?.close();
    guard.uninstall();
    if (error instanceof DatabaseUnavailableError && database) {
      throw databaseLostStartupError(error, database.description, doing);
    }
    throw error;
  }
  const opened = database;

  printBanner(print, {
    config,
    base,
    database: opened.description,
    filled,
    anonKey: localAuth?.anonKey ?? null,
    sandbox: options.sandbox ?? null,
    // Only a note in the banner: a database that cannot say leaves every provider unmarked.
    switchedOff: await switchedOffFlags(opened.adminDb, config).catch(() => new Set<string>()),
  });

  let stopping: Promise<boolean> | undefined;
  return {
    config,
    url: base,
    stop(deadlineMs = SHUTDOWN_DEADLINE_MS) {
      stopping ??= (async () => {
        const drained = await Promise.race([
          Promise.all([server.shutdown().then(() => Promise.all(background)), scheduler.stop()])
            .then(() => true),
          new Promise<false>((resolve) => setTimeout(() => resolve(false), deadlineMs - 2_000)),
        ]);
        clearInterval(flushTimer);
        await vacuum?.stop();
        // What was recorded since the last flush, the shutdown's own requests included.
        if (config.metrics.enabled) await metrics.flusher.flush();
        await opened.close();
        return drained;
      })();
      return stopping;
    },
  };
}

/**
 * What the web apps are told at `/config.json`, and the origins their pages may call: this
 * server with its local sign-in, else the Supabase project `SUPABASE_URL` names.
 */
function webSettings(base: string, config: Config, localAuth: LocalAuth | null) {
  const url = localAuth ? base : config.supabase.url;
  const anonKey = localAuth?.anonKey ?? config.supabase.anonKey;
  const webConfig: WebConfig | null = url && anonKey
    ? { supabase_url: url, supabase_anon_key: anonKey }
    : null;
  return { webConfig, webConnect: otherOrigins(base, [url]) };
}

/** How long start-up waits for the database's first answer before giving up. */
const DATABASE_CHECK_TIMEOUT_MS = 10_000;

/** The answer while the server starts: the port is bound before the database is ready. */
function startingUp(): Response {
  const body = {
    type: 'about:blank',
    title: 'Service Unavailable',
    status: 503,
    detail: 'Gatehouse is starting. Retry in a moment.',
    request_id: crypto.randomUUID(),
  };
  return new Response(JSON.stringify(body), {
    status: 503,
    headers: {
      'Content-Type': 'application/problem+json',
      'Retry-After': '1',
      'X-Request-Id': body.request_id,
      'Cache-Control': 'no-store',
    },
  });
}
