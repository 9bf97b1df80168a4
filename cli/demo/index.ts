/**
 * `gatehouse demo` (`npm run demo`, with `npm start` running): starts the development
 * sandbox (a Graph API stub and a PayPal certificate host), walks the reference app through
 * WhatsApp, Stripe, PayPal and USSD with signed sample deliveries, and prints step by step
 * what happened. Exit code 0 when every step went as it should.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../functions/_shared/config/index.ts';
import { type CommandOptions, guardUsage, UsageError, withDatabase } from '../command-support.ts';
import { ensureDevelopmentSecrets } from '../dev-secrets.ts';
import { type RunningSandbox, startSandbox, withSandbox } from '../sandbox/index.ts';
import { demoUser } from './deliveries.ts';
import { DemoStepFailed, runSteps } from './steps.ts';

const USAGE = 'usage: gatehouse demo [--url base]';

/** The photo the demo's user sends: a car with a readable number plate. */
export const DEMO_PHOTO = 'tests/fixtures/images/plate-kda-417q.jpg';

export async function runDemoCommand(
  args: readonly string[],
  options: CommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  return await guardUsage(print, async () => {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { url: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length > 0) throw new UsageError(USAGE);
    const parsed = parseConfig(options.env);
    if (parsed.env === 'production') {
      throw new UsageError(
        'the demo runs against a development server, not GATEHOUSE_ENV=production',
      );
    }
    const dataDir = resolve(options.projectRoot, parsed.dataDir);
    const { env: withSecrets } = await ensureDevelopmentSecrets(options.env, dataDir);
    const { env, sandbox } = withSandbox(withSecrets);
    if (!sandbox?.whatsapp) {
      print(
        'the demo needs the development sandbox for WhatsApp, and this configuration sends ' +
          'elsewhere: unset WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID and ' +
          'WHATSAPP_GRAPH_URL (and GATEHOUSE_SANDBOX=false), then restart the server',
      );
      return 1;
    }
    const config = parseConfig(env);
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
    const base = (values.url ?? `http://${host}:${config.port}`).replace(/\/+$/, '');
    const ready = await fetch(`${base}/functions/v1/health/ready`, {
      signal: AbortSignal.timeout(5_000),
    }).then((res) => res.status, (error: Error) => error.message);
    if (ready !== 200) {
      print(`cannot reach ${base} (${ready}); is the server running (npm start)?`);
      return 1;
    }
    const photo = new Uint8Array(await readFile(join(options.projectRoot, DEMO_PHOTO)));

    let running: RunningSandbox;
    try {
      running = await startSandbox(sandbox.port);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
      print(
        `the sandbox's port ${sandbox.port} is taken (another demo running?); ` +
          'set GATEHOUSE_SANDBOX_PORT to a free port for both the server and the demo',
      );
      return 1;
    }
    const user = demoUser();
    const started = Date.now();
    try {
      return await withDatabase({ ...options, env }, print, async (db) => {
        print(`Gatehouse demo against ${base}`);
        print(
          `Sandbox on ${running.origin}: the Graph API the server sends WhatsApp messages to` +
            `${sandbox.paypal ? ', and the PayPal certificate it verifies with' : ''}`,
        );
        print(`WhatsApp user +${user.phone} ("${user.name}")`);
        print('');
        try {
          const count = await runSteps({
            base,
            config,
            db,
            sandbox: running,
            user,
            photo,
            paypal: sandbox.paypal,
            print,
          });
          print('');
          print(
            `demo done: ${count} steps, each as expected, in ${
              ((Date.now() - started) / 1000).toFixed(1)
            } s`,
          );
          return 0;
        } catch (error) {
          if (!(error instanceof DemoStepFailed)) throw error;
          print(`   FAILED    ${error.message}`);
          print('');
          print(
            'demo stopped. Was the server started with the sandbox (its banner lists it)? ' +
              'Its log, and `gatehouse events list --since 10m`, tell more.',
          );
          return 1;
        }
      });
    } finally {
      await running.close();
    }
  });
}
