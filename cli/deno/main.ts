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
import { SHUTDOWN_DEADLINE_MS, startGatehouse, StartupError } from '../start.ts';
import { serveWithDeno } from './serve.ts';
import { releaseFreedMemoryPeriodically } from './release-memory.ts';
import { runMigrateCommand } from '../migrate-command.ts';
import { runDlqCommand, runQueueCommand, runWorkerCommand } from '../queue-command.ts';
import { runEventsCommand } from '../events-command.ts';
import { runWebhooksCommand } from '../webhooks-command.ts';
import { runSendCommand } from '../send-command.ts';
import { runDemoCommand } from '../demo/index.ts';
import { withSandbox } from '../sandbox/index.ts';
import { notFoundApp } from '../not-found.ts';
import { app } from '../../functions/_app/index.ts';

const USAGE = `Usage: gatehouse <command>

Commands:
  start                    run every function locally (embedded Postgres unless DATABASE_URL)
  migrate                  apply pending migrations to the database
  migrate status           list applied and pending migrations
  migrate new <name>       create migrations/<timestamp>_<name>.sql
  migrate manifest         regenerate the migration manifest the functions are built with
  worker [--once]          run due jobs every second (or one pass) against the database
  queue health [--json]    depth, running, dead and oldest due job per queue; exit 1 if critical
  dlq list [filters]       dead jobs (--since 7d --provider p --kind k --limit n --json)
  dlq show <id>            one dead job with its payload and every attempt's error
  dlq retry --since 1h     replay dead jobs by filter (--provider p --kind k --id n); audited
  events list [filters]    latest events and their jobs (--since 1h --provider p --status s)
  events show <p> <key>    one event: its payload, job(s), every attempt's error, its outcome
  webhooks list            outbound webhook endpoints, each with a health line (--json)
  webhooks replay          replay an endpoint's failed deliveries: --endpoint <id> --since 2h
                           (--until <ISO time> --include-succeeded --json); audited
  users list               who can sign in: email, console role, created (--role r --json)
  users role <email> <r>   grant a console role (admin, operator, support; user removes it);
                           audited; takes effect with the user's next access token
  send <provider>          post a signed sample delivery to the running server and follow
                           it (whatsapp, stripe, standard <source>, ussd)
  demo                     walk the reference app through every provider against the
                           running server, its replies caught by the local sandbox
  help                     show this text

Environment: see docs/configuration.md (".env" in the project folder is read; real variables win).`;

const projectRoot = resolve(new URL('../..', import.meta.url).pathname);

/**
 * The web build (`web/dist`, made by `npm start` before the server starts): the console at
 * `/`, the PWA at `/app/`. A path under `/app/` with no file of its own (a deep link, the
 * share target) gets the PWA's page; anything else unknown, 404.
 */
function webApp(): Hono {
  const web = new Hono();
  const root = './web/dist';
  web.use('*', serveStatic({ root }));
  web.get('/', serveStatic({ path: `${root}/index.html` }));
  web.get('/app', (c) => c.redirect('/app/', 301));
  web.get('/app/*', serveStatic({ path: `${root}/app/index.html` }));
  return web;
}

/**
 * The environment: `.env` under the real variables, then the development sandbox's
 * settings for providers left unconfigured (none in production).
 */
async function localEnv() {
  return withSandbox(await loadLocalEnv(resolve(projectRoot, '.env'), Deno.env.toObject()));
}

async function start(): Promise<number> {
  const { env, sandbox } = await localEnv();
  const running = await startGatehouse({
    env,
    sandbox,
    projectRoot,
    serve: serveWithDeno,
    web: webApp(),
    notFound: notFoundApp,
    app,
  });
  // What start-up freed (the embedded database's compilation above all) goes back now, and
  // what the runtime frees later (compilations, a flood's buffers) every few seconds.
  const releasing = releaseFreedMemoryPeriodically();
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
  await releasing.stop();
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
      const { env } = await localEnv();
      return await runMigrateCommand(rest, { env, projectRoot, app });
    }
    case 'demo': {
      // The demo decides on the sandbox itself, from the same variables the server read.
      const env = await loadLocalEnv(resolve(projectRoot, '.env'), Deno.env.toObject());
      return await runDemoCommand(rest, { env, projectRoot, app });
    }
    case 'queue':
    case 'dlq':
    case 'events':
    case 'webhooks':
    case 'users':
    case 'send':
    case 'worker': {
      const { env } = await localEnv();
      const controller = new AbortController();
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        Deno.addSignalListener(signal, () => controller.abort());
      }
      const options = { env, projectRoot, signal: controller.signal, app };
      if (command === 'queue') return await runQueueCommand(rest, options);
      if (command === 'dlq') return await runDlqCommand(rest, options);
      if (command === 'events') return await runEventsCommand(rest, options);
      if (command === 'webhooks') {
        // On a terminal the replay draws its progress bar in place.
        const encoder = new TextEncoder();
        const terminal = Deno.stdout.isTerminal()
          ? { write: (text: string) => void Deno.stdout.writeSync(encoder.encode(text)) }
          : undefined;
        return await runWebhooksCommand(rest, { ...options, terminal });
      }
      if (command === 'users') {
        const { runUsersCommand } = await import('../users-command.ts');
        return await runUsersCommand(rest, options);
      }
      if (command === 'send') return await runSendCommand(rest, options);
      return await runWorkerCommand(rest, options);
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
    error instanceof DataDirLockedError || error instanceof StartupError
  ) {
    console.error(`gatehouse: ${error.message}`);
    Deno.exit(1);
  }
  throw error;
}
