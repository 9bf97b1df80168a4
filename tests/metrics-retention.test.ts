/**
 * The hourly retention job on `system_metrics`, run by the job engine on a real database:
 * minute rows older than two days become hour rows with the same sums, hour rows older than
 * 400 days go, newer minutes and the totals `/metrics` reads stay as they are, and a history
 * larger than a round takes as many rounds as it needs.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { typed } from '../functions/_shared/db/types.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import {
  MAINTENANCE_QUEUE,
  RETENTION_KIND,
  retentionHandler,
} from '../functions/_shared/jobs/maintenance.ts';
import { JobRegistry } from '../functions/_shared/queue/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({
  reset: 'delete from system_metrics; delete from jobs; delete from dead_jobs;',
});

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** The start of the hour three days ago: its minutes and the next hour's are past retention. */
const base = () => Math.floor((Date.now() - 72 * HOUR_MS) / HOUR_MS) * HOUR_MS;

interface Row {
  name: string;
  labels: Record<string, string>;
  /** The bucket as ms since the epoch; -Infinity for a total. */
  at: number;
  kind: 'counter' | 'gauge' | 'histogram';
  value: number;
  count: number;
  counts?: number[];
}

const counter = { name: 'retention_test_total', labels: { provider: 'stripe' }, kind: 'counter' };
const histogram = { name: 'retention_test_seconds', labels: { route: '/a' }, kind: 'histogram' };
const gauge = { name: 'retention_test_ratio', labels: { pool: 'requests' }, kind: 'gauge' };

/** Minute rows in two old hours, one recent minute, and the totals. */
function history(from: number, recent: number): Row[] {
  const minute = (n: number) => from + n * MINUTE_MS;
  return [
    { ...counter, at: minute(1), value: 2, count: 0 },
    { ...counter, at: minute(5), value: 3, count: 0 },
    { ...counter, at: minute(59), value: 4, count: 0 },
    { ...counter, at: minute(62), value: 5, count: 0 },
    { ...counter, at: recent, value: 7, count: 0 },
    { ...counter, at: -Infinity, value: 21, count: 0 },
    { ...histogram, at: minute(1), value: 2.05, count: 2, counts: [1, 0, 1] },
    { ...histogram, at: minute(10), value: 1, count: 2, counts: [0, 2, 0] },
    { ...histogram, at: -Infinity, value: 3.05, count: 4, counts: [1, 2, 1] },
    { ...gauge, at: minute(1), value: 0.5, count: 1 },
    { ...gauge, at: minute(2), value: 0.75, count: 1 },
  ] as Row[];
}

/** Writes `rows` as the flush would have (totals at -infinity with width 0; bounds 0.1, 1). */
async function insert(rows: readonly Row[]): Promise<void> {
  await database.db.query(
    `insert into system_metrics (name, labels, bucket, width, kind, value, count, bounds, counts)
     select r.name, r.labels, coalesce(r.at, '-infinity'),
            case when r.at is null then interval '0' else interval '1 minute' end,
            r.kind, r.value, r.count,
            case when r.kind = 'histogram' then '{0.1,1}'::float8[] end, r.counts
       from jsonb_to_recordset($1::jsonb)
         as r(name text, labels jsonb, at timestamptz, kind text, value double precision,
              count bigint, counts bigint[])`,
    [
      typed(
        rows.map((row) => ({
          ...row,
          at: row.at === -Infinity ? null : new Date(row.at).toISOString(),
        })),
        'jsonb',
      ),
    ],
  );
}

/** Every row, in one order: what the table holds, with minute or hour rows told apart. */
async function rows(): Promise<(Row & { width: string })[]> {
  const found = await database.db.query<{
    name: string;
    labels: Record<string, string>;
    at: string | null;
    width: string;
    kind: Row['kind'];
    value: number;
    count: string;
    counts: string[] | null;
  }>(
    `select name, labels, case when width > interval '0' then bucket end as at,
            width::text as width, kind, value, count::text as count, counts::text[] as counts
       from system_metrics order by name, width, bucket`,
  );
  return found.map((row) => ({
    name: row.name,
    labels: row.labels,
    at: row.at === null ? -Infinity : new Date(row.at).getTime(),
    width: row.width,
    kind: row.kind,
    value: Number(row.value),
    count: Number(row.count),
    ...(row.counts ? { counts: row.counts.map(Number) } : {}),
  }));
}

