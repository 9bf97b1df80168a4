import type { Clock } from '../clock.ts';
import type { Db, Queryable } from '../db/types.ts';
import { typed } from '../db/types.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics, SeriesDelta } from './registry.ts';

/**
 * Adds drained deltas to `system_metrics` in one statement: to the current minute's row of
 * each series and, for counters and histograms, to its total row (width 0). Rows are sent
 * sorted, so two instances flushing the same series lock them in the same order and never
 * deadlock; deltas of the same series are merged first (one statement may not touch a row
 * twice).
 */
export async function writeDeltas(
  db: Db,
  deltas: readonly SeriesDelta[],
  at: number,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  if (deltas.length === 0) return;
  await db.query(
    `insert into public.system_metrics as m
            (name, labels, bucket, width, kind, value, count, bounds, counts, updated_at)
     select r.name, r.labels, t.bucket, t.width, r.kind, r.value, r.count, r.bounds, r.counts,
            pg_catalog.now()
       from rows from (jsonb_to_recordset($2::jsonb)
              as (name text, labels jsonb, kind text, value double precision, count bigint,
                  bounds double precision[], counts bigint[]))
            with ordinality as r(name, labels, kind, value, count, bounds, counts, i)
      cross join lateral (values
              (pg_catalog.date_trunc('minute', $1::timestamptz), interval '1 minute'),
              ('-infinity'::timestamptz, interval '0')) as t(bucket, width)
      where r.kind <> 'gauge' or t.width > interval '0'
      order by r.i, t.width
     on conflict (name, labels, width, bucket) do update set
       value = case when m.kind = 'gauge' then greatest(m.value, excluded.value)
                    else m.value + excluded.value end,
       count = m.count + excluded.count,
       counts = public.system_metrics_add_counts(m.counts, excluded.counts),
       updated_at = excluded.updated_at`,
    [typed(new Date(at).toISOString(), 'timestamptz'), typed(mergeDeltas(deltas), 'jsonb')],
    options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs },
  );
}

/** Deltas of one series (name and labels) merged into one, sorted by name then labels. */
export function mergeDeltas(deltas: readonly SeriesDelta[]): SeriesDelta[] {
  const merged = new Map<string, SeriesDelta>();
  for (const delta of deltas) {
    const key = seriesKey(delta.name, delta.labels);
    const seen = merged.get(key);
    if (!seen) {
      merged.set(key, { ...delta, counts: delta.counts ? [...delta.counts] : null });
      continue;
    }
    const counts = seen.counts && delta.counts
      ? seen.counts.map((n, i) => n + (delta.counts![i] ?? 0))
      : seen.counts ?? delta.counts;
    merged.set(key, {
      ...seen,
      value: seen.kind === 'gauge' ? Math.max(seen.value, delta.value) : seen.value + delta.value,
      count: seen.count + delta.count,
      counts,
    });
  }
  return [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, d]) => d);
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort();
  return name + '\u0000' + names.map((label) => `${label}=${labels[label]}`).join('\u0001');
}

export interface MetricsFlusher {
  /** Writes what was recorded since the last flush; on failure keeps it for the next one. */
  flush(): Promise<void>;
  /** Flushes if the interval has passed since the last flush (cheap to call per request). */
  due(): boolean;
}

export interface FlusherOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** At least this long between flushes started by `due()`. */
  readonly intervalMs: number;
  readonly timeoutMs?: number;
}

/**
 * The flush of one process's metrics to `system_metrics`: one statement at a time (a flush
 * asked for while one runs waits for it, then writes what came since), failures logged and
 * the deltas kept for the next flush, so nothing recorded is lost while the database is away.
 */
export function createMetricsFlusher(
  metrics: Metrics,
  db: Db,
  options: FlusherOptions,
): MetricsFlusher {
  let last = options.clock.now();
  let running: Promise<void> | null = null;
  let failing = false;

  const once = async () => {
    const deltas = metrics.drain();
    if (deltas.length === 0) return;
    try {
      await writeDeltas(db, deltas, options.clock.now(), { timeoutMs: options.timeoutMs });
      if (failing) options.logger.info('metrics flush recovered');
      failing = false;
    } catch (error) {
      metrics.restore(deltas);
      if (!failing) options.logger.warn('metrics flush failed; kept for the next one', { error });
      failing = true;
    }
  };

  const flush = (): Promise<void> => {
    last = options.clock.now();
    const previous = running ?? Promise.resolve();
    const next = previous.then(once);
    running = next;
    void next.finally(() => {
      if (running === next) running = null;
    });
    return next;
  };

  return {
    flush,
    due() {
      return options.clock.now() - last >= options.intervalMs;
    },
  };
}

/** How long minute rows of `system_metrics` stay before retention rolls them into hours. */
export const MINUTE_ROWS_KEPT = '2 days';
/** How long hour rows of `system_metrics` stay (a year and a month, for year-on-year charts). */
export const HOUR_ROWS_KEPT = '400 days';

/**
 * Rolls up to `batch` minute rows older than {@link MINUTE_ROWS_KEPT} into hour rows
 * (`system_metrics_rollup`: totals unchanged); resolves to how many it moved.
 *
 * @example
 * const moved = await rollUpMetrics(ctx.tx, 1_000);
 */
export async function rollUpMetrics(db: Queryable, batch: number): Promise<number> {
  const [row] = await db.query<{ moved: string | number }>(
    'select public.system_metrics_rollup($1::interval, $2) as moved',
    [typed(MINUTE_ROWS_KEPT, 'text'), typed(batch, 'int4')],
  );
  return Number(row?.moved ?? 0);
}

/**
 * Deletes up to `batch` hour rows older than {@link HOUR_ROWS_KEPT}
 * (`system_metrics_purge_hours`: minute rows and totals untouched); resolves to how many.
 */
export async function purgeMetricHours(db: Queryable, batch: number): Promise<number> {
  const [row] = await db.query<{ purged: string | number }>(
    'select public.system_metrics_purge_hours($1::interval, $2) as purged',
    [typed(HOUR_ROWS_KEPT, 'text'), typed(batch, 'int4')],
  );
  return Number(row?.purged ?? 0);
}
