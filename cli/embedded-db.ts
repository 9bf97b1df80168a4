import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import type { Db } from '../functions/_shared/db/types.ts';

/** Wire connections the embedded server accepts at once (the server's pool uses one). */
export const EMBEDDED_MAX_CONNECTIONS = 8;

export interface EmbeddedDatabaseOptions {
  /** Folder for the data files; omitted → in memory (tests). */
  dataDir?: string;
  /** Loopback port for the wire protocol; 0 picks a free one. */
  port?: number;
}

export interface EmbeddedDatabase {
  /** Connection string any Postgres client (psql, Studio-like tools) can use. */
  readonly url: string;
  readonly port: number;
  /** A postgres.js pool of size 1 over the wire connection. */
  readonly db: Db;
  /** Closes the pool, the listener and PGlite (flushing data to disk). */
  stop(): Promise<void>;
}

/**
 * Starts PGlite and serves it over the Postgres wire protocol on 127.0.0.1, so that the
 * same driver (postgres.js) and the same SQL run locally as in production.
 *
 * PGlite is a single-session database: statements from all connections run one at a time,
 * so the pool has size 1 and transactions are serialised, which is correct if slower.
 *
 * @example
 * const embedded = await startEmbeddedDatabase({ dataDir: '.data/pglite', port: 54322 });
 * await embedded.db.query('select 1');
 * await embedded.stop();
 */
export async function startEmbeddedDatabase(
  options: EmbeddedDatabaseOptions = {},
): Promise<EmbeddedDatabase> {
  const pglite = await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : {});
  const server = new PGLiteSocketServer({
    db: pglite,
    host: '127.0.0.1',
    port: options.port ?? 0,
    // The server queues every connection's messages onto the one PGlite session and keeps a
    // transaction's statements together, so psql can connect beside the server's own pool.
    maxConnections: EMBEDDED_MAX_CONNECTIONS,
  });
  try {
    await server.start();
  } catch (error) {
    await pglite.close();
    throw error;
  }
  const address = server.getServerConn();
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const db = createPostgresDb({ url, max: 1, applicationName: 'gatehouse-embedded' });
  let stopped = false;
  return {
    url,
    port,
    db,
    async stop() {
      if (stopped) return;
      stopped = true;
      await db.close(2);
      await server.stop();
      await pglite.close();
    },
  };
}
