import type { Context, Hono } from 'hono';
import type { Clock } from '../_shared/clock.ts';
import type { Config } from '../_shared/config/index.ts';
import type { Db } from '../_shared/db/types.ts';
import { createFlagReader, type FlagReader } from '../_shared/flags/index.ts';
import {
  type Admission,
  type AppEnv,
  createFunctionApp,
  ProblemError,
} from '../_shared/http/index.ts';
import type { Logger } from '../_shared/log/index.ts';
import {
  assertStorableJson,
  type IntakeEvent,
  MalformedPayloadError,
  parseJson,
} from '../_shared/webhooks/events/types.ts';
import { extractWhatsAppEvents } from '../_shared/webhooks/events/whatsapp.ts';
import {
  extractPayPalEvent,
  extractStandardEvent,
  extractStripeEvent,
} from '../_shared/webhooks/events/single.ts';
import { createIngestor, type IngestLimits, type Ingestor } from '../_shared/webhooks/ingest.ts';
import {
  createPayPalVerifier,
  type FetchLike,
  PAYPAL_HEADERS,
} from '../_shared/webhooks/paypal.ts';
import { verifyStandardWebhook } from '../_shared/webhooks/standard.ts';
import { STRIPE_SIGNATURE_HEADER, verifyStripeSignature } from '../_shared/webhooks/stripe.ts';
import { SignatureError } from '../_shared/webhooks/types.ts';
import {
  verifyWhatsAppSignature,
  verifyWhatsAppSubscription,
  WHATSAPP_SIGNATURE_HEADER,
} from '../_shared/webhooks/whatsapp.ts';
import { readRawBody } from './body.ts';
import type { Runtime } from '../_shared/runtime/index.ts';
import { createUpstashLimiter } from '../_shared/ratelimit/upstash.ts';
import {
  DEFAULT_INTAKE_LIMITS,
  type IntakeLimitSettings,
  WHATSAPP_BODY_LIMIT_BYTES,
} from './limits.ts';
import { type AfterAck, kickWorker, startAfterAck } from './after-ack.ts';
import { createJobRunner } from '../_shared/jobs/index.ts';
import { createIntakeCounters, type IntakeCounters } from './counters.ts';
import { admitDelivery, EDGE_LIMIT_PER_MINUTE, type EdgeLimiter } from './client.ts';
import { createUssdGate } from '../_shared/webhooks/ussd.ts';
import type { GatehouseApp } from '../_shared/app.ts';
import { createUssdHandler } from './ussd.ts';
import { storedAny, storeEvents } from './store.ts';

export { EDGE_LIMIT_PER_MINUTE, type EdgeLimiter } from './client.ts';

export interface WebhooksDeps {
  readonly config: Config;
  readonly db: Db;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly fetch: typeof fetch;
  readonly flags?: FlagReader;
  readonly ingestor?: Ingestor;
  readonly limits?: IntakeLimitSettings;
  /** Optional per-IP tier (Upstash) checked before any database work. */
  readonly edgeLimiter?: EdgeLimiter | null;
  /** Runs work after the response (EdgeRuntime.waitUntil on Supabase). */
  readonly background?: (task: Promise<unknown>) => void;
  /**
   * Runs after an accepted delivery's ack: the kick of the worker, as deployed. What a
   * delivery causes belongs in its job (the job registry), not here: nothing retries this.
   */
  readonly afterAck?: AfterAck;
  readonly counters?: IntakeCounters;
  /** The app built on the platform: its USSD menu (none: the USSD route offers no service). */
  readonly app?: GatehouseApp;
  /** The process's request budget: beyond it, 503 before the body is read. */
  readonly admission?: Admission;
}

interface Delivery {
  readonly events: IntakeEvent[];
  readonly limits: IngestLimits;
}

/**
 * The `webhooks` function: verify → parse → one database round trip → 200 after commit.
 *
 * @example
 * const app = createWebhooksApp(runtime);
 * Deno.serve(app.fetch);
 */
