import { z } from '@hono/zod-openapi';
import { CATALOG } from '../_shared/metrics/index.ts';
import { type Admin, type AdminDeps, adminRoute, json, TimeRange } from './context.ts';
import { printable } from '../_shared/http/index.ts';
import { listMetrics, readSeries } from './series.ts';

/** Most points one series request may ask for (range / step). */
export const MAX_POINTS = 1_440;
export const MIN_STEP_SECONDS = 60;
const MAX_STEP_SECONDS = 7 * 86_400;
const DEFAULT_RANGE_MS = 3_600_000;
const MAX_LABEL_FILTERS = 10;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const HELP: ReadonlyMap<string, string> = new Map(
  Object.values(CATALOG).map((definition) => [definition.name, definition.help]),
);

/** `name=value`: the value may hold any printable character, `=` included. */
const labelFilter = z.string().max(200).refine(
  (text) => /^[a-zA-Z_][a-zA-Z0-9_]*=.{1,120}$/.test(text) && printable(text),
  'a label filter: name=value',
);

const SeriesQuery = TimeRange.extend({
  name: z.string().max(200).regex(METRIC_NAME, 'a metric name').openapi({
    example: 'gatehouse_http_requests_total',
  }),
  label: z.union([labelFilter, z.array(labelFilter).max(MAX_LABEL_FILTERS)]).optional().openapi({
    description: 'Only series with this label value, `name=value`; repeat for more',
    example: 'function=webhooks',
  }),
  group_by: z.string().max(64).regex(LABEL_NAME, 'a label name').optional().openapi({
    description: 'One series per value of this label (e.g. `status`); else all added up',
  }),
  step: z.coerce.number().int().min(MIN_STEP_SECONDS).max(MAX_STEP_SECONDS).default(60)
    .openapi({ description: `Seconds per point, at least ${MIN_STEP_SECONDS}` }),
}).superRefine((query, ctx) => {
  const until = query.until === undefined ? Date.now() : Date.parse(query.until);
  const since = query.since === undefined ? until - DEFAULT_RANGE_MS : Date.parse(query.since);
  if (since >= until) {
    ctx.addIssue({ code: 'custom', path: ['since'], message: 'since must be before until' });
  } else if ((until - since) / 1000 / query.step > MAX_POINTS) {
    ctx.addIssue({
      code: 'custom',
      path: ['step'],
      message: `at most ${MAX_POINTS} points: a longer step or a shorter range`,
    });
  }
});

const Point = z.object({
  t: z.string().openapi({ format: 'date-time', description: "The step's start" }),
  value: z.number().nullable().openapi({
    description: 'Counter: the increase in the step; gauge: the highest value reported ' +
      '(null: none); histogram: the observations',
  }),
  sum: z.number().optional().openapi({ description: 'Histogram: the sum of the observations' }),
  p50: z.number().nullable().optional(),
  p90: z.number().nullable().optional(),
  p99: z.number().nullable().optional(),
}).openapi('SeriesPoint');

const SeriesAnswer = z.object({
  name: z.string(),
  kind: z.enum(['counter', 'gauge', 'histogram']).nullable().openapi({
    description: 'Null when the metric has no rows in the range',
  }),
  since: z.string(),
  until: z.string(),
  step: z.number().int(),
  series: z.array(z.object({ labels: z.record(z.string(), z.string()), points: z.array(Point) })),
}).openapi('MetricSeries');

const MetricList = z.object({
  items: z.array(z.object({
    name: z.string(),
    kind: z.enum(['counter', 'gauge', 'histogram']),
    help: z.string().nullable(),
    labels: z.array(z.string()),
    series: z.number().int().openapi({ description: 'Label sets recorded' }),
  })),
}).openapi('MetricList');

/** `/metrics`: what `system_metrics` holds, and time series of it for charts. */
export function metricRoutes(admin: Admin, deps: AdminDeps): void {
  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/metrics',
      tags: ['metrics'],
      summary: 'The metrics recorded: name, kind, help and label names',
      responses: { 200: json(MetricList, 'The metrics') },
    }),
    async (c) => {
      const metrics = await listMetrics(deps.db);
      const items = metrics.map((metric) => ({ ...metric, help: HELP.get(metric.name) ?? null }));
      return c.json({ items }, 200);
    },
  );

  admin.openapi(
    adminRoute('ops:read', {
      method: 'get',
      path: '/metrics/series',
      tags: ['metrics'],
      summary: 'A metric over time, step by step, for a chart',
      description: 'From the minute rows of `system_metrics` (hour rows once rolled up): ' +
        'counters add up per step, gauges keep their highest value, histograms give the ' +
        'observations, their sum and the 50th, 90th and 99th percentiles estimated from the ' +
        'bucket counts. The range defaults to the last hour.',
      request: { query: SeriesQuery },
      responses: { 200: json(SeriesAnswer, 'The series') },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const until = query.until === undefined ? new Date(deps.clock.now()) : new Date(query.until);
      const since = query.since === undefined
        ? new Date(until.getTime() - DEFAULT_RANGE_MS)
        : new Date(query.since);
      const filters = query.label === undefined ? [] : [query.label].flat();
      const labels: Record<string, string> = {};
      for (const filter of filters) {
        const at = filter.indexOf('=');
        labels[filter.slice(0, at)] = filter.slice(at + 1);
      }
      const { kind, series } = await readSeries(deps.db, {
        name: query.name,
        labels,
        from: since,
        to: until,
        stepSeconds: query.step,
        groupBy: query.group_by ?? null,
      });
      return c.json({
        name: query.name,
        kind,
        since: since.toISOString(),
        until: until.toISOString(),
        step: query.step,
        series,
      }, 200);
    },
  );
}
