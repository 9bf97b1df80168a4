import { join } from 'node:path';
import type { Config } from '../functions/_shared/config/index.ts';
import { createPostgresDb, describeDatabaseUrl } from '../functions/_shared/db/postgres.ts';
import type { Db } from '../functions/_shared/db/types.ts';
import { openPools } from '../functions/_shared/runtime/pools.ts';
import { lockDataDir } from './data-dir-lock.ts';
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

/**
 * `DATABASE_URL` set → pools on that Postgres; unset → the embedded PGlite in
 * `<dataDir>/pglite`, served on `embeddedPort` (a free port if that one is taken). With
 * `inWorker` (the server, under Deno) PGlite runs in a thread of its own.
 */
export async function openDatabase(
  config: Config,
  options: { warn?: (message: string) => void; inWorker?: boolean } = {},
): Promise<OpenedDatabase> {
  if (config.database.url !== null) {
    const url = config.database.url;
    const pools = openPools(url, config.database);
    const adminDb = createPostgresDb({
      url,
      max: 2,
      prepare: config.database.prepare,
      applicationName: 'gatehouse-admin',
    });
    return {
      db: pools.db,
      jobsDb: pools.jobsDb,
      adminDb,
      description: describeDatabaseUrl(url),
      embedded: false,
      close: () => Promise.all([pools.close(5), adminDb.close(5)]).then(() => undefined),
    };
  }
  const release = await lockDataDir(config.dataDir).catch((error) => {
    throw dataDirStartupError(error, config.dataDir) ?? error;
  });
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
    const pools = openPools(started.url, config.database, {
      ...EMBEDDED_POOL,
      applicationName: 'gatehouse-embedded',
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