export function createWebhooksApp(deps: WebhooksDeps): Hono<AppEnv> {
  const limits = deps.limits ?? DEFAULT_INTAKE_LIMITS;
  const flags = deps.flags ?? createFlagReader(deps.db, { clock: deps.clock });
  const ingestor = deps.ingestor ??
    createIngestor(deps.db, { timeoutMs: deps.config.database.timeoutMs });
  const counters = deps.counters ?? createIntakeCounters();
  const background = deps.background ??
    ((task: Promise<unknown>) =>
      void task.catch((error) => deps.logger.error('after-ack task failed', { error })));
  logRefusedProviders(deps.config, deps.logger);
  const nowSeconds = () => Math.floor(deps.clock.now() / 1000);
  const defaultLimit = deps.config.http.bodyLimitBytes;
  const paypal = createPayPalVerifier({
    webhookIds: deps.config.paypal.webhookIds,
    certHosts: deps.config.paypal.certHosts,
    fetch: deps.fetch as FetchLike,
    now: () => deps.clock.now(),
  });
  const providerLimit = (key: string): IngestLimits => ({
    global: { key, ...limits.perProvider },
    sender: null,
  });

  const app = createFunctionApp('webhooks', {
    logger: deps.logger,
    corsOrigins: [],
    bodyLimitBytes: Math.max(WHATSAPP_BODY_LIMIT_BYTES, defaultLimit),
    now: () => deps.clock.now(),
    admission: deps.admission,
  });

  /** A signature failure as the sender sees it: 401, the reason logged and counted only. */
  function refused(c: Context<AppEnv>, provider: string, error: SignatureError): ProblemError {
    counters.rejected(provider, error.reason);
    c.get('logFields').reason = error.reason;
    return new ProblemError(401, { detail: 'signature verification failed' });
  }

  async function intake(
    c: Context<AppEnv>,
    provider: string,
    flag: string,
    limitBytes: number,
    signedWith: SignedWith,
    verifyAndExtract: (raw: Uint8Array) => Promise<Delivery>,
  ) {
    await admitDelivery(c, { edgeLimiter: deps.edgeLimiter, flags, counters }, provider, flag);
    try {
      requireSignatureHeaders(c.req.raw.headers, signedWith);
    } catch (error) {
      if (error instanceof SignatureError) throw refused(c, provider, error);
      throw error;
    }
    const raw = await readRawBody(c, { limitBytes, mediaType: 'application/json' });
    let delivery: Delivery;
    try {
      delivery = await verifyAndExtract(raw);
    } catch (error) {
      if (error instanceof SignatureError) throw refused(c, provider, error);
      if (error instanceof MalformedPayloadError) {
        counters.rejected(provider, 'malformed');
        throw new ProblemError(400, { detail: error.message });
      }
      throw error;
    }
    if (delivery.events.length === 0) {
      // Extractors never return none (WhatsApp refuses an empty notification itself); this
      // keeps it so for any provider added later: a 200 means something was stored.
      counters.rejected(provider, 'malformed');
      throw new ProblemError(400, { detail: 'the delivery carries no event' });
    }
    const outcomes = await storeEvents(c, { ingestor, counters }, {
      provider,
      requestId: c.get('requestId'),
      events: delivery.events,
      limits: delivery.limits,
    });
    // `accepted` only when this delivery stored something; otherwise every event was
    // already stored (throttled and refused deliveries were answered above).
    startAfterAck({ afterAck: deps.afterAck, background }, {
      provider,
      events: delivery.events,
      outcomes,
    });
    return c.json({ status: storedAny(outcomes) ? 'accepted' : 'duplicate' });
  }

  app.get('/whatsapp', (c) => {
    const challenge = verifyWhatsAppSubscription(
      new URL(c.req.url).searchParams,
      deps.config.whatsapp.verifyTokens,
    );
    if (challenge === null) throw new ProblemError(403, { detail: 'verification token mismatch' });
    return c.text(challenge, 200);
  });

  app.post(
    '/whatsapp',
    (c) =>
      intake(c, 'whatsapp', 'intake.whatsapp', WHATSAPP_BODY_LIMIT_BYTES, {
        secrets: deps.config.whatsapp.appSecrets,
        headers: [WHATSAPP_SIGNATURE_HEADER],
      }, async (raw) => {
        verifyWhatsAppSignature(
          raw,
          c.req.header(WHATSAPP_SIGNATURE_HEADER) ?? null,
          deps.config.whatsapp.appSecrets,
        );
        const { events, phoneNumberIds } = await extractWhatsAppEvents(parseJson(raw));
        const number = phoneNumberIds[0] ?? 'unknown';
        return {
          events,
          limits: {
            global: { key: `whatsapp:number:${number}`, ...limits.whatsappPerNumber },
            sender: limits.whatsappPerSender,
          },
        };
      }),
  );

  app.post('/stripe', (c) =>
    intake(c, 'stripe', 'intake.stripe', defaultLimit, {
      secrets: deps.config.stripe.webhookSecrets,
      headers: [STRIPE_SIGNATURE_HEADER],
    }, async (raw) => {
      const event = await verifyStripeSignature(
        raw,
        c.req.header(STRIPE_SIGNATURE_HEADER) ?? null,
        deps.config.stripe.webhookSecrets,
        nowSeconds(),
      ).catch((error: unknown) => {
        // The library parses after verifying: a signed body that is not JSON lands here.
        if (error instanceof SyntaxError) throw new MalformedPayloadError('body is not valid JSON');
        throw error;
      });
      assertStorableJson(raw);
      return { events: [extractStripeEvent(event)], limits: providerLimit('stripe:global') };
    }));

  app.post('/paypal', (c) =>
    intake(c, 'paypal', 'intake.paypal', defaultLimit, {
      secrets: deps.config.paypal.webhookIds,
      headers: Object.values(PAYPAL_HEADERS),
    }, async (raw) => {
      await paypal.verify(raw, c.req.raw.headers);
      return {
        events: [extractPayPalEvent(parseJson(raw))],
        limits: providerLimit('paypal:global'),
      };
    }));

  app.post('/standard/:source', (c) => {
    const source = c.req.param('source').toLowerCase().replaceAll('-', '_');
    const provider = `standard:${source}`;
    const secrets = Object.hasOwn(deps.config.standardWebhooks, source)
      ? deps.config.standardWebhooks[source]!
      : [];
    const headers = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];
    return intake(c, provider, 'intake.standard', defaultLimit, { secrets, headers }, (raw) => {
      const verified = verifyStandardWebhook(raw, c.req.raw.headers, secrets, nowSeconds());
      return Promise.resolve({
        events: [extractStandardEvent(parseJson(raw), verified.id)],
        limits: providerLimit(`${provider}:global`),
      });
    });
  });

  const ussd = createUssdHandler({
    gate: createUssdGate(deps.config.ussd),
    menu: deps.app?.ussd?.menu ?? null,
    flags,
    ingestor,
    limits: providerLimit('ussd:global'),
    counters,
    edgeLimiter: deps.edgeLimiter,
    afterAck: deps.afterAck,
    background,
  });
  app.post('/ussd', ussd);
  app.post('/ussd/:token', ussd);

  return app;
}

