import { z } from '@hono/zod-openapi';
import { databaseCheck, migrationsCheck, PROBE_TIMEOUT_MS } from '../_shared/health/database.ts';
import { overallStatus, runHealthChecks } from '../_shared/health/index.ts';
import { CATALOG } from '../_shared/metrics/index.ts';
import { queueCheck } from '../_shared/queue/index.ts';
import { webhooksCheck } from '../_shared/webhooks/health.ts';
import { webhookEndpoints } from '../_shared/webhooks/providers.ts';
import { type Admin, type AdminDeps, adminRoute, json } from './context.ts';
import { type CounterIncrease, recentIncreases } from './series.ts';

/** The window the overview's rates cover, in whole minutes before the current one. */
export const RATE_WINDOW_MINUTES = 5;
/** Bound on each check, as `/health` bounds them. */
const CHECK_TIMEOUT_MS = 2_000;

const perSecond = (description: string) => z.number().openapi({ description });

const SloWindow = z.object({
  events: z.number().openapi({ description: 'Events in the window' }),
  bad: z.number().openapi({ description: 'Bad events in the window' }),
  sli: z.number().nullable().openapi({ description: 'Good over all events; null: none' }),
  burn_rate: z.number().nullable().openapi({
    description: 'Error ratio over the error budget (1: the budget lasts 30 days)',
  }),
});

const Slos = z.object({
  at: z.string().openapi({ format: 'date-time' }),
  status: z.enum(['ok', 'degraded']).openapi({ description: 'degraded while an SLO burns fast' }),
  slos: z.array(z.object({
    key: z.enum(['availability', 'latency', 'errors', 'webhook_processing']),
    description: z.string(),
    objective: z.number(),
    status: z.enum(['ok', 'fast_burn', 'exhausted', 'no_data']),
    budget_remaining: z.number().nullable().openapi({
      description: 'Share of the 30-day error budget left (negative once overspent)',
    }),
    windows: z.object({ '5m': SloWindow, '1h': SloWindow, '30d': SloWindow }),
  })),
}).openapi('Slos', { description: 'The SLOs (docs/slo-alerts.md)' });

const Overview = z.object({
  status: z.enum(['ok', 'degraded', 'down']).openapi({
    description: 'As `/health` says it: down when a critical check is down',
  }),
  time: z.string().openapi({ format: 'date-time' }),
  checks: z.record(
    z.string(),
    z.object({ status: z.enum(['ok', 'degraded', 'down']) })
      .passthrough(),
  ),
  rates: z.object({
    window_seconds: z.number().openapi({
      description: `The last ${RATE_WINDOW_MINUTES} whole minutes and the current one`,
    }),
    http_requests: perSecond('Requests answered per second, every function'),
    http_server_errors: perSecond('Of those, answered 5xx'),
    webhook_deliveries: perSecond('Deliveries to an intake route'),
    webhook_events_accepted: perSecond('Events stored'),
    webhook_events_duplicate: perSecond('Events recognised as stored already'),
    webhook_rejected: perSecond('Deliveries refused (signature, malformed, rate-limited, ...)'),
    jobs_succeeded: perSecond('Job runs that completed'),
    jobs_retried: perSecond('Job runs that failed and will retry'),
    jobs_dead: perSecond('Job runs that dead-lettered'),
  }).openapi('Rates'),
  queue: z.unknown().openapi({
    description: "The queue check's detail: totals, thresholds and each queue's depth",
  }),
  slos: z.union([Slos, z.object({ status: z.literal('unavailable') })]).optional(),
}).openapi('Overview');

const { httpRequests, webhookRequests, webhookEvents, webhookRejected, jobs } = CATALOG;

/** Per-second rates from the counters' increases over `seconds`. */
function ratesOf(increases: readonly CounterIncrease[], seconds: number) {
  const sum = (name: string, where: (labels: Readonly<Record<string, string>>) => boolean) =>
    increases.filter((row) => row.name === name && where(row.labels))
      .reduce((total, row) => total + row.value, 0) / seconds;
  const any = () => true;
  const outcome = (value: string) => (labels: Readonly<Record<string, string>>) =>
    labels.outcome === value;
  return {
    window_seconds: Math.round(seconds),
    http_requests: sum(httpRequests.name, any),
    http_server_errors: sum(httpRequests.name, (labels) => (labels.status ?? '').startsWith('5')),
    webhook_deliveries: sum(webhookRequests.name, any),
    webhook_events_accepted: sum(webhookEvents.name, outcome('accepted')),
    webhook_events_duplicate: sum(webhookEvents.name, outcome('duplicate')),
    webhook_rejected: sum(webhookRejected.name, any),
    jobs_succeeded: sum(jobs.name, outcome('succeeded')),
    jobs_retried: sum(jobs.name, outcome('retried')),
    jobs_dead: sum(jobs.name, outcome('dead')),
  };
}

/**
 * `/overview`: the console's front page in one request: the status and checks `/health`
 * reports (database, migrations, queue, webhooks), request, webhook and job rates over the last
 * minutes from `system_metrics`, the queue's depth, and the SLOs when the function has them.
 */
export function overviewRoutes(admin: Admin, deps: AdminDeps): void {
  const checks = [
    databaseCheck(deps.db, deps.clock),
    migrationsCheck(deps.db, deps.manifest, deps.clock),
    // On the probe connection, as /health runs it: a busy pool is not a backlog.
    queueCheck(deps.db.probe(PROBE_TIMEOUT_MS), {
      depthWarning: deps.config.queue.depthWarning,
      depthCritical: deps.config.queue.depthCritical,
    }),
    // A provider whose deliveries fail their signature shows on the front page.
    webhooksCheck(
      deps.db.probe(PROBE_TIMEOUT_MS),
      webhookEndpoints(deps.config),
      { metrics: deps.config.metrics.enabled },
    ),
  ];
  const counters = [httpRequests, webhookRequests, webhookEvents, webhookRejected, jobs]
    .map((metric) => metric.name);

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/overview',
      tags: ['overview'],
      summary: 'Status, rates, the queue and the SLOs, for the console',
      responses: { 200: json(Overview, 'The overview') },
    }),
    async (c) => {
      const log = c.get('log');
      const [report, recent, slos] = await Promise.all([
        runHealthChecks(checks, {
          timeoutMs: CHECK_TIMEOUT_MS,
          onError: (check, error) => log.warn('health check failed', { check, error }),
        }),
        recentIncreases(deps.db, counters, RATE_WINDOW_MINUTES),
        deps.slos?.().catch((error: unknown) => {
          log.warn('the SLOs could not be read', { error });
          return { status: 'unavailable' };
        }),
      ]);
      const { queue, ...rest } = report.checks;
      return c.json({
        status: overallStatus(checks, report),
        time: new Date(deps.clock.now()).toISOString(),
        checks: { ...rest, ...(queue ? { queue: { status: queue.status } } : {}) },
        rates: ratesOf(recent.increases, recent.seconds),
        queue: queue ?? null,
        ...(deps.slos ? { slos } : {}),
      } as never, 200);
    },
  );
}
