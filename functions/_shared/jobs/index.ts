import type { ProcessMetrics } from '../metrics/process.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { Db } from '../db/types.ts';
import type { Logger } from '../log/index.ts';
import { flagDefaults } from '../flags/index.ts';
import { createKicker } from '../queue/kicker.ts';
import { JobRegistry } from '../queue/registry.ts';
import type { WorkerReport } from '../queue/types.ts';
import type { JobRunner, PassOptions } from './runner.ts';
import { newWorkerId, runWorker } from '../queue/worker.ts';
import { WorkerPasses } from '../queue/passes.ts';
import { postgresJobStore } from '../queue/store.ts';
import { PermanentJobError } from '../queue/errors.ts';
import {
  outboundDelivery,
  WEBHOOK_DELIVER_KIND,
  type WebhookDelivererOptions,
  webhookDeliverHandler,
} from '../outbound/index.ts';
import { inboundEventHandler, type InboundSteps } from './inbound.ts';
import type { ProviderModule } from '../webhooks/provider.ts';
import { PROVIDERS } from '../webhooks/providers.ts';
import { RETENTION_KIND, retentionHandler, scheduleMaintenance } from './maintenance.ts';
import { logInboundWhatsAppMessage } from '../webhooks/whatsapp/inbound-log.ts';
import { applyWhatsAppStatus } from '../whatsapp/log.ts';
import { type AppServices, type GatehouseApp, NO_APP } from '../app.ts';
import { createBreakers } from '../breaker/index.ts';
import {
  createWhatsAppClient,
  createWhatsAppSender,
  WHATSAPP_SEND_KIND,
  whatsappSendHandler,
} from '../whatsapp/index.ts';
import { PLATFORM_JOB_PREFIX } from '../slo/definitions.ts';
import {
  type AlertReceivers,
  type AlertRule,
  ALERTS_EVALUATE_KIND,
  ALERTS_NOTIFY_KIND,
  alertsEvaluateHandler,
  alertsNotifyHandler,
  DEFAULT_ALERT_RULES,
} from '../alerts/index.ts';
import { systemClock } from '../clock.ts';

export { type InboundEvent, type InboundEventProcessor } from './inbound.ts';
export { MAINTENANCE_QUEUE, RETENTION_KIND, scheduleMaintenance } from './maintenance.ts';

/** How long a kick after an ack keeps claiming: the new jobs, not the whole backlog. */
export const KICK_BUDGET_MS = 2_000;

/**
 * What the platform itself does with an event of a kind, in its job's transaction, before
 * the app's processor: the effects of a delivery run in its job, never after the ack.
 */
const PLATFORM_STEPS: Partial<Record<string, InboundSteps>> = {
  // Needs only the event's id: sent with the statement that loads the event.
  'whatsapp.message': { withLoad: logInboundWhatsAppMessage, then: [] },
  'whatsapp.status': { then: [applyWhatsAppStatus] },
};

/**
 * Every job kind Gatehouse runs, built from the platform and the app: the kinds of every
 * provider's events (the platform's step for the kind, then the app's processor), the app's USSD actions and
 * any other kind the app has a processor for, and maintenance. Every host (the worker
 * function, the kick after an ack, the local scheduler, the CLI's worker) builds it here,
 * through `createJobRunner`.
 */