/**
 * Says once, at start, which providers will refuse every delivery because their secret is
 * not set (fail closed); each refused request then carries `reason: no_secret_configured`.
 */
function logRefusedProviders(config: Config, logger: Logger): void {
  const missing: [string, string, readonly string[]][] = [
    ['whatsapp', 'WHATSAPP_APP_SECRET', config.whatsapp.appSecrets],
    ['stripe', 'STRIPE_WEBHOOK_SECRET', config.stripe.webhookSecrets],
    ['paypal', 'PAYPAL_WEBHOOK_ID', config.paypal.webhookIds],
  ];
  for (const [provider, variable, secrets] of missing) {
    if (secrets.length === 0) {
      logger.warn(`${provider} intake refuses every delivery: ${variable} is not set`, {
        provider,
      });
    }
  }
  if (config.ussd.pathTokens.length === 0 && config.ussd.allowedIps.length === 0) {
    logger.warn(
      'ussd intake refuses every callback: neither USSD_PATH_TOKEN nor USSD_ALLOWED_IPS is set',
      { provider: 'ussd' },
    );
  }
}

/**
 * The webhooks function as deployed: the runtime's config and database, the optional
 * Upstash tier, and after the ack WhatsApp message logging and a kick of the worker
 * (a short pass, coalesced across concurrent deliveries) for the new jobs.
 */
export function createWebhooksFunction(runtime: Runtime): Hono<AppEnv> {
  const upstash = runtime.config.upstash;
  const jobs = createJobRunner(runtime);
  return createWebhooksApp({
    ...runtime,
    edgeLimiter: upstash
      ? createUpstashLimiter({
        url: upstash.url,
        token: upstash.token,
        limit: EDGE_LIMIT_PER_MINUTE,
        windowSeconds: 60,
        onError: (error) => runtime.logger.warn('upstash tier degraded', { error }),
      })
      : null,
    background: runtime.background,
    afterAck: kickWorker(jobs.kick),
  });
}

/** What a provider's deliveries are signed with: its secrets, and the headers that carry it. */
interface SignedWith {
  readonly secrets: readonly string[];
  readonly headers: readonly string[];
}

/**
 * Refuses, before the body is read, a delivery that cannot verify whatever it holds: no
 * secret configured for the provider (fail closed), or a signature header missing. A flood
 * of unsigned bodies is then answered without buffering a byte of them; a delivery with a
 * wrong signature still has its body read, within the process's byte budget.
 */
function requireSignatureHeaders(headers: Headers, signedWith: SignedWith): void {
  if (signedWith.secrets.length === 0) throw new SignatureError('no_secret_configured');
  for (const name of signedWith.headers) {
    if (!headers.get(name)) throw new SignatureError('missing_header', name);
  }
}
