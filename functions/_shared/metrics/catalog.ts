import type { Counter, Gauge, Histogram, MetricDefinition, Metrics } from './registry.ts';

/** Latency buckets in seconds: 5 ms to 10 s, dense around the 1 s SLO. */
export const LATENCY_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  10,
] as const;

/** Job durations in seconds: 10 ms to 5 min. */
export const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300] as const;

/** The series Gatehouse records. Names are the contract of `/metrics` (docs/metrics.md). */
export const CATALOG = {
  httpRequests: {
    name: 'gatehouse_http_requests_total',
    help: 'HTTP requests answered, by function, route pattern, method and status.',
    kind: 'counter',
    labels: ['function', 'route', 'method', 'status'],
  },
  httpDuration: {
    name: 'gatehouse_http_request_duration_seconds',
    help: 'Time from a request arriving to its answer, by function and route pattern.',
    kind: 'histogram',
    labels: ['function', 'route'],
    buckets: LATENCY_BUCKETS,
  },
  webhookRequests: {
    name: 'gatehouse_webhook_requests_total',
    help: 'Webhook deliveries received, by provider (every POST to an intake route).',
    kind: 'counter',
    labels: ['provider'],
  },
  webhookEvents: {
    name: 'gatehouse_webhook_events_total',
    help: 'Webhook events stored (accepted) or recognised as already stored (duplicate).',
    kind: 'counter',
    labels: ['provider', 'outcome'],
  },
  webhookRejected: {
    name: 'gatehouse_webhook_rejected_total',
    help:
      'Webhook deliveries refused, by provider and reason (signature, malformed, throttled: rate-limited, ...).',
    kind: 'counter',
    labels: ['provider', 'reason'],
  },
  jobs: {
    name: 'gatehouse_jobs_total',
    help: 'Job runs finished, by kind and outcome (succeeded, retried, dead).',
    kind: 'counter',
    labels: ['kind', 'outcome'],
  },
  jobDuration: {
    name: 'gatehouse_job_duration_seconds',
    help: 'Time a job handler ran, by kind.',
    kind: 'histogram',
    labels: ['kind'],
    buckets: JOB_BUCKETS,
  },
  rateLimit: {
    name: 'gatehouse_rate_limit_decisions_total',
    help: 'Rate-limit decisions, by scope and decision (allowed, limited).',
    kind: 'counter',
    labels: ['scope', 'decision'],
  },
  flagEvaluations: {
    name: 'gatehouse_flag_evaluations_total',
    help: 'Feature-flag evaluations, by flag and result (on, off).',
    kind: 'counter',
    labels: ['flag', 'result'],
  },
  poolWait: {
    name: 'gatehouse_db_pool_wait_seconds',
    help:
      'Time a call to a database pool (statement, batch or transaction) waited because every connection was busy with earlier calls, by pool.',
    kind: 'histogram',
    labels: ['pool'],
    buckets: LATENCY_BUCKETS,
  },
  poolSaturation: {
    name: 'gatehouse_db_pool_saturation_ratio',
    help:
      "Highest share of a pool's connections busy with calls in the minute (over instances and flushes), by pool.",
    kind: 'gauge',
    labels: ['pool'],
  },
  outboundDeliveries: {
    name: 'gatehouse_outbound_deliveries_total',
    help:
      'Outbound webhook attempts, by endpoint and outcome (succeeded, failed, gone: 410, not_sent: the breaker was open).',
    kind: 'counter',
    labels: ['endpoint', 'outcome'],
  },
  outboundLatency: {
    name: 'gatehouse_outbound_event_to_success_seconds',
    help: 'Time from an event being emitted to an endpoint answering it 2xx, by endpoint.',
    kind: 'histogram',
    labels: ['endpoint'],
    buckets: LATENCY_BUCKETS,
  },
} as const satisfies Record<string, MetricDefinition>;

/** Series computed from the database when `/metrics` is read, not recorded in-process. */
export const LIVE_CATALOG = {
  queueJobs: {
    name: 'gatehouse_queue_jobs',
    help:
      'Jobs by queue and state: due (waiting to start), scheduled (retrying or later), running, dead (dead-lettered, not replayed).',
    kind: 'gauge',
    labels: ['queue', 'state'],
  },
  queueOldest: {
    name: 'gatehouse_queue_oldest_age_seconds',
    help: 'How long the oldest due job of a queue has waited.',
    kind: 'gauge',
    labels: ['queue'],
  },
  outboundBacklog: {
    name: 'gatehouse_outbound_backlog',
    help:
      'Outbound messages not delivered yet, by endpoint and status (pending, queued, waiting, delivering, held).',
    kind: 'gauge',
    labels: ['endpoint', 'status'],
  },
  outboundBacklogAge: {
    name: 'gatehouse_outbound_backlog_age_seconds',
    help: "Age of an endpoint's oldest event not delivered yet.",
    kind: 'gauge',
    labels: ['endpoint'],
  },
  outboundBreaker: {
    name: 'gatehouse_outbound_breaker_open',
    help: "An endpoint's breaker: 0 closed, 1 half-open (a probe is out), 2 open.",
    kind: 'gauge',
    labels: ['endpoint'],
  },
} as const satisfies Record<string, MetricDefinition>;

type LabelsOf<D> = D extends { labels: readonly (infer L)[] } ? L & string : never;
type Recorder<D> = D extends { kind: 'counter' } ? Counter<LabelsOf<D>>
  : D extends { kind: 'gauge' } ? Gauge<LabelsOf<D>>
  : Histogram<LabelsOf<D>>;

/** The catalog's metrics, defined in one registry and ready to record. */
export type GatehouseMetrics = {
  readonly [K in keyof typeof CATALOG]: Recorder<(typeof CATALOG)[K]>;
};

/**
 * Defines every catalog metric in `metrics` (once per registry; calling it again returns the
 * same recorders) and returns them by key.
 *
 * @example
 * const m = gatehouseMetrics(runtime.metrics);
 * m.webhookEvents.inc({ provider: 'stripe', outcome: 'accepted' });
 */
export function gatehouseMetrics(metrics: Metrics): GatehouseMetrics {
  const cached = bound.get(metrics);
  if (cached) return cached;
  const out: Record<string, unknown> = {};
  for (const [key, definition] of Object.entries(CATALOG) as [string, MetricDefinition][]) {
    out[key] = definition.kind === 'counter'
      ? metrics.counter(definition)
      : definition.kind === 'gauge'
      ? metrics.gauge(definition)
      : metrics.histogram(definition);
  }
  const result = out as GatehouseMetrics;
  bound.set(metrics, result);
  return result;
}

const bound = new WeakMap<Metrics, GatehouseMetrics>();
