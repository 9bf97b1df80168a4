import type { Clock } from '../clock.ts';
import type { Queryable } from '../db/types.ts';
import { typed } from '../db/types.ts';
import { CATALOG } from '../metrics/catalog.ts';
import {
  FAST_BURN_RATE,
  LATENCY_EXCLUDED_FUNCTIONS,
  LATENCY_THRESHOLD_SECONDS,
  MIN_EVENTS_FOR_BURN,
  PLATFORM_JOB_PREFIX,
  type SloDefinition,
  type SloKey,
  SLOS,
  type SloWindow,
  WINDOW_MS,
} from './definitions.ts';

/** What `system_metrics` holds for one window: the events every SLI is made of. */
export interface WindowCounts {
  /** HTTP requests answered. */
  readonly requests: number;
  /** ... with a 5xx status. */
  readonly failed: number;
  /** ... with a 5xx other than 503. */
  readonly errors: number;
  /** Requests timed (the latency SLO's functions). */
  readonly timed: number;
  /** ... answered within the latency threshold. */
  readonly fast: number;
  /** Jobs (not the platform's own) that succeeded. */
  readonly processed: number;
  /** ... that were dead-lettered. */
  readonly dead: number;
}

export interface SloWindowReport {
  /** Events in the window. */
  readonly events: number;
  /** Bad events in the window. */
  readonly bad: number;
  /** Good events over all events; null with no events. */
  readonly sli: number | null;
  /** Error ratio over the error budget (1 = spending it exactly over 30 days); null with no events. */
  readonly burn_rate: number | null;
}

/**
 * `ok`; `fast_burn` (1 h and 5 m windows both at ≥ 14.4× with enough events: page);
 * `exhausted` (the 30-day window has spent its whole budget); `no_data` (no events in 30 days).
 */
export type SloStatus = 'ok' | 'fast_burn' | 'exhausted' | 'no_data';

export interface SloReport {
  readonly key: SloKey;
  readonly description: string;
  readonly objective: number;
  readonly status: SloStatus;
  /** Share of the 30-day budget left (negative once overspent); null with no events. */
  readonly budget_remaining: number | null;
  readonly windows: Readonly<Record<SloWindow, SloWindowReport>>;
}

export interface SloSummary {
  /** When the short windows were read. */
  readonly at: string;
  /** `degraded` while any SLO burns fast, else `ok`. */
  readonly status: 'ok' | 'degraded';
  readonly slos: readonly SloReport[];
}

/** Good and total events of one SLO in one window. */
function eventsOf(key: SloKey, counts: WindowCounts): { events: number; bad: number } {
  switch (key) {
    case 'availability':
      return { events: counts.requests, bad: counts.failed };
    case 'latency':
      return { events: counts.timed, bad: Math.max(0, counts.timed - counts.fast) };
    case 'errors':
      return { events: counts.requests, bad: counts.errors };
    case 'webhook_processing':
      return { events: counts.processed + counts.dead, bad: counts.dead };
  }
}

/** One SLO's report for one window's counts (events, bad, SLI, burn rate). */
export function sloWindow(
  definition: SloDefinition,
  counts: WindowCounts,
): SloWindowReport {
  const { events, bad } = eventsOf(definition.key, counts);
  if (events === 0) return { events, bad, sli: null, burn_rate: null };
  const errorRatio = bad / events;
  return {
    events,
    bad,
    sli: round(1 - errorRatio),
    burn_rate: round(errorRatio / (1 - definition.objective)),
  };
}

/**
 * Fast burn: the 1 h and the 5 m windows both burn at {@link FAST_BURN_RATE} or more, with
 * at least {@link MIN_EVENTS_FOR_BURN} events in the hour.
 */
export function burnsFast(short: SloWindowReport, hour: SloWindowReport): boolean {
  return hour.events >= MIN_EVENTS_FOR_BURN && (hour.burn_rate ?? 0) >= FAST_BURN_RATE &&
    (short.burn_rate ?? 0) >= FAST_BURN_RATE;
}

/**
 * Every SLO's report from the counts of its three windows: SLIs, burn rates, the budget
 * left and a status (see {@link SloStatus}).
 */
export function sloReports(
  counts: Readonly<Record<SloWindow, WindowCounts>>,
  definitions: readonly SloDefinition[] = SLOS,
): SloReport[] {
  return definitions.map((definition) => {
    const windows = {
      '5m': sloWindow(definition, counts['5m']),
      '1h': sloWindow(definition, counts['1h']),
      '30d': sloWindow(definition, counts['30d']),
    };
    const long = windows['30d'];
    const fast = burnsFast(windows['5m'], windows['1h']);
    const status: SloStatus = long.events === 0 && windows['5m'].events === 0
      ? 'no_data'
      : fast
      ? 'fast_burn'
      : (long.burn_rate ?? 0) >= 1
      ? 'exhausted'
      : 'ok';
    return {
      key: definition.key,
      description: definition.description,
      objective: definition.objective,
      status,
      budget_remaining: long.burn_rate === null ? null : round(1 - long.burn_rate),
      windows,
    };
  });
}

const NAMES = [CATALOG.httpRequests.name, CATALOG.httpDuration.name, CATALOG.jobs.name];

/**
 * Reads the events of each window (`since`, by name) from the minute and hour rows of
 * `system_metrics`, added up over every instance, in one statement.
 */
