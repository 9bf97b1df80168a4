/**
 * `gatehouse start` (what `npm start` runs) for fault scenarios: pointed at a throwaway
 * cluster (or the embedded database), on a free port, with known secrets and request logs
 * off (warnings and errors still print: the crash guard's lines among them). Can be killed
 * with -9 and started again on the same database and data folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll } from 'vitest';
import { startThrowawayCluster, type ThrowawayCluster } from './cluster.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  type GatehouseProcess,
  runGatehouse,
  waitForStatus,
} from '../../support/process.ts';
import { gatehouseServerPid } from './rss.ts';

export const APP_SECRET = 'fault-suite-app-secret';

export interface FaultServer {
  readonly gatehouse: GatehouseProcess;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  readonly port: number;
  /** The Deno server's pid (not the node wrapper's). */
  readonly pid: number;
  readonly dataDir: string;
  /** Lines the crash guard wrote: an unhandled rejection or an uncaught exception. */
  faults(): string[];
  /** Ends the server and its wrapper at once, as a crash or the OOM killer would. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | string>;
}

export interface FaultServerOptions {
  /** Postgres to use; absent → the embedded database in `dataDir`. */
  readonly databaseUrl?: string;
  /** Reuse a data folder (a restart after kill -9); a new one otherwise. */
  readonly dataDir?: string;
  /** The port to bind (a restart keeps its URL); a free one otherwise. */
  readonly port?: number;
  readonly env?: Record<string, string>;
}

const FAULT_LINE = /"msg":"(unhandled rejection|uncaught exception)"/;

/**
 * Starts the server and resolves once `/health/ready` answers 200.
 *
 * @example
 * const server = await startFaultServer({ databaseUrl: await clusterDatabase(cluster) });
 * afterAll(() => server.stop());
 */
export async function startFaultServer(options: FaultServerOptions = {}): Promise<FaultServer> {
  const dataDir = options.dataDir ?? await mkdtemp(join(tmpdir(), 'gatehouse-fault-'));
  const port = options.port ?? await freePort();
  const gatehouse = runGatehouse(['start'], {
    PORT: String(port),
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_EMBEDDED_DB_PORT: '0',
    GATEHOUSE_LOG_LEVEL: 'warn',
    // The load is intake's: the app's replies have nowhere to go (no development sandbox).
    GATEHOUSE_SANDBOX: 'false',
    WHATSAPP_APP_SECRET: APP_SECRET,
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.env,
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForStatus(`${base}/functions/v1/health/ready`, 200, gatehouse, 60_000);
  } catch (error) {
    gatehouse.child.kill('SIGKILL');
    throw error;
  }
  const pid = await gatehouseServerPid(gatehouse.child);
  return {
    gatehouse,
    base,
    port,
    pid,
    dataDir,
    faults: () => gatehouse.output().split('\n').filter((line) => FAULT_LINE.test(line)),
    async kill9() {
      process.kill(pid, 'SIGKILL');
      gatehouse.child.kill('SIGKILL');
      await gatehouse.exited;
    },
    async stop() {
      if (gatehouse.child.exitCode === null && gatehouse.child.signalCode === null) {
        gatehouse.child.kill('SIGTERM');
      }
      return await gatehouse.exited;
    },
  };
}

/** Removes a data folder made by {@link startFaultServer}. */
export function removeDataDir(dataDir: string): Promise<void> {
  return rm(dataDir, { recursive: true, force: true });
}

/** Polls `check` until it returns true; throws after `timeoutMs` saying what it waited for. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((next) => setTimeout(next, 50));
  }
  return Date.now() - started;
}

/**
 * A test file's throwaway cluster and the server on it: both started before the file's
 * tests and removed after them. Read `cluster` and `server` inside the tests.
 *
 * @example
 * const fault = useServerOnCluster();
 * it('...', async () => { await fault.cluster.stop('fast'); ... fault.server.base ... });
 */
export function useServerOnCluster(): {
  readonly cluster: ThrowawayCluster;
  readonly server: FaultServer;
} {
  const context = {} as { cluster: ThrowawayCluster; server: FaultServer };
  beforeAll(async () => {
    context.cluster = await startThrowawayCluster();
    context.server = await startFaultServer({ databaseUrl: context.cluster.url });
  });
  afterAll(async () => {
    if (context.server) {
      await context.server.stop();
      await removeDataDir(context.server.dataDir);
    }
    await context.cluster?.destroy();
  });
  return context;
}
