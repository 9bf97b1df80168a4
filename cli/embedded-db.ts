import { execFile } from 'node:child_process';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { promisify, stripVTControlCharacters } from 'node:util';
import { createPostgresDb, type PostgresDbOptions } from '../functions/_shared/db/postgres.ts';
import type { Db } from '../functions/_shared/db/types.ts';
import { type EmbeddedServer, needsInit, serveEmbedded } from './embedded-db-server.ts';
import { StartupError } from './startup-errors.ts';

export { EMBEDDED_MAX_CONNECTIONS } from './embedded-db-server.ts';

const execFileAsync = promisify(execFile);

/**
 * What a pool on the embedded database must be: one connection (PGlite is one session), and
 * no named statements whatever GATEHOUSE_DB_PREPARE says (in the one session, one
 * connection's statement names would meet another's).
 */
export const EMBEDDED_POOL: Partial<PostgresDbOptions> = { max: 1, prepare: false };

export interface EmbeddedDatabaseOptions {
  /** Folder for the data files; omitted → in memory (tests). */
  dataDir?: string;
  /** Loopback port for the wire protocol; 0 picks a free one. */
  port?: number;
  /**
   * Run PGlite in a worker thread (Deno only), so a long statement blocks that thread and
   * not the server's: deadlines and health probes keep working. Tests under Node run it on
   * their own thread.
   */
  inWorker?: boolean;
  /**
   * An in-memory database starts as a copy of this image (`newDatabaseImage`) instead of
   * running initdb: about a second instead of two or three (tests make hundreds).
   */
  image?: Blob | undefined;
}

export interface EmbeddedDatabase {
  /** Connection string any Postgres client (psql, Studio-like tools) can use. */
  readonly url: string;
  readonly port: number;
  /** A postgres.js pool of size 1 over the wire connection, without deadlines. */
  readonly db: Db;
  /** Closes the pool, the listener and PGlite (flushing data to disk). */
  stop(): Promise<void>;
}

/**
 * Starts PGlite and serves it over the Postgres wire protocol on 127.0.0.1, so that the
 * same driver (postgres.js) and the same SQL run locally as in production.
 *
 * PGlite is a single-session database: statements from all connections run one at a time,
 * so pools on it have size 1 and transactions are serialised, which is correct if slower.
 *
 * @example
 * const embedded = await startEmbeddedDatabase({ dataDir: '.data/pglite', port: 54322 });
 * await embedded.db.query('select 1');
 * await embedded.stop();
 */
export async function startEmbeddedDatabase(
  options: EmbeddedDatabaseOptions = {},
): Promise<EmbeddedDatabase> {
  const server = options.inWorker
    ? await serveInWorker(options)
    : await serveEmbedded({ dataDir: options.dataDir, port: options.port, image: options.image });
  const url = `postgres://postgres@127.0.0.1:${server.port}/postgres`;
  const db = createPostgresDb({ url, ...EMBEDDED_POOL, applicationName: 'gatehouse-embedded' });
  let stopped = false;
  return {
    url,
    port: server.port,
    db,
    async stop() {
      if (stopped) return;
      stopped = true;
      await db.close(2);
      await server.stop();
    },
  };
}

/**
 * The server in a worker thread; failures to start come back as errors with their code. A
 * new data folder is first initialised by a child process (`embedded-db-init.ts`), so the
 * memory initdb takes goes back to the OS before the serving thread starts.
 */
async function serveInWorker(options: EmbeddedDatabaseOptions): Promise<EmbeddedServer> {
  if (options.dataDir && await needsInit(options.dataDir)) await initInChild(options.dataDir);
  const worker = new Worker(new URL('./embedded-db-worker.ts', import.meta.url), {
    type: 'module',
  });
  const next = () =>
    new Promise<{ type: string; port?: number; message?: string; code?: string }>(
      (resolve, reject) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(`the embedded database thread failed: ${event.message}`));
        };
      },
    );
  const started = next();
  worker.postMessage({ type: 'start', dataDir: options.dataDir, port: options.port ?? 0 });
  const reply = await started.catch((error) => {
    worker.terminate();
    throw error;
  });
  if (reply.type !== 'started' || reply.port === undefined) {
    worker.terminate();
    throw Object.assign(new Error(reply.message ?? 'the embedded database did not start'), {
      code: reply.code,
    });
  }
  return {
    port: reply.port,
    async stop() {
      const stopped = next();
      worker.postMessage({ type: 'stop' });
      try {
        await stopped;
      } finally {
        worker.terminate();
      }
    },
  };
}

/**
 * Runs `embedded-db-init.ts` on `dataDir` with the Deno running us; a failure is a
 * `StartupError` (one line, no stack) naming the folder.
 */
async function initInChild(dataDir: string): Promise<void> {
  const args = [
    'run',
    '--allow-read',
    '--allow-write',
    '--allow-env',
    '--quiet',
    '--config',
    fileURLToPath(new URL('../deno.json', import.meta.url)),
    fileURLToPath(new URL('./embedded-db-init.ts', import.meta.url)),
    dataDir,
  ];
  try {
    await execFileAsync(process.execPath, args, { maxBuffer: 1024 * 1024 });
  } catch (error) {
    // Deno may colour its error line; the reason is quoted without the escape codes.
    const stderr = stripVTControlCharacters(String((error as { stderr?: unknown }).stderr ?? ''))
      .trim();
    const reason = stderr.split('\n').find((line) => line.trim() !== '')?.replace(/^error: /, '')
      .replace(/^Uncaught \(in promise\) /, '');
    throw new StartupError(
      `cannot create the embedded database in ${dataDir}: ${
        reason || (error as Error).message
      }. Check that GATEHOUSE_DATA_DIR is a folder you can write to, or set DATABASE_URL`,
    );
  }
}
