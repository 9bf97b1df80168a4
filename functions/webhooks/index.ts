import type { ProcessMetrics } from '../_shared/metrics/process.ts';
import type { Context, Hono } from 'hono';
import type { Clock } from '../_shared/clock.ts';
import type { Config } from '../_shared/config/index.ts';
import type { Db } from '../_shared/db/types.ts';
import { createFlagReader, flagDefaults, type FlagReader } from '../_shared/flags/index.ts';
import {
  type Admission,
  type AppEnv,
  createFunctionApp,
  ProblemError,
} from '../_shared/http/index.ts';
import type { Logger } from '../_shared/log/index.ts';
import { MalformedPayloadError } from '../_shared/webhooks/events/types.ts';
import { createIngestor, type Ingestor } from '../_shared/webhooks/ingest.ts';
import type { FetchLike } from '../_shared/webhooks/paypal/cert-fetch.ts';
import {
  CallerRefusedError,
  type ProviderContext,
  type ProviderModule,
  type ReceivedDelivery,
  type RouteParams,
  type WebhookProvider,
} from '../_shared/webhooks/provider.ts';
import { PROVIDERS, webhookEndpoints } from '../_shared/webhooks/providers.ts';
import { SignatureError } from '../_shared/webhooks/types.ts';
import { readRawBody } from './body.ts';
import type { Runtime } from '../_shared/runtime/index.ts';
import { createUpstashLimiter } from '../_shared/ratelimit/upstash.ts';
import { DEFAULT_INTAKE_LIMITS, type IntakeLimitSettings } from '../_shared/webhooks/limits.ts';
import { type AfterAck, kickWorker, startAfterAck } from './after-ack.ts';
import { createJobRunner } from '../_shared/jobs/index.ts';
import { createIntakeCounters, type IntakeCounters } from './counters.ts';
import { admitDelivery, clientIp, EDGE_LIMIT_PER_MINUTE, type EdgeLimiter } from './client.ts';
import { type GatehouseApp, NO_APP } from '../_shared/app.ts';
import { storedAny, storeEvents } from './store.ts';

export { EDGE_LIMIT_PER_MINUTE, type EdgeLimiter } from './client.ts';

export interface WebhooksDeps {
  /** The process's metrics (requests counted and timed); none: nothing recorded. */
  readonly metrics?: ProcessMetrics;
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
  /** The providers served (`PROVIDERS` by default); add one with `[...PROVIDERS, yours]`. */
  readonly providers?: readonly ProviderModule[];
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
  const flags = deps.flags ??
    createFlagReader(deps.db, {
      clock: deps.clock,
      defaults: flagDefaults(deps.app?.flags),
      environment: deps.config.env,
      metrics: deps.metrics?.record,
    });
  const ingestor = deps.ingestor ??
    createIngestor(deps.db, { timeoutMs: deps.config.database.timeoutMs });
  const counters = deps.counters ?? createIntakeCounters(deps.metrics?.record);
  const background = deps.background ??
    ((task: Promise<unknown>) =>
      void task.catch((error) => deps.logger.error('after-ack task failed', { error })));
  logRefusedProviders(deps.config, deps.logger, deps.providers ?? PROVIDERS);
  const defaultLimit = deps.config.http.bodyLimitBytes;
  const context: ProviderContext = {
    config: deps.config,
    now: () => deps.clock.now(),
    fetch: deps.fetch as FetchLike,
    limits,
    app: deps.app ?? NO_APP,
    db: deps.db,
  };
  const providers = (deps.providers ?? PROVIDERS).map((module) => module.create(context));

  const app = createFunctionApp('webhooks', {
    metrics: deps.metrics,
    logger: deps.logger,
    corsOrigins: [],
    bodyLimitBytes: Math.max(
      defaultLimit,
      ...providers.map((provider) => provider.bodyLimitBytes ?? 0),
    ),
    now: () => deps.clock.now(),
    admission: deps.admission,
  });

  /** A signature failure as the sender sees it: 401, the reason logged and counted only. */
  function refused(c: Context<AppEnv>, provider: string, error: SignatureError): ProblemError {
    counters.rejected(provider, error.reason);
    c.get('logFields').reason = error.reason;
    return new ProblemError(401, { detail: 'signature verification failed' });
  }

  /** A caller the provider's gate refused: its status, the reason logged and counted. */
  function refusedCaller(c: Context<AppEnv>, provider: string, error: CallerRefusedError) {
    counters.rejected(provider, error.reason);
    Object.assign(c.get('logFields'), { reason: error.reason, ...error.logFields });
    return new ProblemError(error.status, { detail: error.detail });
  }