export function createJobRegistry(options: {
  retentionDays: number;
  app?: GatehouseApp;
  /**
   * Every provider whose events' kinds are run: `PROVIDERS` (webhooks/providers.ts) unless
   * given, and a list given replaces it (pass `[...PROVIDERS, yours]` to add one).
   */
  providers?: readonly Pick<ProviderModule, 'jobKinds'>[];
  /** The alert jobs' rules (the built-in ones by default), receivers and clock. */
  alerts?: AlertJobOptions;
  /** What the app's processors and jobs are lent (no WhatsApp sender by default). */
  services?: AppServices;
  /** Outbound webhook delivery (`webhook.deliver`); its jobs dead-letter without it. */
  outbound?: WebhookDelivererOptions;
}): JobRegistry {
  const app = options.app ?? NO_APP;
  const processors = app.processors ?? {};
  const services = options.services ??
    { whatsapp: null, clock: systemClock, settings: {}, fetch: globalThis.fetch };
  const kinds = new Set<string>([
    ...(options.providers ?? PROVIDERS).flatMap((provider) => provider.jobKinds),
    ...(app.ussd?.actions ?? []).map((action) => `ussd.${action}`),
    ...Object.keys(processors),
  ]);
  const registry = new JobRegistry();
  for (const kind of kinds) {
    registry.register(kind, {
      handler: inboundEventHandler(services, {
        withLoad: PLATFORM_STEPS[kind]?.withLoad,
        then: [...(PLATFORM_STEPS[kind]?.then ?? []), processors[kind]],
      }),
    });
  }
  for (const [kind, job] of Object.entries(app.jobs ?? {})) {
    if (kind.startsWith(PLATFORM_JOB_PREFIX) || kinds.has(kind)) {
      throw new Error(`app job kind ${kind} is the platform's or an event kind`);
    }
    registry.register(kind, {
      handler: (payload, ctx) => job.handler(payload, { ...ctx, ...services }),
      policy: job.policy,
    });
  }
  registry.register(RETENTION_KIND, {
    handler: retentionHandler(options.retentionDays),
    policy: { maxAttempts: 3 },
  });
  const alerts = options.alerts ?? {};
  // Outbound WhatsApp messages queued by processors (`ctx.whatsapp.send`).
  registry.register(WHATSAPP_SEND_KIND, {
    handler: whatsappSendHandler(services.whatsapp),
    policy: { maxAttempts: 8, timeoutMs: 30_000 },
  });
  registry.register(WEBHOOK_DELIVER_KIND, {
    handler: options.outbound
      ? webhookDeliverHandler(options.outbound)
      : () => Promise.reject(new PermanentJobError('outbound webhook delivery is not set up')),
    // Attempts are counted on the message (its retry schedule); the job is only the carrier.
    policy: { maxAttempts: 3, timeoutMs: 60_000 },
  });
  registry.register(ALERTS_EVALUATE_KIND, {
    handler: alertsEvaluateHandler(
      alerts.rules ?? DEFAULT_ALERT_RULES,
      alerts.clock ?? systemClock,
    ),
    // The next minute's evaluation is the retry.
    policy: { maxAttempts: 1, timeoutMs: 30_000 },
  });
  registry.register(ALERTS_NOTIFY_KIND, {
    handler: alertsNotifyHandler({
      receivers: alerts.receivers ?? {},
      environment: alerts.environment ?? 'development',
      fetch: alerts.fetch,
    }),
    policy: { maxAttempts: 10 },
  });
  return registry;
}

export interface AlertJobOptions {
  readonly rules?: readonly AlertRule[];
  /** Slack-compatible URLs by severity (GATEHOUSE_ALERT_WEBHOOK_URL_P0.._P3). */
  readonly receivers?: AlertReceivers;
  /** GATEHOUSE_ENV, shown in each message. */
  readonly environment?: string;
  readonly clock?: { now(): number };
  readonly fetch?: typeof fetch;
}

export interface JobRunnerDeps {
  readonly config: Config;
  readonly db: Db;
  /** The job engine's own pool, so jobs never take the connections requests need. */
  readonly jobsDb?: Db;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The app whose processors the registry runs (`functions/_app`); none by default. */
  readonly app?: GatehouseApp;
  /** A registry of one's own instead of the platform's and the app's (tests). */
  readonly registry?: JobRegistry;
  /** The process's request admission: while it is pressed, jobs run one at a time. */
  readonly admission?: { pressed(): boolean };
  /** The process's metrics: each job run counted by kind and outcome, and timed. */
  readonly metrics?: ProcessMetrics;
  /** Outbound HTTP (alert messages, WhatsApp); the global fetch unless given. */
  readonly fetch?: typeof fetch;
}

/** The Graph API's breaker: every instance stops calling Meta together while it fails. */
export const WHATSAPP_BREAKER = 'whatsapp.graph';

/**
 * The services the platform lends the app, from the config: a WhatsApp sender when the
 * access token and phone number id are set, behind the shared Graph API breaker.
 */