export async function readWindowCounts<W extends string>(
  db: Queryable,
  since: Readonly<Record<W, Date>>,
  options: { timeoutMs?: number } = {},
): Promise<Record<W, WindowCounts>> {
  const names = Object.keys(since) as W[];
  const rows = await db.query<Record<keyof WindowCounts, string | number> & { window: W }>(
    `with w(window_name, since) as (
       select * from unnest($1::text[], $2::timestamptz[])
     )
     select w.window_name as window,
            coalesce(sum(m.value) filter (where m.name = $3), 0) as requests,
            coalesce(sum(m.value) filter (where m.name = $3 and m.labels->>'status' like '5%'), 0)
              as failed,
            coalesce(sum(m.value) filter (where m.name = $3 and m.labels->>'status' like '5%'
                                            and m.labels->>'status' <> '503'), 0) as errors,
            coalesce(sum(m.count) filter (where m.name = $4
                                            and m.labels->>'function' <> all($6::text[])), 0)
              as timed,
            coalesce(sum(f.fast) filter (where m.name = $4
                                           and m.labels->>'function' <> all($6::text[])), 0)
              as fast,
            coalesce(sum(m.value) filter (where m.name = $5 and m.labels->>'kind' not like $8
                                            and m.labels->>'outcome' = 'succeeded'), 0)
              as processed,
            coalesce(sum(m.value) filter (where m.name = $5 and m.labels->>'kind' not like $8
                                            and m.labels->>'outcome' = 'dead'), 0) as dead
       from w
       left join public.system_metrics m
         on m.width > interval '0' and m.bucket >= w.since and m.name = any($9::text[])
       left join lateral (
         select sum(u.c) as fast from unnest(m.counts, m.bounds) as u(c, b) where u.b <= $7::float8
       ) f on true
      group by w.window_name`,
    [
      names,
      names.map((name) => since[name].toISOString()),
      typed(CATALOG.httpRequests.name, 'text'),
      typed(CATALOG.httpDuration.name, 'text'),
      typed(CATALOG.jobs.name, 'text'),
      [...LATENCY_EXCLUDED_FUNCTIONS],
      LATENCY_THRESHOLD_SECONDS,
      typed(`${PLATFORM_JOB_PREFIX}%`, 'text'),
      NAMES,
    ],
    options.timeoutMs === undefined ? undefined : { timeoutMs: options.timeoutMs },
  );
  const out = {} as Record<W, WindowCounts>;
  for (const row of rows) {
    out[row.window] = {
      requests: Number(row.requests),
      failed: Number(row.failed),
      errors: Number(row.errors),
      timed: Number(row.timed),
      fast: Number(row.fast),
      processed: Number(row.processed),
      dead: Number(row.dead),
    };
  }
  return out;
}

/**
 * Where a window starts: whole minutes (the current one included) for the short windows,
 * whole hours for the 30-day one (older minutes are rolled up into hours).
 */
export function windowStart(window: SloWindow, now: number): Date {
  const unit = window === '30d' ? 3_600_000 : 60_000;
  const current = Math.floor(now / unit) * unit;
  return new Date(current - WINDOW_MS[window] + unit);
}

export interface SloReader {
  /** Every SLO now: the short windows read fresh, the 30-day one at most a minute old. */
  read(options?: { timeoutMs?: number }): Promise<SloSummary>;
}

export interface SloReaderOptions {
  readonly clock: Clock;
  /** How long the 30-day window's counts are reused (default 60 s): they move slowly. */
  readonly longWindowMaxAgeMs?: number;
}

/**
 * SLOs read from `system_metrics`. Reads running at the same time share one query; the
 * 30-day window (up to 30 days of hour rows and 2 days of minute rows) is read at most once
 * a minute per process.
 *
 * @example
 * const slos = createSloReader(db, { clock });
 * const summary = await slos.read(); // { status, slos: [{ key: 'availability', ... }] }
 */
export function createSloReader(db: Queryable, options: SloReaderOptions): SloReader {
  const maxAge = options.longWindowMaxAgeMs ?? 60_000;
  let long: { at: number; counts: WindowCounts } | null = null;
  let running: Promise<SloSummary> | null = null;

  const readOnce = async (timeoutMs?: number): Promise<SloSummary> => {
    const now = options.clock.now();
    const fresh = long !== null && now - long.at < maxAge;
    const since: Partial<Record<SloWindow, Date>> = {
      '5m': windowStart('5m', now),
      '1h': windowStart('1h', now),
    };
    if (!fresh) since['30d'] = windowStart('30d', now);
    const counts = await readWindowCounts(db, since as Record<SloWindow, Date>, { timeoutMs });
    if (!fresh) long = { at: now, counts: counts['30d'] };
    const slos = sloReports({ '5m': counts['5m'], '1h': counts['1h'], '30d': long!.counts });
    return {
      at: new Date(now).toISOString(),
      status: slos.some((slo) => slo.status === 'fast_burn') ? 'degraded' : 'ok',
      slos,
    };
  };

  return {
    read(readOptions = {}) {
      if (running) return running;
      const next = readOnce(readOptions.timeoutMs);
      running = next;
      void next.then(
        () => (running = null),
        () => (running = null),
      );
      return next;
    },
  };
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
