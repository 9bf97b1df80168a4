import type { DatabaseConfig } from '../config/database.ts';
import { createPostgresDb, type PostgresDbOptions } from '../db/postgres.ts';
import type { Db } from '../db/types.ts';

/**
 * The job engine's bounds. A job statement may do real work (a retention purge, an app's
 * handler), so its deadline is longer than a request's; the server ends one still running
 * after the default job timeout, and a transaction a handler left idle after twice that.
 */
export const JOB_DB_TIMEOUT_MS = 30_000;
export const JOB_STATEMENT_TIMEOUT_MS = 60_000;
export const JOB_IDLE_IN_TRANSACTION_MS = 120_000;
/** A request's transaction idle this long is ended by the server (its client is gone). */
export const REQUEST_IDLE_IN_TRANSACTION_MS = 30_000;

export interface Pools {
  /** Requests: intake, health, APIs. Every call bounded by `timeoutMs`. */
  readonly db: Db;
  /** The job engine's own connections: jobs can never take the ones requests need. */
  readonly jobsDb: Db;
  close(timeoutSeconds?: number): Promise<void>;
}

/** The pools' names in metrics (`gatehouse_db_pool_*{pool}`). */
export const POOL_NAMES = { requests: 'requests', jobs: 'jobs' } as const;

/**
 * Opens the two pools a process uses on one database, from the database settings, named
 * {@link POOL_NAMES}. `overrides` adjusts both (the embedded database: one connection each;
 * `metrics`: the process's recorders, which both pools record their waits into).
 *
 * @example
 * const pools = openPools(config.database.url!, config.database, { metrics: record });
 * await pools.db.query('select 1'); // answers, or DatabaseTimeoutError after 3 s
 */
export function openPools(
  url: string,
  database: Omit<DatabaseConfig, 'url' | 'embeddedPort'>,
  overrides: Omit<Partial<PostgresDbOptions>, 'name'> = {},
): Pools {
  const db = createPostgresDb({
    url,
    max: database.poolSize,
    prepare: database.prepare,
    timeoutMs: database.timeoutMs,
    statementTimeoutMs: database.statementTimeoutMs,
    lockTimeoutMs: database.lockTimeoutMs,
    idleInTransactionTimeoutMs: REQUEST_IDLE_IN_TRANSACTION_MS,
    name: POOL_NAMES.requests,
    ...overrides,
  });
  const jobsDb = createPostgresDb({
    url,
    max: database.jobPoolSize,
    prepare: database.prepare,
    timeoutMs: JOB_DB_TIMEOUT_MS,
    statementTimeoutMs: database.statementTimeoutMs === 0 ? 0 : JOB_STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: database.lockTimeoutMs,
    idleInTransactionTimeoutMs: JOB_IDLE_IN_TRANSACTION_MS,
    applicationName: 'gatehouse-jobs',
    name: POOL_NAMES.jobs,
    ...overrides,
  });
  return {
    db,
    jobsDb,
    async close(timeoutSeconds = 5) {
      await Promise.all([db.close(timeoutSeconds), jobsDb.close(timeoutSeconds)]);
    },
  };
}