export function appServices(
  deps: Pick<JobRunnerDeps, 'config' | 'db' | 'jobsDb' | 'clock' | 'fetch'>,
): AppServices {
  const { accessToken, phoneNumberId, graphUrl } = deps.config.whatsapp;
  const base = {
    clock: deps.clock,
    settings: deps.config.appSettings,
    fetch: deps.fetch ?? globalThis.fetch,
  };
  if (!accessToken || !phoneNumberId) return { ...base, whatsapp: null };
  const breakers = createBreakers(deps.jobsDb ?? deps.db, { clock: deps.clock });
  const client = createWhatsAppClient({
    graphUrl,
    accessToken,
    phoneNumberId,
    fetch: deps.fetch,
    breaker: breakers.get(WHATSAPP_BREAKER),
  });
  return { ...base, whatsapp: createWhatsAppSender(client, phoneNumberId) };
}

export type { JobRunner, PassOptions } from './runner.ts';

/**
 * The job engine wired to a runtime: the same registry and settings for the worker
 * function, the intake's kick and the local scheduler.
 */
export function createJobRunner(deps: JobRunnerDeps): JobRunner {
  const settings = deps.config.queue;
  const registry = deps.registry ??
    createJobRegistry({
      retentionDays: settings.retentionDays,
      app: deps.app,
      alerts: {
        // Alerts off: the minute's job still samples the queues (the console's queue chart)
        // and evaluates no rule.
        ...(deps.config.alerts.enabled ? {} : { rules: [] }),
        receivers: deps.config.alerts.receivers,
        environment: deps.config.env,
        clock: deps.clock,
        fetch: deps.fetch,
      },
      services: appServices(deps),
      outbound: outboundDelivery({
        config: deps.config.outbound,
        db: deps.jobsDb ?? deps.db,
        clock: deps.clock,
        ...(deps.metrics ? { metrics: deps.metrics.record } : {}),
      }),
    });
  const db = deps.jobsDb ?? deps.db;
  const workerId = newWorkerId();
  const logger = deps.logger.child({ worker: workerId });
  const defaults = flagDefaults(deps.app?.flags);
  // Every pass of this runner (sweeps, kicks, the worker function's) shares one set of
  // `concurrency` slots, as the job pool has one connection per slot.
  const passes = new WorkerPasses();

  const pass = async (options: PassOptions = {}): Promise<WorkerReport> => {
    if (options.maintenance) {
      await scheduleMaintenance(db, new Date(deps.clock.now()), {
        // A registry of one's own without the alert kinds gets no evaluation to dead-letter.
        alerts: registry.get(ALERTS_EVALUATE_KIND) !== undefined,
      }).catch((error) => logger.error('scheduling maintenance failed', { error }));
    }
    return runWorker({
      db,
      store: postgresJobStore,
      registry,
      logger,
      clock: deps.clock,
      workerId,
      budgetMs: Math.min(options.budgetMs ?? settings.workerBudgetMs, settings.workerBudgetMs),
      batchSize: settings.batchSize,
      concurrency: settings.concurrency,
      passes,
      leaseSeconds: settings.leaseSeconds,
      slowJobMs: settings.slowJobMs,
      queues: options.queues ?? null,
      signal: options.signal,
      yieldTo: deps.admission ? () => deps.admission!.pressed() : undefined,
      metrics: deps.metrics?.record,
      flagDefaults: defaults,
      environment: deps.config.env,
    });
  };
  const kickPass = createKicker(() => pass({ budgetMs: KICK_BUDGET_MS }), logger);
  // Kicks a pass answers together share one promise (see `WorkerPasses.wake`).
  let shared: { readonly woken: Promise<boolean>; readonly kick: Promise<void> } | null = null;
  const kick = () => {
    const woken = passes.wake();
    if (!woken) return kickPass();
    if (shared?.woken !== woken) {
      // A pass that ran out of time before claiming again leaves the kick to a pass of its
      // own.
      shared = { woken, kick: woken.then((claimed) => (claimed ? undefined : kickPass())) };
    }
    return shared.kick;
  };
  return { workerId, pass, kick };
}