  /** The one intake route every provider goes through. */
  async function intake(c: Context<AppEnv>, provider: WebhookProvider) {
    const params = c.req.param() as RouteParams;
    const name = provider.name(params);
    c.get('logFields').provider = name;
    counters.received(name);
    try {
      provider.gate?.({ params, clientIp: clientIp(c) });
    } catch (error) {
      if (error instanceof CallerRefusedError) throw refusedCaller(c, name, error);
      throw error;
    }
    await admitDelivery(
      c,
      { edgeLimiter: deps.edgeLimiter, flags, counters },
      name,
      provider.flag,
      provider.label,
    );
    if (provider.signedWith) {
      try {
        requireSignatureHeaders(c.req.raw.headers, provider.signedWith(params));
      } catch (error) {
        if (error instanceof SignatureError) throw refused(c, name, error);
        throw error;
      }
    }
    const raw = await readRawBody(c, {
      limitBytes: provider.bodyLimitBytes ?? defaultLimit,
      mediaType: provider.mediaType ?? 'application/json',
    });
    let delivery: ReceivedDelivery;
    try {
      // Verified before anything parses the body (a provider with only a gate has no verify).
      // Awaited only when the provider's step is asynchronous: from the body's bytes to the
      // events' submission to the ingestor (which serialises them) runs without yielding,
      // while what was just parsed is still in the processor's cache, instead of after
      // other requests' queued work has run in between.
      let verified = provider.verify?.(raw, c.req.raw.headers, params);
      if (verified instanceof Promise) verified = await verified;
      const extracted = provider.extract(raw, verified, params);
      delivery = extracted instanceof Promise ? await extracted : extracted;
    } catch (error) {
      if (error instanceof SignatureError) throw refused(c, name, error);
      if (error instanceof MalformedPayloadError) {
        counters.rejected(name, 'malformed');
        throw new ProblemError(400, {
          detail: error.message,
          ...(error.issues ? { extensions: { errors: error.issues } } : {}),
        });
      }
      throw error;
    }
    Object.assign(c.get('logFields'), delivery.logFields);
    if (delivery.events.length === 0) {
      // A 200 means something was stored, unless the provider answers with a reply of its
      // own (a USSD screen while the user browses). Extractors never return no event
      // (WhatsApp refuses an empty notification itself); this keeps it so for any added later.
      if (delivery.reply !== undefined) return c.text(delivery.reply, 200);
      counters.rejected(name, 'malformed');
      throw new ProblemError(400, { detail: 'the delivery carries no event' });
    }
    const outcomes = await storeEvents(c, { ingestor, counters }, {
      provider: name,
      requestId: c.get('requestId'),
      events: delivery.events,
      limits: delivery.limits,
    }, { label: provider.label, logKeys: delivery.logKeys });
    startAfterAck({ afterAck: deps.afterAck, background }, {
      provider: name,
      events: delivery.events,
      outcomes,
    });
    if (delivery.reply !== undefined) return c.text(delivery.reply, 200);
    return c.json({ status: storedAny(outcomes) ? 'accepted' : 'duplicate' });
  }

  for (const provider of providers) {
    if (!provider.verify && !provider.gate) {
      // Fail closed: a provider that checks neither its signature nor its caller would store
      // whatever anyone posts.
      throw new Error(
        `webhook provider at ${provider.paths.join(', ')} has neither verify nor gate`,
      );
    }
    const subscribe = provider.subscribe?.bind(provider);
    for (const path of provider.paths) {
      if (subscribe) {
        app.get(path, (c) => {
          const challenge = subscribe(new URL(c.req.url).searchParams);
          if (challenge === null) {
            throw new ProblemError(403, { detail: 'verification token mismatch' });
          }
          return c.text(challenge, 200);
        });
      }
      app.post(path, (c) => intake(c, provider));
    }
  }

  return app;
}

/**
 * Says once, at start, which providers will refuse every delivery because their secret is
 * not set (fail closed); each refused request then carries `reason: no_secret_configured`.
 */
function logRefusedProviders(
  config: Config,
  logger: Logger,
  providers: readonly ProviderModule[],
): void {
  for (const { provider, missing } of webhookEndpoints(config, providers)) {
    // A Standard Webhooks source exists only once its secret is set: none is no refusal.
    if (!missing || provider.includes('<')) continue;
    const what = provider === 'ussd' ? 'callback' : 'delivery';
    const lacking = missing.includes(' or ')
      ? `neither ${missing.replace(' or ', ' nor ')} is set`
      : `${missing} is not set`;
    logger.warn(`${provider} intake refuses every ${what}: ${lacking}`, { provider });
  }
}

/**
 * The webhooks function as deployed: the runtime's config and database, the optional
 * Upstash tier, and after the ack a kick of the worker (a short pass, coalesced across
 * concurrent deliveries) for the new jobs.
 */
export function createWebhooksFunction(runtime: Runtime): Hono<AppEnv> {
  const upstash = runtime.config.upstash;
  const jobs = runtime.jobs ?? createJobRunner(runtime);
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

/**
 * Refuses, before the body is read, a delivery that cannot verify whatever it holds: no
 * secret configured for the provider (fail closed), or a signature header missing. A flood
 * of unsigned bodies is then answered without buffering a byte of them; a delivery with a
 * wrong signature still has its body read, within the process's byte budget.
 */
function requireSignatureHeaders(
  headers: Headers,
  signedWith: ReturnType<NonNullable<WebhookProvider['signedWith']>>,
): void {
  if (signedWith.secrets.length === 0) throw new SignatureError('no_secret_configured');
  for (const name of signedWith.headers) {
    if (!headers.get(name)) throw new SignatureError('missing_header', name);
  }
}
