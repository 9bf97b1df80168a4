/**
 * A throwaway PostgreSQL cluster for fault scenarios: its own data folder, port and socket
 * folder, so a scenario may stop, kill and restart Postgres without ever touching the
 * machine's own server. Runs the server binaries on PATH (initdb, pg_ctl) as the `postgres`
 * OS user when we are root (initdb refuses root), else as ourselves.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { appendFile, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../support/process.ts';

export type StopMode = 'fast' | 'immediate';

export interface ThrowawayCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth: no password). */
  readonly url: string;
  readonly port: number;
  /** The temporary folder holding `data/`, `socket/` and `server.log`. */
  readonly folder: string;
  /** Stops the server and waits until it is down; a no-op when it is not running. */
  stop(mode?: StopMode): Promise<void>;
  /** Starts the server on the same data and port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** `stop('fast')` then `start()`. */
  restart(): Promise<void>;
  /** True while a postmaster runs on the data folder (`pg_ctl status`). */
  running(): Promise<boolean>;
  /**
   * Runs one statement on a connection of its own (opened and closed per call, so it never
   * holds a socket across a stop).
   */
  query<T extends object = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<T[]>;
  /** A postgres.js client on the cluster; `destroy` ends the ones still open. */
  connect(options?: postgres.Options<Record<string, never>>): postgres.Sql;
  /** The server's log so far (for failure messages). */
  log(): Promise<string>;
  /** Stops the server (immediate) and removes the folder; safe to call twice. */
  destroy(): Promise<void>;
}

// Small on purpose: a scenario's server and load share a 2-core machine with Postgres.
const SETTINGS = {
  listen_addresses: "'127.0.0.1'",
  max_connections: '100',
  shared_buffers: "'32MB'",
  // A restart after `immediate` replays the WAL; a small ceiling keeps that replay short.
  max_wal_size: "'256MB'",
  log_line_prefix: "'%m [%p] '",
};

const START_TIMEOUT_SECONDS = 30;
const live = new Set<ThrowawayCluster>();

/**
 * initdb into a fresh temporary folder (trust auth, fsync left at its default) and starts
 * the server on a free loopback port. `settings` are added to postgresql.conf as given
 * (values quoted as the file wants them).
 *
 * @example
 * ```ts
 * const cluster = await startThrowawayCluster();
 * afterAll(() => cluster.destroy());
 * await cluster.query('create table t (id int)');
 * await cluster.stop('immediate'); // an outage
 * await cluster.start();           // the same rows are back
 * ```
 */
