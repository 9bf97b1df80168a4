/**
 * The `gatehouse` command (run through `bin/gatehouse.mjs` or `npm start`). The only
 * module besides the function entries that reads the environment.
 */
import { serveStatic } from 'hono/deno';
import { Hono } from 'hono';
import { resolve } from 'node:path';
import { ConfigError } from '../../functions/_shared/config/index.ts';
import { DataDirLockedError } from '../data-dir-lock.ts';
import { loadLocalEnv } from '../env.ts';
import { MigrationError } from '../migrate.ts';
import { type HttpServer, SHUTDOWN_DEADLINE_MS, startGatehouse } from '../start.ts';
import { runMigrateCommand } from '../migrate-command.ts';
import { notFoundApp } from '../not-found.ts';

const USAGE = `Usage: gatehouse <command>

Commands:
  start                    run every function locally (embedded Postgres unless DATABASE_URL)
  migrate                  apply pending migrations to the database
  migrate status           list applied and pending migrations
  migrate new <name>       create migrations/<timestamp>_<name>.sql
  migrate manifest         regenerate the migration manifest the functions are built with
  help                     show this text

Environment: see README.md (".env" in the project folder is read; real variables win).`;

const projectRoot = resolve(new URL('../..', import.meta.url).pathname);

async function serveWithDeno(
  options: { hostname: string; port: number },
  handler: (request: Request) => Response | Promise<Response>,
): Promise<HttpServer> {
  const { promise: listening, resolve: onListen } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({ ...options, onListen: (address) => onListen(address) }, handler);
  const address = await listening;
  return { port: address.port, shutdown: () => server.shutdown() };
}

function webApp(): Hono {
  const web = new Hono();
  web.use('*', serveStatic({ root: './web/public' }));
  web.get('/', serveStatic({ path: './web/public/index.html' }));
  return web;
}

async function start(): Promise<number> {
  const env = await loadLocalEnv(resolve(projectRoot, '.env'), Deno.env.toObject());
  const running = await startGatehouse({
    env,
    projectRoot,
    serve: serveWithDeno,
    web: webApp(),
    notFound: notFoundApp,
  });
  const { promise: signalled, resolve: onSignal } = Promise.withResolvers<Deno.Signal>();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    Deno.addSignalListener(signal, () => onSignal(signal));
  }
  const signal = await signalled;
  console.log(`${signal} received: draining in-flight requests, then closing the database`);
  const hardStop = setTimeout(() => {
    console.error(`shutdown took longer than ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting anyway`);
    Deno.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  const drained = await running.stop();
  clearTimeout(hardStop);
  console.log(drained ? 'stopped cleanly' : 'stopped; some requests did not finish in time');
  return drained ? 0 : 1;
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case 'start':
      return await start();
    case 'migrate': {
      const env = await loadLocalEnv(resolve(projectRoot, '.env'), Deno.env.toObject());
      return await runMigrateCommand(rest, { env, projectRoot });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`gatehouse: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

try {
  Deno.exit(await main(Deno.args));
} catch (error) {
  if (
    error instanceof ConfigError || error instanceof MigrationError ||
    error instanceof DataDirLockedError
  ) {
    console.error(`gatehouse: ${error.message}`);
    Deno.exit(1);
  }
  throw error;
}
