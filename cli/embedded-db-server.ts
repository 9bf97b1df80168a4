/**
 * PGlite served over the Postgres wire protocol on 127.0.0.1: the part of the embedded
 * database that runs wherever `startEmbeddedDatabase` puts it (this thread, or a worker).
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** Wire connections the embedded server accepts at once (the server's pools use a few). */
export const EMBEDDED_MAX_CONNECTIONS = 8;

export interface EmbeddedServerOptions {
  /** Folder for the data files; omitted → in memory (tests). */
  readonly dataDir?: string;
  /** Loopback port for the wire protocol; 0 picks a free one. */
  readonly port?: number;
}

export interface EmbeddedServer {
  readonly port: number;
  /** Stops the listener and closes PGlite (flushing data to disk). */
  stop(): Promise<void>;
}

/** Starts PGlite and its wire-protocol listener. */
export async function serveEmbedded(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const pglite = await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : {});
  const server = new PGLiteSocketServer({
    db: pglite,
    host: '127.0.0.1',
    port: options.port ?? 0,
    // The server queues every connection's messages onto the one PGlite session and keeps a
    // transaction's statements together, so psql can connect beside the server's own pools.
    maxConnections: EMBEDDED_MAX_CONNECTIONS,
  });
  try {
    await server.start();
  } catch (error) {
    await pglite.close();
    throw error;
  }
  const address = server.getServerConn();
  return {
    port: Number(address.slice(address.lastIndexOf(':') + 1)),
    async stop() {
      await server.stop();
      await pglite.close();
    },
  };
}
