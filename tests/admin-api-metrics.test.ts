/**
 * The admin API's metrics for charts, through the real router on `system_metrics` rows as
 * the flush and the roll-up write them: counters added up per step, gauges at their
 * highest, histograms with quantiles; label filters, grouping, hour rows, and the range
 * and step checks.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { useAdmin } from './support/admin.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { problemOf } from './support/test-app.ts';

const database = useMigratedDatabase({ reset: 'delete from system_metrics;' });
const admin = useAdmin(database);
const SUPPORT = { role: 'support' } as const;

const MINUTE = 60_000;
/** The charts' start: a whole minute two hours ago. */
const T0 = Math.floor((Date.now() - 2 * 3_600_000) / MINUTE) * MINUTE;
const at = (minutes: number) => new Date(T0 + minutes * MINUTE).toISOString();
/** The start of an hour a day before T0, where a rolled-up row sits. */
const HOUR = Math.floor((T0 - 86_400_000) / 3_600_000) * 3_600_000;

interface Row {
  name: string;
  labels: Record<string, string>;
  minute: number;
  kind: 'counter' | 'gauge' | 'histogram';
  value: number;
  count?: number;
  counts?: number[];
  width?: string;
  bucket?: string;
}

async function store(rows: Row[]): Promise<void> {
  await database.db.query(
    `insert into system_metrics (name, labels, bucket, width, kind, value, count, bounds, counts)
     select r.name, r.labels, r.bucket, r.width::interval, r.kind, r.value, r.count,
            case when r.kind = 'histogram' then array[0.1, 0.5, 1]::float8[] end, r.counts
       from jsonb_to_recordset($1::jsonb) as r(name text, labels jsonb, bucket timestamptz,
            width text, kind text, value float8, count int8, counts int8[])`,
    [rows.map((row) => ({
      ...row,
      bucket: row.bucket ?? at(row.minute),
      width: row.width ?? '1 minute',
      count: row.count ?? 0,
      counts: row.counts ?? null,
    }))],
  );
}

const REQUESTS = 'gatehouse_http_requests_total';
const api200 = { function: 'api', status: '200' };
const api500 = { function: 'api', status: '500' };
const hooks200 = { function: 'webhooks', status: '200' };

beforeEach(async () => {
  await store([
    { name: REQUESTS, labels: api200, minute: 0, kind: 'counter', value: 5 },
    { name: REQUESTS, labels: api500, minute: 0, kind: 'counter', value: 1 },
    { name: REQUESTS, labels: api200, minute: 3, kind: 'counter', value: 7 },
    { name: REQUESTS, labels: hooks200, minute: 3, kind: 'counter', value: 100 },
    // Outside the range, and the total: never counted.
    { name: REQUESTS, labels: api200, minute: -1, kind: 'counter', value: 1000 },
    { name: REQUESTS, labels: api200, minute: 5, kind: 'counter', value: 1000 },
    {
      name: REQUESTS,
      labels: api200,
      minute: 0,
      kind: 'counter',
      value: 99_999,
      width: '0',
      bucket: '-infinity',
    },
    // Rolled up into an hour.
    {
      name: REQUESTS,
      labels: api200,
      minute: 0,
      kind: 'counter',
      value: 42,
      width: '1 hour',
      bucket: new Date(HOUR).toISOString(),
    },
    {
      name: 'gatehouse_db_pool_saturation_ratio',
      labels: { pool: 'requests' },
      minute: 1,
      kind: 'gauge',
      value: 0.5,
      count: 1,
    },
    {
      name: 'gatehouse_db_pool_saturation_ratio',
      labels: { pool: 'jobs' },
      minute: 1,
      kind: 'gauge',
      value: 0.9,
      count: 1,
    },
    {
      name: 'gatehouse_db_pool_saturation_ratio',
      labels: { pool: 'requests' },
      minute: 2,
      kind: 'gauge',
      value: 0.2,
      count: 1,
    },
    {
      name: 'gatehouse_http_request_duration_seconds',
      labels: { function: 'api', route: '/x' },
      minute: 0,
      kind: 'histogram',
      value: 3,
      count: 10,
      counts: [4, 4, 2, 0],
    },
    {
      name: 'gatehouse_http_request_duration_seconds',
      labels: { function: 'api', route: '/y' },
      minute: 1,
      kind: 'histogram',
      value: 20,
      count: 10,
      counts: [0, 0, 0, 10],
    },
  ]);
});

interface Answer {
  kind: string | null;
  step: number;
  series: {
    labels: Record<string, string>;
    points: { t: string; value: number | null; [field: string]: unknown }[];
  }[];
}

const series = (query: string) =>
  admin.json<Answer>(SUPPORT, `/metrics/series?since=${at(0)}&until=${at(5)}&${query}`);
const values = (answer: Answer) => answer.series.map((s) => s.points.map((p) => p.value));

