/**
 * The development sandbox: where the local server's WhatsApp messages go and where its
 * PayPal signing certificates come from when neither provider is configured, so the
 * reference app works end to end on one machine (`npm run demo` serves it).
 *
 * The server side is only settings and a `fetch`: `withSandbox` fills the WhatsApp and
 * PayPal variables with sandbox values, and the local server's `fetch` sends
 * `https://paypal.sandbox.localhost/...` (a PayPal certificate host in the sandbox's
 * settings) to the sandbox's port. PayPal's verifier is unchanged: it still insists on an
 * https URL on a configured host. Production never gets a sandbox.
 */
import { ConfigError, type Env } from '../../functions/_shared/config/index.ts';
import { GRAPH_VERSION, type GraphApiStub, startGraphApiStub } from './graph-api.ts';
import { createPayPalTestCertificate, signPayPalDelivery } from './paypal-signer.ts';

export const SANDBOX_DEFAULT_PORT = 54329;
/** The bearer token the sandbox's Graph API accepts and the server sends. */
export const SANDBOX_GRAPH_TOKEN = 'gatehouse-sandbox-graph-token';
/** The business phone number id the server sends as in the sandbox. */
export const SANDBOX_PHONE_NUMBER_ID = '100000000000001';
/** The PayPal certificate host of the sandbox (`.localhost` never leaves the machine). */
export const SANDBOX_PAYPAL_HOST = 'paypal.sandbox.localhost';
export const SANDBOX_PAYPAL_WEBHOOK_ID = 'WH-GATEHOUSE-SANDBOX';

export interface Sandbox {
  /** `http://127.0.0.1:<GATEHOUSE_SANDBOX_PORT>` */
  readonly origin: string;
  readonly port: number;
  /** Whether the server's WhatsApp messages go to the sandbox's Graph API. */
  readonly whatsapp: boolean;
  /** Whether the server takes PayPal certificates from the sandbox. */
  readonly paypal: boolean;
  /** `fetch`, with the sandbox's PayPal certificate host sent to the sandbox. */
  readonly fetch: typeof fetch;
}

const blank = (env: Env, name: string) => !env[name]?.trim();

function sandboxSwitch(env: Env): boolean {
  const text = env.GATEHOUSE_SANDBOX?.trim().toLowerCase() ?? '';
  if (text === '' || text === 'true') return true;
  if (text === 'false') return false;
  throw new ConfigError([
    `GATEHOUSE_SANDBOX: must be true or false, got "${env.GATEHOUSE_SANDBOX}"`,
  ]);
}

/** `GATEHOUSE_SANDBOX_PORT`, or the default. */
export function sandboxPort(env: Env): number {
  const text = env.GATEHOUSE_SANDBOX_PORT?.trim() ?? '';
  if (text === '') return SANDBOX_DEFAULT_PORT;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65_535)) {
    throw new ConfigError([
      `GATEHOUSE_SANDBOX_PORT: must be a port number (1-65535), got "${env.GATEHOUSE_SANDBOX_PORT}"`,
    ]);
  }
  return port;
}

/**
 * In development with `GATEHOUSE_SANDBOX` not `false`: WhatsApp sends to the sandbox when
 * none of `WHATSAPP_ACCESS_TOKEN`, `WHATSAPP_PHONE_NUMBER_ID`, `WHATSAPP_GRAPH_URL` is set,
 * and PayPal deliveries are checked against the sandbox's certificate when neither
 * `PAYPAL_WEBHOOK_ID` nor `PAYPAL_CERT_HOSTS` is set. A provider configured by hand is left
 * alone; the sandbox is null when it serves neither.
 *
 * @example
 * const { env, sandbox } = withSandbox(localEnv);
 */
export function withSandbox(env: Env): { env: Env; sandbox: Sandbox | null } {
  const production = env.GATEHOUSE_ENV?.trim() === 'production';
  const on = sandboxSwitch(env);
  if (production) {
    if (env.GATEHOUSE_SANDBOX?.trim().toLowerCase() === 'true') {
      throw new ConfigError(['GATEHOUSE_SANDBOX: the sandbox exists only in development']);
    }
    return { env, sandbox: null };
  }
  if (!on) return { env, sandbox: null };
  const port = sandboxPort(env);
  const origin = `http://127.0.0.1:${port}`;
  const whatsapp = ['WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_GRAPH_URL']
    .every((name) => blank(env, name));
  const paypal = ['PAYPAL_WEBHOOK_ID', 'PAYPAL_CERT_HOSTS'].every((name) => blank(env, name));
  if (!whatsapp && !paypal) return { env, sandbox: null };
  const filled: Record<string, string | undefined> = { ...env };
  if (whatsapp) {
    filled.WHATSAPP_ACCESS_TOKEN = SANDBOX_GRAPH_TOKEN;
    filled.WHATSAPP_PHONE_NUMBER_ID = SANDBOX_PHONE_NUMBER_ID;
    filled.WHATSAPP_GRAPH_URL = `${origin}/${GRAPH_VERSION}`;
  }
  if (paypal) {
    filled.PAYPAL_WEBHOOK_ID = SANDBOX_PAYPAL_WEBHOOK_ID;
    filled.PAYPAL_CERT_HOSTS = SANDBOX_PAYPAL_HOST;
  }
  return {
    env: filled,
    sandbox: {
      origin,
      port,
      whatsapp,
      paypal,
      fetch: paypal ? sandboxFetch(origin) : globalThis.fetch.bind(globalThis),
    },
  };
}

/** `fetch` that sends `https://paypal.sandbox.localhost/<path>` to `<origin>/<path>`. */
export function sandboxFetch(origin: string): typeof fetch {
  const real = globalThis.fetch.bind(globalThis);
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const target = URL.canParse(url) ? new URL(url) : null;
    if (target?.protocol === 'https:' && target.host === SANDBOX_PAYPAL_HOST) {
      return real(`${origin}${target.pathname}${target.search}`, init);
    }
    return real(input, init);
  };
}

export interface RunningSandbox {
  readonly origin: string;
  /** The Graph API: messages sent, media to serve. */
  readonly graph: GraphApiStub;
  /** PayPal's headers for `body`, signed with the certificate the sandbox serves. */
  signPayPal(body: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/**
 * Serves the sandbox on `port` of 127.0.0.1: Meta's Graph API (messages, media) for
 * {@link SANDBOX_GRAPH_TOKEN} and a PayPal signing certificate made now (a fresh key each
 * start, so a certificate cached by the server from an earlier run is never the one asked).
 */
export async function startSandbox(port: number): Promise<RunningSandbox> {
  const { pem, privateKey } = await createPayPalTestCertificate({
    commonName: 'Gatehouse sandbox',
  });
  const certPath = `/v1/notifications/certs/CERT-SANDBOX-${crypto.randomUUID().slice(0, 8)}`;
  const graph = await startGraphApiStub({
    token: SANDBOX_GRAPH_TOKEN,
    port,
    documents: new Map([[certPath, { contentType: 'application/x-pem-file', body: pem }]]),
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    graph,
    signPayPal: (body) =>
      signPayPalDelivery({
        privateKey,
        body,
        webhookId: SANDBOX_PAYPAL_WEBHOOK_ID,
        certUrl: `https://${SANDBOX_PAYPAL_HOST}${certPath}`,
      }),
    close: () => graph.close(),
  };
}
