import { z } from 'zod';
import { wholeNumber } from './fields.ts';

/** Defaults of the database settings; each has an environment variable (docs/configuration.md). */
export const DATABASE_DEFAULTS = {
  poolSize: 10,
  timeoutMs: 3_000,
  statementTimeoutMs: 5_000,
  lockTimeoutMs: 2_000,
} as const;

export interface DatabaseConfig {
  /** `null` → the local server starts the embedded PGlite. */
  readonly url: string | null;
  /** Connections serving requests (intake, health, APIs). */
  readonly poolSize: number;
  /**
   * Connections of the job engine's own pool, so jobs never take the requests' ones. By
   * default one per concurrent job plus one, so the lease heartbeat and the next claim never
   * wait behind handlers' transactions.
   */
  readonly jobPoolSize: number;
  readonly prepare: boolean;
  readonly embeddedPort: number;
  /**
   * How long a request waits on the database (a statement, a connection, a commit) before
   * it is answered 503 with `Retry-After`.
   */
  readonly timeoutMs: number;
  /** Server-side `statement_timeout` of request connections; 0 sends none. */
  readonly statementTimeoutMs: number;
  /** Server-side `lock_timeout` of request and job connections; 0 sends none. */
  readonly lockTimeoutMs: number;
}

/** The database variables beyond the connection string, merged into the main schema. */
export const databaseEnvShape = {
  GATEHOUSE_DB_POOL_SIZE: wholeNumber(1, 100),
  GATEHOUSE_DB_JOB_POOL_SIZE: wholeNumber(1, 100),
  GATEHOUSE_DB_TIMEOUT_MS: wholeNumber(100, 120_000),
  GATEHOUSE_DB_STATEMENT_TIMEOUT_MS: wholeNumber(0, 86_400_000),
  GATEHOUSE_DB_LOCK_TIMEOUT_MS: wholeNumber(0, 86_400_000),
};

type DatabaseEnv = {
  readonly [K in keyof typeof databaseEnvShape]?: z.output<(typeof databaseEnvShape)[K]>;
};

/** Builds the pool and timeout settings (the URL, port and prepare flag come from the caller). */
export function databaseSettings(
  parsed: DatabaseEnv,
  workerConcurrency: number,
): Omit<DatabaseConfig, 'url' | 'prepare' | 'embeddedPort'> {
  return {
    poolSize: parsed.GATEHOUSE_DB_POOL_SIZE ?? DATABASE_DEFAULTS.poolSize,
    jobPoolSize: parsed.GATEHOUSE_DB_JOB_POOL_SIZE ?? Math.min(100, workerConcurrency + 1),
    timeoutMs: parsed.GATEHOUSE_DB_TIMEOUT_MS ?? DATABASE_DEFAULTS.timeoutMs,
    statementTimeoutMs: parsed.GATEHOUSE_DB_STATEMENT_TIMEOUT_MS ??
      DATABASE_DEFAULTS.statementTimeoutMs,
    lockTimeoutMs: parsed.GATEHOUSE_DB_LOCK_TIMEOUT_MS ?? DATABASE_DEFAULTS.lockTimeoutMs,
  };
}
