/**
 * `system_metrics` read for charts: a metric's series over a time range in steps, the
 * metrics there are, and the counters of the last minutes. Minute rows (width 1 minute)
 * and, after the roll-up, hour rows (width 1 hour) are read; the totals (width 0) never,
 * since they cover all time. A row counts in the step its bucket starts in, so a step
 * shorter than an hour shows a rolled-up hour in its first step.
 */
import { type Queryable, typed } from '../_shared/db/types.ts';
import type { MetricKind } from '../_shared/metrics/index.ts';

/** The quantiles a histogram's points carry. */
export const QUANTILES = { p50: 0.5, p90: 0.9, p99: 0.99 } as const;

export interface SeriesRequest {
  readonly name: string;
  /** Only series whose labels include these. */
  readonly labels: Readonly<Record<string, string>>;
  readonly from: Date;
  readonly to: Date;
  readonly stepSeconds: number;
  /** One series per value of this label; null: every matching series added into one. */
  readonly groupBy: string | null;
}

export interface SeriesPoint {
  /** The step's start. */
  readonly t: string;
  /** Counter: the increase in the step; gauge: the highest value reported (null: none);
   * histogram: the observations. */
  readonly value: number | null;
  /** Histogram: the sum of the observations. */
  readonly sum?: number;
  readonly p50?: number | null;
  readonly p90?: number | null;
  readonly p99?: number | null;
}

export interface Series {
  readonly labels: Record<string, string>;
  readonly points: SeriesPoint[];
}

interface StepRow extends Record<string, unknown> {
  grp: string | null;
  i: number;
  kind: MetricKind;
  total: number;
  highest: number;
  count: string | number;
  bounds: number[] | null;
  counts: (string | number)[] | null;
}

/**
 * The `q` quantile of a histogram's observations, from its bucket counts (not cumulative,
 * the last counting those above every bound), interpolated linearly within the bucket it
 * falls in, as Prometheus's `histogram_quantile` does: the first bucket starts at 0, and a
 * quantile in the last (unbounded) bucket is the highest bound. Null without observations.
 *
 * @example
 * histogramQuantile(0.5, [1, 2], [0, 4, 0]); // 1.5
 */
