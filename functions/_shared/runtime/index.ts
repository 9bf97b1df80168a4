import { type Clock, systemClock } from '../clock.ts';
import { type Config, ConfigError, type Env, parseConfig } from '../config/index.ts';
import { createPostgresDb } from '../db/postgres.ts';
import type { Db } from '../db/types.ts';
import { createLogger, type Logger } from '../log/index.ts';

/** What every function factory receives: the outside world, built once per process. */
export interface Runtime {
  readonly config: Config;
  readonly db: Db;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly fetch: typeof fetch;
  /**
   * Keeps work going after the response: `EdgeRuntime.waitUntil` on Supabase, a tracked
   * promise locally (the server waits for them on shutdown).
   */
  readonly background: (task: Promise<unknown>) => void;
}

/** The pool `DATABASE_URL` and the pool settings of the config describe. */
export function openConfiguredDb(
  url: string,
  settings: Pick<Config['database'], 'poolSize' | 'prepare'>,
): Db {
  return createPostgresDb({ url, max: settings.poolSize, prepare: settings.prepare });
}

/** Supabase's edge runtime global, present only there. */
declare const EdgeRuntime: { waitUntil(promise: Promise<unknown>): void } | undefined;

function edgeBackground(logger: Logger): (task: Promise<unknown>) => void {
  return (task) => {
    const guarded = task.catch((error) => logger.error('background task failed', { error }));
    if (typeof EdgeRuntime !== 'undefined') EdgeRuntime.waitUntil(guarded);
  };
}

/**
 * Builds the runtime of a deployed edge function from its environment: parses the config
 * (throwing {@link ConfigError} naming each bad variable) and opens the database pool.
 * On Supabase `SUPABASE_DB_URL` is injected, so `DATABASE_URL` is optional there.
 *
 * @example
 * // supabase/functions/health/index.ts
 * Deno.serve(createHealthApp(createEdgeRuntime(Deno.env.toObject())).fetch);
 */
export function createEdgeRuntime(env: Env): Runtime {
  const config = parseConfig(env);
  if (config.database.url === null) {
    throw new ConfigError([
      'DATABASE_URL: required for a deployed function (SUPABASE_DB_URL is used when set)',
    ]);
  }
  const logger = createLogger({ level: config.log.level });
  const db = openConfiguredDb(config.database.url, config.database);
  return {
    config,
    db,
    logger,
    clock: systemClock,
    fetch: globalThis.fetch.bind(globalThis),
    background: edgeBackground(logger),
  };
}
