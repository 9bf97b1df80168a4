import type { Hono } from 'hono';
import { requireServiceKey } from '../_shared/auth/service-key.ts';
import type { Clock } from '../_shared/clock.ts';
import { systemClock } from '../_shared/clock.ts';
import type { Config } from '../_shared/config/index.ts';
import type { Db, Queryable } from '../_shared/db/types.ts';
import { type AppEnv, createFunctionApp } from '../_shared/http/index.ts';
import type { Logger } from '../_shared/log/index.ts';
import { CATALOG, LIVE_CATALOG } from '../_shared/metrics/catalog.ts';
import {
  type AggregatedSeries,
  readAggregated,
  renderExposition,
} from '../_shared/metrics/exposition.ts';
import type { ProcessMetrics } from '../_shared/metrics/process.ts';
import { QUEUE_SAMPLE_DEFINITIONS } from '../_shared/queue/history.ts';
import { queueStats } from '../_shared/queue/store.ts';
import type { Runtime } from '../_shared/runtime/index.ts';

export interface MetricsDeps {
  readonly config: Pick<Config, 'http' | 'serviceKeys' | 'metricsTokens' | 'database'>;
  readonly db: Db;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** This process's metrics: flushed before each read, so its own latest counts show. */
  readonly metrics?: ProcessMetrics;
}

/** The Prometheus text format's content type. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The `metrics` function: `GET /metrics` serves every instance's metrics from
 * `system_metrics` in the Prometheus text format, plus the job queue read live (depth by
 * state, oldest due job). Bearer `METRICS_TOKEN` or the service key; anything else 401.
 *
 * @example
 * const app = createMetricsApp({ config, db, logger, metrics });
 * const res = await app.request('/metrics', { headers: { Authorization: `Bearer ${token}` } });
 */
export function createMetricsApp(deps: MetricsDeps): Hono<AppEnv> {
  const clock = deps.clock ?? systemClock;
  const app = createFunctionApp('metrics', {
    metrics: deps.metrics,
    logger: deps.logger,
    corsOrigins: [],
    bodyLimitBytes: 1024,
    now: () => clock.now(),
  });
  const definitions = [
    ...Object.values(CATALOG),
    ...Object.values(LIVE_CATALOG),
    ...QUEUE_SAMPLE_DEFINITIONS,
    {
      name: 'gatehouse_metrics_series_overflow_total',
      help: 'Label sets recorded under `_other` because a metric had too many series.',
    },
  ];

  app.use('*', requireServiceKey([...deps.config.metricsTokens, ...deps.config.serviceKeys]));

  app.get('/', async (c) => {
    const timeoutMs = deps.config.database.timeoutMs;
    // This instance's counts since its last flush go out first (a failed flush keeps them
    // for the next one, and the read goes ahead).
    if (deps.metrics?.enabled) await deps.metrics.flusher.flush();
    const [stored, live, outbound] = await Promise.all([
      readAggregated(deps.db, { timeoutMs }),
      queueSeries(deps.db),
      outboundSeries(deps.db),
    ]);
    c.header('Cache-Control', 'no-store');
    const known = [...definitions, ...(deps.metrics?.registry.definitions() ?? [])];
    return c.body(renderExposition([...stored, ...live, ...outbound], known), 200, {
      'Content-Type': EXPOSITION_CONTENT_TYPE,
    });
  });

  return app;
}

/** A gauge read live, in the shape the exposition renders. */
function gauge(name: string, labels: Record<string, string>, value: number): AggregatedSeries {
  return { name, kind: 'gauge', labels, value, count: 1, bounds: null, counts: null };
}

/** The job queue as gauges, read when scraped: every instance sees the same table. */
async function queueSeries(db: Queryable): Promise<AggregatedSeries[]> {
  const out: AggregatedSeries[] = [];
  for (const queue of await queueStats(db)) {
    const jobs = LIVE_CATALOG.queueJobs.name;
    out.push(gauge(jobs, { queue: queue.queue, state: 'due' }, queue.depth));
    out.push(gauge(jobs, { queue: queue.queue, state: 'scheduled' }, queue.scheduled));
    out.push(gauge(jobs, { queue: queue.queue, state: 'running' }, queue.running));
    out.push(gauge(jobs, { queue: queue.queue, state: 'dead' }, queue.dead));
    out.push(
      gauge(LIVE_CATALOG.queueOldest.name, { queue: queue.queue }, queue.oldestDueMs / 1000),
    );
  }
  return out;
}

/** Outbound endpoints' backlog, its age and their breakers, read when scraped. */
async function outboundSeries(db: Queryable): Promise<AggregatedSeries[]> {
  const rows = await db.query<
    {
      endpoint: string;
      status: string | null;
      n: number;
      age_s: number | null;
      breaker: string | null;
    }
  >(
    `select e.id::text as endpoint, m.status, coalesce(m.n, 0)::int as n, m.age_s,
            (select b.state from public.circuit_breakers b where b.name = 'webhook:' || e.id::text)
              as breaker
       from public.webhook_endpoints e
       left join lateral (
         select o.status, count(*) as n,
                extract(epoch from now() - min(ev.created_at))::float8 as age_s
           from public.outbound_messages o join public.outbound_events ev on ev.id = o.event_id
          where o.endpoint_id = e.id and o.status not in ('succeeded', 'failed')
          group by o.status) m on true`,
  );
  const out: AggregatedSeries[] = [];
  const oldest = new Map<string, number>();
  const breakers = new Map<string, string>();
  for (const row of rows) {
    breakers.set(row.endpoint, row.breaker ?? 'closed');
    if (row.status === null) continue;
    out.push(gauge(LIVE_CATALOG.outboundBacklog.name, {
      endpoint: row.endpoint,
      status: row.status,
    }, Number(row.n)));
    oldest.set(row.endpoint, Math.max(oldest.get(row.endpoint) ?? 0, Number(row.age_s ?? 0)));
  }
  for (const [endpoint, state] of breakers) {
    out.push(gauge(LIVE_CATALOG.outboundBacklogAge.name, { endpoint }, oldest.get(endpoint) ?? 0));
    const value = state === 'open' ? 2 : state === 'half_open' ? 1 : 0;
    out.push(gauge(LIVE_CATALOG.outboundBreaker.name, { endpoint }, value));
  }
  return out;
}

/** The metrics function as deployed. */
export function createMetricsFunction(runtime: Runtime): Hono<AppEnv> {
  return createMetricsApp(runtime);
}
