/**
 * SLOs from system_metrics: the arithmetic of SLIs and burn rates, then on a real database
 * the windows read from rows written by the metrics flush (at known times, instances
 * adding up), the roll-up changing nothing, and `/health` showing them after real traffic.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { CATALOG, LATENCY_BUCKETS } from '../functions/_shared/metrics/catalog.ts';
import type { SeriesDelta } from '../functions/_shared/metrics/registry.ts';
import { rollUpMetrics, writeDeltas } from '../functions/_shared/metrics/store.ts';
import {
  createSloReader,
  sloReports,
  type WindowCounts,
  windowStart,
} from '../functions/_shared/slo/index.ts';
import { createHealthFunction } from '../functions/health/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { testRuntime } from './support/runtime.ts';

const NONE: WindowCounts = {
  requests: 0,
  failed: 0,
  errors: 0,
  timed: 0,
  fast: 0,
  processed: 0,
  dead: 0,
};

function counts(partial: Partial<WindowCounts>): WindowCounts {
  return { ...NONE, ...partial };
}

describe('sloReports', () => {
  it('computes each SLI as good over all events and the burn rate as errors over budget', () => {
    const window = counts({
      requests: 10_000,
      failed: 30,
      errors: 10,
      timed: 1_000,
      fast: 985,
      processed: 1_996,
      dead: 4,
    });
    const [availability, latency, errors, processing] = sloReports({
      '5m': window,
      '1h': window,
      '30d': window,
    });
    expect(availability!.windows['1h']).toEqual({
      events: 10_000,
      bad: 30,
      sli: 0.997,
      burn_rate: 3,
    });
    expect(latency!.windows['1h']).toEqual({ events: 1_000, bad: 15, sli: 0.985, burn_rate: 1.5 });
    expect(errors!.windows['1h']).toEqual({ events: 10_000, bad: 10, sli: 0.999, burn_rate: 1 });
    expect(processing!.windows['1h']).toEqual({ events: 2_000, bad: 4, sli: 0.998, burn_rate: 2 });
    // Burning at 3× over 30 days: the budget is overspent twice over.
    expect(availability!.budget_remaining).toBe(-2);
    expect(availability!.status).toBe('exhausted');
  });

  it('calls a fast burn only when the 1 h and the 5 m windows both burn at 14.4× or more', () => {
    const burning = counts({ requests: 1_000, failed: 15 }); // 15× the budget
    const calm = counts({ requests: 1_000, failed: 0 });
    const long = counts({ requests: 1_000_000, failed: 100 }); // 0.1×
    const status = (short: WindowCounts, hour: WindowCounts) =>
      sloReports({ '5m': short, '1h': hour, '30d': long })[0]!.status;
    expect(status(burning, burning)).toBe('fast_burn');
    expect(status(calm, burning)).toBe('ok'); // stopped burning: clears within 5 minutes
    expect(status(burning, calm)).toBe('ok'); // a blip, not yet an hour's worth
  });

  it('needs 10 events in the hour before a burn counts, and reports no data as such', () => {
    const few = counts({ requests: 5, failed: 5 });
    const [availability] = sloReports({ '5m': few, '1h': few, '30d': few });
    expect(availability!.windows['1h'].burn_rate).toBe(1_000);
    expect(availability!.status).toBe('exhausted');
    const [empty] = sloReports({ '5m': NONE, '1h': NONE, '30d': NONE });
    expect(empty!.status).toBe('no_data');
    expect(empty!.windows['5m']).toEqual({ events: 0, bad: 0, sli: null, burn_rate: null });
    expect(empty!.budget_remaining).toBeNull();
  });
});

describe('windowStart', () => {
  it('covers whole minutes (the current one included) and whole hours for 30 days', () => {
    const now = Date.parse('2026-12-06T10:17:42Z');
    expect(windowStart('5m', now).toISOString()).toBe('2026-12-06T10:13:00.000Z');
    expect(windowStart('1h', now).toISOString()).toBe('2026-12-06T09:18:00.000Z');
    expect(windowStart('30d', now).toISOString()).toBe('2026-11-06T11:00:00.000Z');
  });
});

const database = useMigratedDatabase({ reset: 'delete from system_metrics;' });

function requests(status: string, value: number, fn = 'webhooks'): SeriesDelta {
  return {
    name: CATALOG.httpRequests.name,
    kind: 'counter',
    labels: { function: fn, route: '/webhooks/stripe', method: 'POST', status },
    value,
    count: 0,
    bounds: null,
    counts: null,
  };
}

/** A duration histogram with `fast` requests at 20 ms and `slow` at 3 s. */
function durations(fast: number, slow: number, fn = 'webhooks'): SeriesDelta {
  const bucketCounts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  bucketCounts[LATENCY_BUCKETS.indexOf(0.025)] = fast;
  bucketCounts[LATENCY_BUCKETS.indexOf(5)] = slow;
  return {
    name: CATALOG.httpDuration.name,
    kind: 'histogram',
    labels: { function: fn, route: '/webhooks/stripe' },
    value: fast * 0.02 + slow * 3,
    count: fast + slow,
    bounds: [...LATENCY_BUCKETS],
    counts: bucketCounts,
  };
}