/** Per series: the sum of its history (the highest for a gauge), totals left out. */
function sums(table: readonly Row[]) {
  const out = new Map<string, { value: number; count: number; counts?: number[] }>();
  for (const row of table) {
    if (row.at === -Infinity) continue;
    const seen = out.get(row.name);
    if (!seen) {
      out.set(row.name, { value: row.value, count: row.count, counts: row.counts });
      continue;
    }
    out.set(row.name, {
      value: row.kind === 'gauge' ? Math.max(seen.value, row.value) : seen.value + row.value,
      count: seen.count + row.count,
      counts: seen.counts?.map((n, i) => n + row.counts![i]!),
    });
  }
  for (const sum of out.values()) sum.value = Math.round(sum.value * 1e9) / 1e9;
  return out;
}

/**
 * One maintenance pass as the worker function and the scheduler run it: the retention job
 * scheduled for this hour, then run. Its report, and its `retention purge` log line.
 */
async function runRetention() {
  const logs = capturedLogger();
  const config = parseConfig({});
  const runner = createJobRunner({
    config,
    db: database.db,
    logger: logs.logger,
    clock: systemClock,
    // The retention job alone: without the minute's evaluation (it samples the queues into
    // system_metrics), which the maintenance pass schedules for a registry that has it.
    registry: new JobRegistry().register(RETENTION_KIND, {
      handler: retentionHandler(config.queue.retentionDays),
    }),
  });
  const report = await runner.pass({ maintenance: true, queues: [MAINTENANCE_QUEUE] });
  return { report, purge: logs.entries().find((line) => line.msg === 'retention purge') };
}

describe('the hourly retention job on system_metrics', () => {
  it('rolls minute rows older than two days into hour rows, keeping every sum and total', async () => {
    const from = base();
    const recent = Math.floor((Date.now() - HOUR_MS) / MINUTE_MS) * MINUTE_MS;
    await insert(history(from, recent));
    const before = await rows();
    const { report, purge } = await runRetention();
    expect(report).toMatchObject({ completed: 1, retried: 0, dead: 0 });
    expect(purge).toMatchObject({ metric_minutes_rolled_up: 8 });

    const after = await rows();
    const hour = (n: number) => from + n * HOUR_MS;
    const kept = (row: Row) => ({ ...row, width: row.at === -Infinity ? '00:00:00' : '00:01:00' });
    expect(after).toEqual([
      // The gauge's hour keeps its highest minute.
      { ...gauge, at: hour(0), width: '01:00:00', value: 0.75, count: 2 },
      kept(before.find((row) => row.name === histogram.name && row.at === -Infinity)!),
      {
        ...histogram,
        at: hour(0),
        width: '01:00:00',
        value: expect.closeTo(3.05, 9),
        count: 4,
        counts: [1, 2, 1],
      },
      kept(before.find((row) => row.name === counter.name && row.at === -Infinity)!),
      kept(before.find((row) => row.name === counter.name && row.at === recent)!),
      { ...counter, at: hour(0), width: '01:00:00', value: 9, count: 0 },
      { ...counter, at: hour(1), width: '01:00:00', value: 5, count: 0 },
    ]);
    expect(sums(after)).toEqual(sums(before));
  });

  it('deletes hour rows older than 400 days, keeping newer hours and the totals', async () => {
    await insert([{ ...counter, at: -Infinity, value: 21, count: 0 }] as Row[]);
    await database.db.query(
      `insert into system_metrics (name, labels, bucket, width, kind, value, count)
       select $1, $2::jsonb, date_trunc('hour', now()) - age, interval '1 hour', 'counter', 3, 0
         from unnest(array[interval '401 days', interval '402 days', interval '399 days']) age`,
      [counter.name, typed(counter.labels, 'jsonb')],
    );
    expect((await runRetention()).purge).toMatchObject({ metric_hours_deleted: 2 });
    const left = await rows();
    expect(left.map((row) => row.width)).toEqual(['00:00:00', '01:00:00']);
    expect(Date.now() - left[1]!.at).toBeLessThan(400 * 24 * HOUR_MS);
  });

  it('takes as many rounds as the old minutes need, each in its own job', async () => {
    const from = base();
    const recent = Math.floor((Date.now() - HOUR_MS) / MINUTE_MS) * MINUTE_MS;
    await insert(history(from, recent));
    const before = await rows();
    // Two minute rows a round: eight old ones take four rounds, the last finds two and
    // schedules one more that finds none.
    const runner = createJobRunner({
      config: parseConfig({}),
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      registry: new JobRegistry().register(RETENTION_KIND, { handler: retentionHandler(30, 2) }),
    });
    const report = await runner.pass({ maintenance: true, queues: [MAINTENANCE_QUEUE] });
    expect(report).toMatchObject({ completed: 5, retried: 0, dead: 0 });
    const after = await rows();
    expect(after.filter((row) => row.width === '00:01:00').map((row) => row.at)).toEqual([recent]);
    expect(sums(after)).toEqual(sums(before));
  });
});
