/**
 * PGlite served over the Postgres wire protocol on 127.0.0.1: the part of the embedded
 * database that runs wherever `startEmbeddedDatabase` puts it (this thread, or a worker).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { serveWire, type WireSession } from './embedded-wire.ts';

/** Wire connections the embedded server accepts at once (the server's pools use a few). */
export const EMBEDDED_MAX_CONNECTIONS = 16;

/**
 * PGlite's own start parameters plus a smaller buffer pool: initdb picks 128 MB of
 * `shared_buffers`, which PGlite's memory holds resident (about 290 MB for the database
 * alone); 32 MB keeps it near 190 MB. Pages it evicts stay in the OS page cache.
 */
export const EMBEDDED_START_PARAMS: readonly string[] = [
  ...PGlite.defaultStartParams,
  '-c',
  'shared_buffers=32MB',
];

export interface EmbeddedServerOptions {
  /** Folder for the data files; omitted → in memory (tests). */
  readonly dataDir?: string;
  /** Loopback port for the wire protocol; 0 picks a free one. */
  readonly port?: number;
  /** In memory only: start from this image of a database (`newDatabaseImage`). */
  readonly image?: Blob | undefined;
}

export interface EmbeddedServer {
  readonly port: number;
  /** Stops the listener and closes PGlite (flushing data to disk). */
  stop(): Promise<void>;
}

/** Starts PGlite and its wire-protocol listener. */
export async function serveEmbedded(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const pglite = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.image && !options.dataDir ? { loadDataDir: options.image } : {}),
    startParams: [...EMBEDDED_START_PARAMS],
  });
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

/** An image of a new, empty in-memory database, to start others from (`image`). */
export async function newDatabaseImage(): Promise<Blob> {
  const pglite = await PGlite.create({ startParams: [...EMBEDDED_START_PARAMS] });
  try {
    return await pglite.dumpDataDir('none');
  } finally {
    await pglite.close();
  }
}

/**
 * Creates a new database in `dataDir` (initdb) and closes it. Run in a process of its own
 * (`embedded-db-init.ts`): initdb takes PGlite's memory past 600 MB, which a process that
 * goes on serving would keep for good.
 */
export async function initEmbedded(dataDir: string): Promise<void> {
  const pglite = await PGlite.create({ dataDir });
  await pglite.close();
}

/** True when `dataDir` holds no database yet (the next start runs initdb). */
export async function needsInit(dataDir: string): Promise<boolean> {
  try {
    await stat(join(dataDir, 'PG_VERSION'));
    return false;
  } catch (error) {
    if (['ENOENT', 'ENOTDIR'].includes((error as { code?: string }).code ?? '')) return true;
    throw error;
  }
}