function jobs(kind: string, outcome: string, value: number): SeriesDelta {
  return {
    name: CATALOG.jobs.name,
    kind: 'counter',
    labels: { kind, outcome },
    value,
    count: 0,
    bounds: null,
    counts: null,
  };
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('SLOs read from system_metrics', () => {
  it('adds up what every instance flushed into each window, and leaves out what does not count', async () => {
    const now = Date.now();
    // Two instances in the current minute; one 2 hours ago; one 3 days ago; one 40 days ago.
    await writeDeltas(database.db, [requests('200', 900), requests('500', 10)], now);
    await writeDeltas(database.db, [requests('200', 85), requests('503', 5)], now);
    await writeDeltas(database.db, [requests('200', 9_000), requests('502', 20)], now - 2 * HOUR);
    await writeDeltas(database.db, [requests('200', 50_000)], now - 3 * DAY);
    await writeDeltas(database.db, [requests('500', 99_999)], now - 40 * DAY);
    await writeDeltas(database.db, [durations(980, 20), durations(0, 500, 'worker')], now);
    await writeDeltas(database.db, [
      jobs('stripe.event', 'succeeded', 997),
      jobs('stripe.event', 'dead', 3),
      jobs('stripe.event', 'retried', 50), // retried runs are not failures: retries count
      jobs('gatehouse.retention', 'dead', 7), // the platform's own jobs are not processing
    ], now);

    const summary = await createSloReader(database.db, { clock: systemClock }).read();
    const slo = Object.fromEntries(summary.slos.map((s) => [s.key, s]));

    expect(slo.availability!.windows['5m']).toMatchObject({ events: 1_000, bad: 15 });
    expect(slo.availability!.windows['1h']).toMatchObject({ events: 1_000, bad: 15 });
    expect(slo.availability!.windows['30d']).toMatchObject({ events: 60_020, bad: 35 });
    expect(slo.errors!.windows['5m']).toMatchObject({ events: 1_000, bad: 10 }); // 503 left out
    expect(slo.errors!.windows['30d']).toMatchObject({ events: 60_020, bad: 30 });
    expect(slo.latency!.windows['5m']).toMatchObject({ events: 1_000, bad: 20 }); // not the worker
    expect(slo.webhook_processing!.windows['1h']).toMatchObject({ events: 1_000, bad: 3 });
    // 15 bad of 1,000 in both short windows: 15× the budget, a fast burn.
    expect(slo.availability!.status).toBe('fast_burn');
    expect(slo.availability!.windows['5m'].burn_rate).toBe(15);
    expect(summary.status).toBe('degraded');
    // 20 slow of 1,000 against a 1 % budget: 2×, not a fast burn.
    expect(slo.latency!.status).toBe('exhausted');
    expect(slo.webhook_processing!.windows['1h'].burn_rate).toBe(3);
  });

  it('reads the same 30 days once old minutes are rolled up into hours', async () => {
    const now = Date.now();
    for (let day = 3; day <= 5; day++) {
      await writeDeltas(
        database.db,
        [requests('200', 1_000), requests('500', day)],
        now - day * DAY,
      );
    }
    const reader = () => createSloReader(database.db, { clock: systemClock }).read();
    const before = (await reader()).slos.find((s) => s.key === 'availability')!;
    expect(before.windows['30d']).toMatchObject({ events: 3_012, bad: 12 });
    expect(await rollUpMetrics(database.db, 1_000)).toBe(6);
    const after = (await reader()).slos.find((s) => s.key === 'availability')!;
    expect(after.windows).toEqual(before.windows);
  });

  it('reuses the 30-day counts for a minute and reads the short windows every time', async () => {
    let now = Date.now();
    const clock = { now: () => now };
    const reader = createSloReader(database.db, { clock });
    await writeDeltas(database.db, [requests('200', 10)], now);
    const first = (await reader.read()).slos[0]!;
    expect(first.windows['30d'].events).toBe(10);
    await writeDeltas(database.db, [requests('200', 5)], now);
    const second = (await reader.read()).slos[0]!;
    expect(second.windows['5m'].events).toBe(15);
    expect(second.windows['30d'].events).toBe(10);
    now += 61_000;
    const third = (await reader.read()).slos[0]!;
    expect(third.windows['30d'].events).toBe(15);
  });
});

describe('GET /health shows the SLOs', () => {
  it('counts real requests once they are flushed, and stays ok while nothing burns', async () => {
    const runtime = testRuntime({
      config: parseConfig({}),
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
    });
    const health = createHealthFunction(runtime);
    for (let i = 0; i < 12; i++) expect((await health.request('/health/live')).status).toBe(200);
    await runtime.metrics.flusher.flush();

    const res = await health.request('/health');
    expect(res.status).toBe(200);
    const body = await res.json() as { checks: Record<string, Record<string, unknown>> };
    const slo = body.checks.slo!;
    expect(slo.status).toBe('ok');
    expect(slo.availability).toMatchObject({
      status: 'ok',
      objective: 0.999,
      sli_5m: 1,
      burn_rate_5m: 0,
      budget_remaining: 1,
    });
    expect(slo.latency).toMatchObject({ status: 'ok', sli_5m: 1 });
    expect(slo.webhook_processing).toMatchObject({ status: 'no_data', sli_5m: null });
  });

  it('turns degraded, not down, while an SLO burns fast', async () => {
    const now = Date.now();
    await writeDeltas(database.db, [requests('200', 100), requests('500', 100)], now);
    const runtime = testRuntime({
      config: parseConfig({}),
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
    });
    const res = await createHealthFunction(runtime).request('/health');
    expect(res.status).toBe(200);
    const body = await res.json() as {
      status: string;
      checks: Record<string, Record<string, unknown>>;
    };
    expect(body.checks.slo!.status).toBe('degraded');
    expect(body.checks.slo!.availability).toMatchObject({ status: 'fast_burn', sli_5m: 0.5 });
    expect(body.status).toBe('degraded');
  });
});