describe('GET /metrics/series', () => {
  it('adds a counter up per step, every step present, from minute rows in the range only', async () => {
    const answer = await series(`name=${REQUESTS}`);
    expect(answer.kind).toBe('counter');
    expect(answer.series).toHaveLength(1);
    expect(answer.series[0]!.labels).toEqual({});
    expect(answer.series[0]!.points.map((p) => p.t)).toEqual([0, 1, 2, 3, 4].map(at));
    expect(values(answer)).toEqual([[6, 0, 0, 107, 0]]);
    expect(values(await series(`name=${REQUESTS}&step=180`))).toEqual([[6, 107]]);
  });

  it('keeps only series with the labels asked for, and splits by one label', async () => {
    expect(values(await series(`name=${REQUESTS}&label=function=api`))).toEqual([
      [6, 0, 0, 7, 0],
    ]);
    const both = await series(`name=${REQUESTS}&label=function=api&label=status=500`);
    expect(both.series[0]!.labels).toEqual({ function: 'api', status: '500' });
    expect(values(both)).toEqual([[1, 0, 0, 0, 0]]);
    const grouped = await series(`name=${REQUESTS}&group_by=status`);
    expect(grouped.series.map((s) => s.labels)).toEqual([{ status: '200' }, { status: '500' }]);
    expect(values(grouped)).toEqual([[5, 0, 0, 107, 0], [1, 0, 0, 0, 0]]);
  });

  it('counts rolled-up hour rows in the step their hour starts in', async () => {
    const since = new Date(HOUR).toISOString();
    const until = new Date(HOUR + 2 * 3_600_000).toISOString();
    const answer = await admin.json<Answer>(
      SUPPORT,
      `/metrics/series?name=${REQUESTS}&since=${since}&until=${until}&step=3600`,
    );
    expect(values(answer)).toEqual([[42, 0]]);
  });

  it('shows a gauge at its highest per step, null where nothing was reported', async () => {
    const answer = await series('name=gatehouse_db_pool_saturation_ratio');
    expect(answer.kind).toBe('gauge');
    expect(values(answer)).toEqual([[null, 0.9, 0.2, null, null]]);
  });

  it('gives a histogram its observations, their sum and quantiles from the buckets', async () => {
    const answer = await series(
      'name=gatehouse_http_request_duration_seconds&label=route=/x&step=120',
    );
    expect(answer.kind).toBe('histogram');
    const [first, second] = answer.series[0]!.points;
    expect(first).toMatchObject({ t: at(0), value: 10, sum: 3 });
    expect(first!.p50).toBeCloseTo(0.2);
    expect(first!.p90).toBeCloseTo(0.75);
    expect(first!.p99).toBeCloseTo(0.975);
    expect(second).toEqual({ t: at(2), value: 0, sum: 0, p50: null, p90: null, p99: null });
    const all = await series('name=gatehouse_http_request_duration_seconds&step=300');
    expect(all.series[0]!.points[0]).toMatchObject({ value: 20, sum: 23, p90: 1 });
  });

  it('answers a metric with no rows with zeros and no kind', async () => {
    const answer = await series('name=gatehouse_nothing_total');
    expect(answer.kind).toBeNull();
    expect(values(answer)).toEqual([[0, 0, 0, 0, 0]]);
  });

  it('refuses a range or step it cannot chart, with 400 naming the field', async () => {
    const twoDays = new Date(T0 - 2 * 86_400_000).toISOString();
    for (
      const [query, field] of [
        [`name=${REQUESTS}&step=30`, 'step'],
        [`name=${REQUESTS}&since=${twoDays}&until=${at(0)}&step=60`, 'step'],
        [`name=${REQUESTS}&since=${at(5)}&until=${at(0)}`, 'since'],
        ['name=not a metric', 'name'],
        ['', 'name'],
        [`name=${REQUESTS}&label=function`, 'label'],
        [`name=${REQUESTS}&label=function=%00`, 'label'],
        [`name=${REQUESTS}&group_by=1x`, 'group_by'],
      ]
    ) {
      const res = await admin.call(SUPPORT, `/metrics/series?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      const problem = await problemOf(res);
      expect((problem.errors as { path: string }[]).map((e) => e.path)).toContain(field);
    }
  });
});

describe('GET /metrics', () => {
  it('lists the metrics recorded, with kind, help and label names', async () => {
    const { items } = await admin.json<{ items: Record<string, unknown>[] }>(SUPPORT, '/metrics');
    expect(items).toEqual([
      {
        name: 'gatehouse_db_pool_saturation_ratio',
        kind: 'gauge',
        help: expect.stringContaining("Highest share of a pool's connections busy"),
        labels: ['pool'],
        series: 2,
      },
      {
        name: REQUESTS,
        kind: 'counter',
        help: expect.stringContaining('HTTP requests answered'),
        labels: ['function', 'status'],
        series: 1,
      },
    ]);
  });
});
