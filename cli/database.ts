import { join } from 'node:path';
import type { Config } from '../functions/_shared/config/index.ts';
import {
  createPostgresDb,
  describeDatabaseUrl,
  type PoolMetrics,
  type PostgresDbOptions,
} from '../functions/_shared/db/postgres.ts';
import type { Db } from '../functions/_shared/db/types.ts';
import { openPools } from '../functions/_shared/runtime/pools.ts';
import { type DataDirLock, DataDirLockedError, lockDataDir } from './data-dir-lock.ts';
import { EMBEDDED_POOL, startEmbeddedDatabase } from './embedded-db.ts';
import { dataDirStartupError } from './startup-errors.ts';

export interface OpenedDatabase {
  /** The requests' pool: every call bounded by GATEHOUSE_DB_TIMEOUT_MS. */
  readonly db: Db;
  /** The job engine's own pool. */
  readonly jobsDb: Db;
  /**
   * For operator work (migrations, `gatehouse dlq`, `queue health`): no client deadline
   * and no server-side statement timeout, so a long migration or bulk replay may finish.
   */
  readonly adminDb: Db;
  /** Where it is, without a password: for the start-up banner. */
  readonly description: string;
  readonly embedded: boolean;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  readonly warn?: (message: string) => void;
  /** Run PGlite in a thread of its own (the server, under Deno). */
  readonly inWorker?: boolean;
  /**
   * When a running local server holds the embedded database, connect to it through the
   * port it serves (the CLI's commands) instead of refusing; `warn` says so.
   */
  readonly viaRunningServer?: boolean;
  /** Where the requests' and jobs' pools record their waits (the server's metrics). */
  readonly metrics?: PoolMetrics;
}

/**
 * `DATABASE_URL` set → pools on that Postgres; unset → the embedded PGlite in
 * `<dataDir>/pglite`, served on `embeddedPort` (a free port if that one is taken), or, with
 * `viaRunningServer`, the one a running local server already serves.
 */
export async function openDatabase(
  config: Config,
  options: OpenDatabaseOptions = {},
): Promise<OpenedDatabase> {
  const metrics = options.metrics;
  if (config.database.url !== null) {
    return openRemote(config.database.url, config, describeDatabaseUrl(config.database.url), {
      metrics,
    });
  }
  let lock: DataDirLock;
  try {
    lock = await lockDataDir(config.dataDir);
  } catch (error) {
    const holder = error instanceof DataDirLockedError ? error.holder : null;
    if (options.viaRunningServer && holder?.url) {
      options.warn?.(
        `the local server (pid ${holder.pid}) has the embedded database open: using it ` +
          `through ${describeDatabaseUrl(holder.url)}`,
      );
      // The embedded database runs one session's statements at a time: one connection.
      return openRemote(
        holder.url,
        config,
        `${describeDatabaseUrl(holder.url)} (the running server's embedded database)`,
        { ...EMBEDDED_POOL, metrics },
      );
    }
    throw dataDirStartupError(error, config.dataDir) ?? error;
  }
  const release = () => lock.release();
  const dataDir = join(config.dataDir, 'pglite');
  try {
    const start = (port: number) =>
      startEmbeddedDatabase({ dataDir, port, inWorker: options.inWorker });
    let embedded;
    try {
      embedded = await start(config.database.embeddedPort);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
      options.warn?.(
        `port ${config.database.embeddedPort} is taken; the embedded database uses a free port instead`,
      );
      embedded = await start(0);
    }
    const started = embedded;
    await lock.announce(started.url);
    const pools = openPools(started.url, config.database, {
      ...EMBEDDED_POOL,
      applicationName: 'gatehouse-embedded',
      metrics,
    });
    return {
      db: pools.db,
      jobsDb: pools.jobsDb,
      adminDb: started.db,
      description: `${started.url} (embedded PGlite, data in ${dataDir})`,
      embedded: true,
      async close() {
        try {
          await pools.close(2);
          await started.stop();
        } finally {
          await release();
        }
      },
    };
  } catch (error) {
    await release();
    throw error;
  }
}

/** Pools on the Postgres at `url` (or a running server's embedded database). */
function openRemote(
  url: string,
  config: Config,
  description: string,
  pool: Omit<Partial<PostgresDbOptions>, 'name'> = {},
): OpenedDatabase {
  const pools = openPools(url, config.database, pool);
  const adminDb = createPostgresDb({
    url,
    max: pool.max ?? 2,
    prepare: config.database.prepare,
    applicationName: 'gatehouse-admin',
  });
  return {
    db: pools.db,
    jobsDb: pools.jobsDb,
    adminDb,
    description,
    embedded: false,
    close: () => Promise.all([pools.close(5), adminDb.close(5)]).then(() => undefined),
  };
}
