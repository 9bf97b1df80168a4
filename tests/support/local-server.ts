import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { freePort, type GatehouseProcess, runGatehouse, waitForStatus } from './process.ts';

export interface LocalServer {
  readonly gatehouse: GatehouseProcess;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** Its own data folder (embedded database, generated secrets). */
  readonly dataDir: string;
  /** The Postgres database it uses when the run targets one (`TEST_DATABASE_URL`). */
  readonly database: TestDatabase | undefined;
  /** SIGTERM (unless it already ended), then removes its database and data folder. */
  stop(): Promise<void>;
}

/**
 * How long a start may take to answer ready. Alone it takes a few seconds; beside a full
 * parallel test run on two cores, booting Deno and migrating a fresh embedded database has
 * taken over 30 s.
 */
export const STARTUP_TIMEOUT_MS = 90_000;

/**
 * `gatehouse start` (what `npm start` runs) on a free port with a fresh data folder, on a
 * fresh Postgres database when the run targets one, else on the embedded PGlite; resolves
 * once `/health/ready` answers 200. The development sandbox is off unless `env` turns it
 * on (`GATEHOUSE_SANDBOX`).
 */
export async function startLocalServer(env: Record<string, string> = {}): Promise<LocalServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-start-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const database = process.env.TEST_DATABASE_URL ? await createTestDatabase() : undefined;
  const gatehouse = runGatehouse(['start'], {
    PORT: String(port),
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_EMBEDDED_DB_PORT: '0',
    // Sends go nowhere unless a test says where (the development sandbox is the demo's).
    GATEHOUSE_SANDBOX: 'false',
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...env,
  });
  const stop = async () => {
    if (gatehouse.child.exitCode === null && gatehouse.child.signalCode === null) {
      gatehouse.child.kill('SIGTERM');
    }
    await gatehouse.exited;
    await database?.drop();
    // The embedded database can still be closing its files a moment after the server's
    // exit: retry while the folder is not empty yet.
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  try {
    await waitForStatus(`${base}/functions/v1/health/ready`, 200, gatehouse, STARTUP_TIMEOUT_MS);
  } catch (error) {
    gatehouse.child.kill('SIGKILL');
    await stop();
    throw error;
  }
  return { gatehouse, base, dataDir, database, stop };
}