export async function startThrowawayCluster(
  options: { readonly settings?: Readonly<Record<string, string>> } = {},
): Promise<ThrowawayCluster> {
  const tools = { initdb: findBinary('initdb'), pgCtl: findBinary('pg_ctl') };
  const owner = serverUser();
  const folder = await mkdtemp(join(tmpdir(), 'gatehouse-pg-'));
  const dataDir = join(folder, 'data');
  const socketDir = join(folder, 'socket');
  const logFile = join(folder, 'server.log');
  await mkdir(socketDir);
  if (owner.uid !== undefined) {
    for (const path of [folder, socketDir]) await chown(path, owner.uid, owner.gid!);
  }
  const run = (file: string, args: string[]) => runAs(owner.name, file, args, folder);
  let port: number;
  try {
    port = await initAndStart(run, tools, dataDir, socketDir, logFile, options.settings ?? {});
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
  const pgCtl = (args: string[]) => run(tools.pgCtl, ['-D', dataDir, ...args]);
  const isRunning = () =>
    pgCtl(['status']).then(() => true, (error: CommandError) => {
      // pg_ctl status: 3 = no server running (postgresql.org/docs/15/app-pg-ctl.html).
      if (error.code === 3) return false;
      throw error;
    });
  const startServer = () => startPostgres(pgCtl, logFile);

  const watchdog = startWatchdog(owner.name, tools.pgCtl, dataDir, folder);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const clients = new Set<postgres.Sql>();
  let destroyed = false;

  const stop = async (mode: StopMode = 'fast') => {
    if (!(await isRunning())) return;
    await pgCtl(['stop', '-m', mode, '-w', '-t', String(START_TIMEOUT_SECONDS)]);
  };
  const cluster: ThrowawayCluster = {
    url,
    port,
    folder,
    stop,
    async start() {
      if (destroyed) throw new Error('this cluster was destroyed');
      if (!(await isRunning())) await startServer();
    },
    async restart() {
      await stop('fast');
      await cluster.start();
    },
    running: isRunning,
    async query<T extends object>(text: string, params: readonly unknown[] = []) {
      const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
      try {
        return await sql.unsafe<T[]>(text, params as postgres.ParameterOrJSON<never>[]);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    connect(options = {}) {
      const sql = postgres(url, { onnotice: () => {}, ...options });
      clients.add(sql);
      return sql;
    },
    log: () => readLog(logFile),
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(cluster);
      await Promise.all([...clients].map((sql) => sql.end({ timeout: 0 })));
      await stop('immediate');
      watchdog.kill();
      await rm(folder, { recursive: true, force: true });
    },
  };
  live.add(cluster);
  return cluster;
}

type Run = (file: string, args: string[]) => Promise<string>;
type PgCtl = (args: string[]) => Promise<string>;

/** initdb, our settings, then the first start on a free port; resolves to that port. */
async function initAndStart(
  run: Run,
  tools: { initdb: string; pgCtl: string },
  dataDir: string,
  socketDir: string,
  logFile: string,
  extra: Readonly<Record<string, string>>,
): Promise<number> {
  // --no-sync only skips initdb's own flush of the new files; the server keeps fsync on.
  await run(tools.initdb, [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
    '--no-instructions',
  ]);
  const config = join(dataDir, 'postgresql.conf');
  const settings = { ...SETTINGS, ...extra, unix_socket_directories: `'${socketDir}'` };
  const lines = Object.entries(settings).map(([name, value]) => `${name} = ${value}`);
  await appendFile(config, `\n# throwaway cluster for fault tests\n${lines.join('\n')}\n`);
  const pgCtl = (args: string[]) => run(tools.pgCtl, ['-D', dataDir, ...args]);
  // Another process may take the free port between our probe and the bind: try a few.
  for (let attempt = 1;; attempt += 1) {
    const port = await freePort();
    if (port === 5432) continue;
    // The last `port` line of postgresql.conf wins.
    await appendFile(config, `port = ${port}\n`);
    try {
      await startPostgres(pgCtl, logFile);
      return port;
    } catch (error) {
      if (attempt === 3 || !/could not bind|already in use/.test(String(error))) throw error;
    }
  }
}

/** `pg_ctl start`, waiting until the server accepts connections; the log on failure. */
async function startPostgres(pgCtl: PgCtl, logFile: string): Promise<void> {
  try {
    await pgCtl(['start', '-w', '-t', String(START_TIMEOUT_SECONDS), '-l', logFile]);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nserver log:\n${await readLog(logFile)}`);
  }
}

/** The absolute path of `name` on PATH, or an error saying what to install. */
function findBinary(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  throw new Error(
    `${name} is not on PATH: the fault tests need the PostgreSQL 15+ server binaries ` +
      `(initdb, pg_ctl, postgres), e.g. apt-get install postgresql-15 and add its bin folder to PATH`,
  );
}

interface ServerUser {
  /** `postgres` when we run as root (initdb refuses root), else undefined: ourselves. */
  readonly name: string | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
}

function serverUser(): ServerUser {
  if (process.getuid?.() !== 0) return { name: undefined, uid: undefined, gid: undefined };
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      'running as root, and initdb refuses root: the fault tests need an OS user named ' +
        '`postgres` to own the throwaway cluster (the postgresql packages create it)',
    );
  }
  return { name: 'postgres', uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

interface CommandError extends Error {
  code?: number | string;
}

/** Runs `file args` (as `user` via runuser when given) and rejects with its output. */
function runAs(
  user: string | undefined,
  file: string,
  args: string[],
  cwd: string,
): Promise<string> {
  const [command, argv] = user === undefined
    ? [file, args]
    : ['runuser', ['-u', user, '--', file, ...args]];
  return new Promise((resolve, reject) => {
    // cwd: the postgres user may not be allowed into ours, and initdb would warn about it.
    execFile(command, argv, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout);
      const failure: CommandError = new Error(
        `${[file, ...args].join(' ')} failed (${error.code ?? error.signal}): ${stderr || stdout}`
          .trim(),
      );
      failure.code = error.code ?? undefined;
      reject(failure);
    });
  });
}

async function readLog(logFile: string): Promise<string> {
  return await readFile(logFile, 'utf8').catch(() => '(no server log)');
}

/**
 * A detached shell that outlives us: once this process is gone (even by SIGKILL, when no
 * exit handler runs) it stops the cluster and removes its folder, so a killed test run
 * never leaves a postgres behind. `destroy` kills it after doing the same itself.
 */
function startWatchdog(
  user: string | undefined,
  pgCtl: string,
  dataDir: string,
  folder: string,
): { kill(): void } {
  const stop = user === undefined
    ? `"$2" -D "$3" stop -m immediate`
    : `runuser -u "$1" -- "$2" -D "$3" stop -m immediate`;
  const script = `while kill -0 "$0" 2>/dev/null; do sleep 1; done; ${stop}; rm -rf "$4"`;
  const child = spawn(
    'sh',
    ['-c', script, String(process.pid), user ?? '', pgCtl, dataDir, folder],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  child.unref();
  return {
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

// A test that fails before its afterAll, or a run that ends early, must not leave a server:
// on exit (synchronous, so spawnSync) stop every cluster still alive.
process.once('exit', () => {
  for (const cluster of live) {
    const dataDir = join(cluster.folder, 'data');
    const user = serverUser().name;
    const pgCtl = findBinary('pg_ctl');
    const args = ['-D', dataDir, 'stop', '-m', 'immediate', '-w'];
    if (user === undefined) spawnSync(pgCtl, args, { cwd: cluster.folder });
    else spawnSync('runuser', ['-u', user, '--', pgCtl, ...args], { cwd: cluster.folder });
    rmSync(cluster.folder, { recursive: true, force: true });
  }
});
