import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Config, parseConfig } from '../functions/_shared/config/index.ts';
import { type EventTrace, traceEvent } from '../functions/_shared/jobs/trace.ts';
import { signStandard, signStripe, signWhatsApp } from '../functions/_shared/webhooks/signing.ts';
import { whatsappNotification } from '../functions/_shared/webhooks/whatsapp/notification.ts';
import { type CommandOptions, guardUsage, UsageError, withDatabase } from './command-support.ts';
import { ensureDevelopmentSecrets } from './dev-secrets.ts';
import { printTrace } from './events-command.ts';

const USAGE = 'usage: gatehouse send whatsapp|stripe|ussd [--url base] [--text t]\n' +
  '       gatehouse send standard <source> [--url base]';

/** How long `send` waits for the event's job to end before it reports where it stands. */
export const SEND_WAIT_MS = 10_000;

/** A signed sample delivery: where it goes, what it carries, the event it should store. */
interface Sample {
  readonly path: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  /** Provider and event key as stored, or null when nothing is stored (a USSD menu). */
  readonly event: { readonly provider: string; readonly key: string } | null;
}

/** The first configured secret, or a usage error naming the variable to set. */
function secret(values: readonly string[], variable: string, provider: string): string {
  const first = values[0];
  if (first === undefined) {
    throw new UsageError(`${variable} is not set: the server refuses ${provider} deliveries`);
  }
  return first;
}

function sample(
  config: Config,
  provider: string,
  source: string | undefined,
  text: string,
): Sample {
  const id = randomUUID().replaceAll('-', '').slice(0, 16);
  const now = Math.floor(Date.now() / 1000);
  switch (provider) {
    case 'whatsapp': {
      const key = `wamid.send.${id}`;
      const body = whatsappNotification([{ id: key, from: '15550000001', text }]);
      const appSecret = secret(config.whatsapp.appSecrets, 'WHATSAPP_APP_SECRET', 'WhatsApp');
      return {
        path: '/webhooks/whatsapp',
        body,
        headers: signWhatsApp(body, appSecret),
        event: { provider, key },
      };
    }
    case 'stripe': {
      const key = `evt_send_${id}`;
      const body = JSON.stringify({
        id: key,
        object: 'event',
        type: 'charge.succeeded',
        created: now,
        livemode: false,
        data: { object: { id: `ch_send_${id}`, object: 'charge', amount: 1000, currency: 'usd' } },
      });
      const endpointSecret = secret(
        config.stripe.webhookSecrets,
        'STRIPE_WEBHOOK_SECRET',
        'Stripe',
      );
      return {
        path: '/webhooks/stripe',
        body,
        headers: signStripe(body, endpointSecret, now),
        event: { provider, key },
      };
    }
    case 'standard': {
      if (!source) throw new UsageError(USAGE);
      const name = source.toLowerCase();
      const variable = `WEBHOOK_SECRET_${name.toUpperCase()}`;
      const sourceSecret = secret(config.standardWebhooks[name] ?? [], variable, name);
      const key = `msg_send_${id}`;
      const body = JSON.stringify({
        type: 'gatehouse.test',
        timestamp: new Date().toISOString(),
        data: { text },
      });
      return {
        path: `/webhooks/standard/${name}`,
        body,
        headers: signStandard(key, now, body, sourceSecret),
        event: { provider: `standard:${name}`, key },
      };
    }
    case 'ussd': {
      const token = secret(config.ussd.pathTokens, 'USSD_PATH_TOKEN', 'USSD');
      const form = new URLSearchParams({
        sessionId: `send-${id}`,
        serviceCode: '*384*1#',
        phoneNumber: '+15550000001',
        networkCode: '99999',
        text: '',
      });
      return {
        path: `/webhooks/ussd/${token}`,
        body: form.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        event: null,
      };
    }
    default:
      throw new UsageError(USAGE);
  }
}

/**
 * `gatehouse send whatsapp|stripe|standard <source>|ussd`: builds a sample delivery signed
 * with the configured secret (the development secrets the server generated, locally),
 * posts it to the running server, prints the answer, then follows the stored event until
 * its job ends and prints where it ended (as `gatehouse events show`). USSD prints the
 * first screen. Exit code 0 when the delivery was accepted and handled.
 */
export async function runSendCommand(
  args: readonly string[],
  options: CommandOptions,
): Promise<number> {
  const print = options.print ?? ((line: string) => console.log(line));
  return await guardUsage(print, async () => {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { url: { type: 'string' }, text: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    const [provider, source, ...extra] = positionals;
    if (!provider || extra.length > 0 || (provider !== 'standard' && source !== undefined)) {
      throw new UsageError(USAGE);
    }
    let env = options.env;
    const parsed = parseConfig(env);
    if (parsed.env !== 'production') {
      ({ env } = await ensureDevelopmentSecrets(env, resolve(options.projectRoot, parsed.dataDir)));
    }
    const config = parseConfig(env);
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
    const base = (values.url ?? `http://${host}:${config.port}`).replace(/\/+$/, '');
    const delivery = sample(config, provider, source, values.text ?? 'hello from gatehouse send');
    const url = `${base}/functions/v1${delivery.path}`;
    print(`-> POST ${url.replace(/\/ussd\/[^/]+$/, '/ussd/<USSD_PATH_TOKEN>')}`);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        body: delivery.body,
        headers: { 'content-type': 'application/json', ...delivery.headers },
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      print(
        `cannot reach ${base}: ${(error as Error).message}; is the server running (npm start)?`,
      );
      return 1;
    }
    const answer = (await res.text()).trim();
    print(`<- ${res.status} ${answer}  (request id ${res.headers.get('x-request-id') ?? '-'})`);
    if (!res.ok) return 1;
    if (!delivery.event) return 0;
    const { provider: stored, key } = delivery.event;
    return await withDatabase({ ...options, env }, print, async (db) => {
      const trace = await follow(() => traceEvent(db, stored, key));
      if (!trace) {
        print(`no ${stored} event with key ${key} was stored`);
        return 1;
      }
      printTrace(trace, print);
      return trace.status === 'processed' ? 0 : 1;
    });
  });
}

/** Reads the event until its job has ended (or `SEND_WAIT_MS` passed); the last read. */
async function follow(read: () => Promise<EventTrace | null>): Promise<EventTrace | null> {
  const deadline = Date.now() + SEND_WAIT_MS;
  let trace = await read();
  while (
    trace !== null && trace.status === 'accepted' && trace.jobStatus !== 'dead' &&
    Date.now() < deadline
  ) {
    await new Promise((next) => setTimeout(next, 100));
    trace = await read();
  }
  return trace;
}