export function histogramQuantile(
  q: number,
  bounds: readonly number[],
  counts: readonly number[],
): number | null {
  const total = counts.reduce((sum, n) => sum + n, 0);
  if (total === 0 || bounds.length === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i += 1) {
    const inBucket = counts[i] ?? 0;
    if (below + inBucket >= rank && inBucket > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds[bounds.length - 1]!;
}

/** The metric's kind (null when it has no rows in the range) and its series, step by step. */
export async function readSeries(
  db: Queryable,
  request: SeriesRequest,
): Promise<{ kind: MetricKind | null; series: Series[] }> {
  const rows = await db.query<StepRow>(
    `select case when $6::text is null then null else m.labels ->> $6::text end as grp,
            floor(date_part('epoch', m.bucket - $3::timestamptz) / $5::int4)::int4 as i,
            min(m.kind) as kind, sum(m.value) as total, max(m.value) as highest,
            sum(m.count)::int8 as count,
            max(m.bounds) filter (where m.bounds is not null) as bounds,
            public.system_metrics_sum_counts(m.counts) filter (where m.counts is not null)
              as counts
       from public.system_metrics m
      where m.name = $1 and m.labels @> $2::jsonb and m.width > interval '0'
        and m.bucket >= $3::timestamptz and m.bucket < $4::timestamptz
      group by 1, 2
      order by 1 nulls first, 2`,
    [
      request.name,
      typed(request.labels, 'jsonb'),
      request.from.toISOString(),
      request.to.toISOString(),
      request.stepSeconds,
      request.groupBy,
    ],
  );
  const kind = rows[0]?.kind ?? null;
  const steps = Math.ceil(
    (request.to.getTime() - request.from.getTime()) / 1000 / request.stepSeconds,
  );
  const groups = new Map<string | null, StepRow[]>();
  for (const row of rows) {
    const list = groups.get(row.grp);
    if (list) list.push(row);
    else groups.set(row.grp, [row]);
  }
  if (groups.size === 0 && request.groupBy === null) groups.set(null, []);
  const series = [...groups].map(([group, list]): Series => {
    const byStep = new Map(list.map((row) => [Number(row.i), row]));
    const points: SeriesPoint[] = [];
    for (let i = 0; i < steps; i += 1) {
      const t = new Date(request.from.getTime() + i * request.stepSeconds * 1000).toISOString();
      points.push(pointOf(kind, t, byStep.get(i)));
    }
    const labels = { ...request.labels };
    if (request.groupBy !== null && group !== null) labels[request.groupBy] = group;
    return { labels, points };
  });
  return { kind, series };
}

function pointOf(kind: MetricKind | null, t: string, row: StepRow | undefined): SeriesPoint {
  if (kind === 'gauge') return { t, value: row ? Number(row.highest) : null };
  if (kind !== 'histogram') return { t, value: row ? Number(row.total) : 0 };
  const counts = (row?.counts ?? []).map(Number);
  const bounds = (row?.bounds ?? []).map(Number);
  const quantile = (q: number) => histogramQuantile(q, bounds, counts);
  return {
    t,
    value: row ? Number(row.count) : 0,
    sum: row ? Number(row.total) : 0,
    p50: quantile(QUANTILES.p50),
    p90: quantile(QUANTILES.p90),
    p99: quantile(QUANTILES.p99),
  };
}

export interface MetricInfo {
  readonly name: string;
  readonly kind: MetricKind;
  /** Label names its series carry. */
  readonly labels: string[];
  /** How many label sets it has. */
  readonly series: number;
}

/**
 * The metrics in `system_metrics`: every counter and histogram (from their totals, one row
 * per series) and the gauges reported in the last day.
 */
export async function listMetrics(db: Queryable): Promise<MetricInfo[]> {
  const rows = await db.query<{ name: string; kind: MetricKind; labels: Record<string, string> }>(
    `select distinct m.name, m.kind, m.labels
       from public.system_metrics m
      where m.width = interval '0'
         or (m.kind = 'gauge' and m.bucket > now() - interval '1 day')
      order by m.name`,
  );
  const byName = new Map<string, { kind: MetricKind; labels: Set<string>; series: number }>();
  for (const row of rows) {
    const seen = byName.get(row.name) ??
      { kind: row.kind, labels: new Set<string>(), series: 0 };
    for (const label of Object.keys(row.labels)) seen.labels.add(label);
    seen.series += 1;
    byName.set(row.name, seen);
  }
  return [...byName].map(([name, seen]) => ({
    name,
    kind: seen.kind,
    labels: [...seen.labels].sort(),
    series: seen.series,
  }));
}

/** A counter series' increase over the recent window. */
export interface CounterIncrease {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * The increase of each series of the counters `names` over the minutes since
 * `windowMinutes` whole minutes ago (the current, partial minute included), and how many
 * seconds that window spans: what instances have flushed so far.
 */
export async function recentIncreases(
  db: Queryable,
  names: readonly string[],
  windowMinutes: number,
): Promise<{ seconds: number; increases: CounterIncrease[] }> {
  const rows = await db.query<{
    name: string | null;
    labels: Record<string, string> | null;
    value: number | null;
    seconds: string | number;
  }>(
    `with w as (select date_trunc('minute', now() - make_interval(mins => $2::int4)) as start)
     select m.name, m.labels, sum(m.value) as value,
            extract(epoch from now() - w.start)::float8 as seconds
       from w
       left join public.system_metrics m
         on m.width = interval '1 minute' and m.kind = 'counter' and m.bucket >= w.start
        and m.name = any($1::text[])
      group by m.name, m.labels, w.start`,
    [names, windowMinutes],
  );
  return {
    seconds: Number(rows[0]?.seconds ?? windowMinutes * 60),
    increases: rows.filter((row) => row.name !== null).map((row) => ({
      name: row.name!,
      labels: row.labels ?? {},
      value: Number(row.value ?? 0),
    })),
  };
}
