import { join } from 'node:path';
import type { Config } from '../functions/_shared/config/index.ts';
import { describeDatabaseUrl } from '../functions/_shared/db/postgres.ts';
import { openConfiguredDb } from '../functions/_shared/runtime/index.ts';
import type { Db } from '../functions/_shared/db/types.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { startEmbeddedDatabase } from './embedded-db.ts';

export interface OpenedDatabase {
  readonly db: Db;
  /** Where it is, without a password: for the start-up banner. */
  readonly description: string;
  readonly embedded: boolean;
  close(): Promise<void>;
}

/**
 * `DATABASE_URL` set → a pool to that Postgres; unset → the embedded PGlite in
 * `<dataDir>/pglite`, served on `embeddedPort` (a free port if that one is taken).
 */
export async function openDatabase(
  config: Config,
  options: { warn?: (message: string) => void } = {},
): Promise<OpenedDatabase> {
  if (config.database.url !== null) {
    const db = openConfiguredDb(config.database.url, config.database);
    return {
      db,
      description: describeDatabaseUrl(config.database.url),
      embedded: false,
      close: () => db.close(5),
    };
  }
  const release = await lockDataDir(config.dataDir);
  const dataDir = join(config.dataDir, 'pglite');
  try {
    let embedded;
    try {
      embedded = await startEmbeddedDatabase({ dataDir, port: config.database.embeddedPort });
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
      options.warn?.(
        `port ${config.database.embeddedPort} is taken; the embedded database uses a free port instead`,
      );
      embedded = await startEmbeddedDatabase({ dataDir, port: 0 });
    }
    const started = embedded;
    return {
      db: started.db,
      description: `${started.url} (embedded PGlite, data in ${dataDir})`,
      embedded: true,
      async close() {
        try {
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
