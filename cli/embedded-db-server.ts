/**
 * PGlite served over the Postgres wire protocol on 127.0.0.1: the part of the embedded
 * database that runs wherever `startEmbeddedDatabase` puts it (this thread, or a worker).
 */
import { PGlite } from '@electric-sql/pglite';
import { serveWire, type WireSession } from './embedded-wire.ts';

/** Wire connections the embedded server accepts at once (the server's pools use a few). */
export const EMBEDDED_MAX_CONNECTIONS = 16;

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
  let server;
  try {
    // Each connection's exchanges and transactions run whole on the one PGlite session, so
    // the server's pools and a psql beside them can share it.
    server = await serveWire(pglite as unknown as WireSession, {
      host: '127.0.0.1',
      port: options.port ?? 0,
      maxConnections: EMBEDDED_MAX_CONNECTIONS,
    });
  } catch (error) {
    await pglite.close();
    throw error;
  }
  return {
    port: server.port,
    async stop() {
      await server.stop();
      await pglite.close();
    },
  };
}
