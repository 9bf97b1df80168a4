import type { Queryable } from '../db/types.ts';
import { CATALOG } from '../metrics/catalog.ts';
import { queueStats } from '../queue/store.ts';
import { burnsFast, readWindowCounts, sloWindow, windowStart } from '../slo/read.ts';
import { PLATFORM_JOB_PREFIX, SLOS } from '../slo/definitions.ts';

/** P0 pages at once (money is being lost) … P3 is looked at in working hours. */
export const SEVERITIES = ['P0', 'P1', 'P2', 'P3'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What a firing rule saw. */
export interface AlertFinding {
  /** The measured value compared with the threshold. */
  readonly value: number;
  /** One sentence for a person: what, how much, against what threshold. */
  readonly summary: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface AlertContext {
  /** The evaluation's transaction. */
  readonly db: Queryable;
  /** The evaluation's time, ms since the epoch. */
  readonly now: number;
  /** Loads a value once per evaluation, shared by the rules that need it. */
  memo<T>(key: string, load: () => Promise<T>): Promise<T>;
}

export interface AlertRule {
  /** Stable key, the identity of its incidents (`alerts.rule`). */
  readonly key: string;
  readonly severity: Severity;
  /** A short name for people, e.g. "Payment intake failing". */
  readonly title: string;
  /** The rule's condition in a sentence (docs and the admin API). */
  readonly condition: string;
  /** A finding while the condition holds, null when it does not. */
  evaluate(ctx: AlertContext): Promise<AlertFinding | null>;
}

/** Providers whose deliveries carry money: their intake failing is a P0. */
export const PAYMENT_PROVIDERS: readonly string[] = ['stripe', 'paypal'];

/** Thresholds of the built-in rules (docs/alerts.md). */
export const ALERT_THRESHOLDS = {
  /** Payment deliveries answered 5xx, or payment jobs dead-lettered, in the window. */
  paymentFailures: 3,
  paymentWindowMinutes: 10,
  /** Failed runs (retried, dead, lease lost) of processing jobs in the last hour: more fires. */
  processingFailuresPerHour: 10,
  /** Due jobs over every queue: more fires. */
  queueDepth: 1_000,
  /** Jobs recorded slow (GATEHOUSE_SLOW_JOB_MS) in the window: at least this many fires. */
  slowJobs: 1,
  slowJobWindowMinutes: 15,
} as const;

const number = (value: unknown) => Number(value ?? 0);

/**
 * Payment deliveries failing on our side: Stripe or PayPal deliveries answered with a 5xx
 * (database away, overload, a bug) or their jobs dead-lettered. Signature refusals are left
 * out: anyone can post a forged delivery, and that must not page.
 */
export const paymentIntakeFailing: AlertRule = {
  key: 'payment_intake_failing',
  severity: 'P0',
  title: 'Payment intake failing',
  condition:
    `Stripe or PayPal deliveries answered 5xx plus their jobs dead-lettered, over ${ALERT_THRESHOLDS.paymentWindowMinutes} minutes, reach ${ALERT_THRESHOLDS.paymentFailures}`,
  async evaluate({ db, now }) {
    const since = new Date(now - ALERT_THRESHOLDS.paymentWindowMinutes * 60_000);
    const [row] = await db.query<{ failed: string | number; dead: string | number }>(
      `select coalesce(sum(value) filter (where name = $2 and labels->>'status' like '5%'
                                            and labels->>'route' = any($4::text[])), 0) as failed,
              coalesce(sum(value) filter (where name = $3 and labels->>'outcome' = 'dead'
                                            and labels->>'kind' = any($5::text[])), 0) as dead
         from public.system_metrics
        where width > interval '0' and bucket >= date_trunc('minute', $1::timestamptz)
          and name in ($2, $3)`,
      [
        since.toISOString(),
        CATALOG.httpRequests.name,
        CATALOG.jobs.name,
        PAYMENT_PROVIDERS.map((provider) => `/webhooks/${provider}`),
        PAYMENT_PROVIDERS.map((provider) => `${provider}.event`),
      ],
    );
    const failed = number(row?.failed);
    const dead = number(row?.dead);
    if (failed + dead < ALERT_THRESHOLDS.paymentFailures) return null;
    return {
      value: failed + dead,
      summary:
        `${failed} payment deliveries answered 5xx and ${dead} payment jobs dead-lettered in the last ${ALERT_THRESHOLDS.paymentWindowMinutes} minutes (threshold ${ALERT_THRESHOLDS.paymentFailures})`,
      details: { answered_5xx: failed, dead_lettered: dead },
    };
  },
};

/** Processing jobs failing: every failed run counts, whether it will be retried or not. */
export const webhookProcessingFailures: AlertRule = {
  key: 'webhook_processing_failures',
  severity: 'P1',
  title: 'Webhook processing failures',
  condition:
    `More than ${ALERT_THRESHOLDS.processingFailuresPerHour} failed runs (retried, dead-lettered or lease lost) of processing jobs in the last hour`,
  async evaluate({ db, now }) {
    const [row] = await db.query<{ failed: string | number }>(
      `select coalesce(sum(value), 0) as failed
         from public.system_metrics
        where width > interval '0' and bucket >= date_trunc('minute', $1::timestamptz)
          and name = $2 and labels->>'outcome' in ('retried', 'dead', 'lost')
          and labels->>'kind' not like $3`,
      [new Date(now - 3_600_000).toISOString(), CATALOG.jobs.name, `${PLATFORM_JOB_PREFIX}%`],
    );
    const failed = number(row?.failed);
    if (failed <= ALERT_THRESHOLDS.processingFailuresPerHour) return null;
    return {
      value: failed,
      summary:
        `${failed} failed processing job runs in the last hour (threshold ${ALERT_THRESHOLDS.processingFailuresPerHour})`,
    };
  },
};

/** A backlog: jobs due and not taken, read live from the queue. */
export const queueBacklog: AlertRule = {
  key: 'queue_backlog',
  severity: 'P2',
  title: 'Queue backlog',
  condition: `More than ${ALERT_THRESHOLDS.queueDepth} jobs due over every queue`,
  async evaluate({ db }) {
    const queues = await queueStats(db);
    const depth = queues.reduce((sum, queue) => sum + queue.depth, 0);
    if (depth <= ALERT_THRESHOLDS.queueDepth) return null;
    const deepest = [...queues].sort((a, b) => b.depth - a.depth).slice(0, 5);
    return {
      value: depth,
      summary: `${depth} jobs due (threshold ${ALERT_THRESHOLDS.queueDepth}); deepest: ${
        deepest.map((queue) => `${queue.queue} ${queue.depth}`).join(', ')
      }`,
      details: {
        queues: Object.fromEntries(deepest.map((queue) => [queue.queue, queue.depth])),
      },
    };
  },
};

/**
 * Outbound endpoints the platform switched off (410 Gone, or failing longer than
 * GATEHOUSE_WEBHOOK_DISABLE_AFTER_HOURS): their events are held until someone re-enables
 * them, so their owners must hear of it.
 */
export const outboundEndpointsDisabled: AlertRule = {
  key: 'outbound_endpoints_disabled',
  severity: 'P2',
  title: 'Outbound webhook endpoints disabled',
  condition: 'An outbound webhook endpoint is disabled; its events are held until it is resumed',
  async evaluate({ db }) {
    const rows = await db.query<
      { id: string; url: string; reason: string; owner: string; held: number }
    >(
      `select e.id::text, e.url, coalesce(e.status_reason, 'disabled') as reason,
              e.created_by as owner,
              (select count(*)::int from public.outbound_messages m
                where m.endpoint_id = e.id and m.status = 'held') as held
         from public.webhook_endpoints e where e.status = 'disabled'
        order by e.updated_at desc`,
    );
    if (rows.length === 0) return null;
    const host = (url: string) => (URL.canParse(url) ? new URL(url).host : 'an endpoint');
    return {
      value: rows.length,
      summary: `${rows.length} outbound endpoint(s) disabled: ${
        rows.slice(0, 5).map((row) =>
          `${host(row.url)} (${row.reason}; ${row.held} event(s) held; owner ${row.owner})`
        ).join(', ')
      }`,
      details: {
        endpoints: rows.map((row) => ({ id: row.id, reason: row.reason, held: row.held })),
      },
    };
  },
};

/** Jobs that ran past GATEHOUSE_SLOW_JOB_MS (recorded in `slow_jobs`). */
export const slowJobs: AlertRule = {
  key: 'slow_jobs',
  severity: 'P3',
  title: 'Slow jobs',
  condition:
    `A job ran longer than GATEHOUSE_SLOW_JOB_MS in the last ${ALERT_THRESHOLDS.slowJobWindowMinutes} minutes`,
  async evaluate({ db, now }) {
    const rows = await db.query<{ kind: string; runs: string | number; longest: number }>(
      `select kind, count(*) as runs, max(duration_ms) as longest
         from public.slow_jobs where recorded_at >= $1::timestamptz
        group by kind order by count(*) desc, kind`,
      [new Date(now - ALERT_THRESHOLDS.slowJobWindowMinutes * 60_000).toISOString()],
    );
    const runs = rows.reduce((sum, row) => sum + number(row.runs), 0);
    if (runs < ALERT_THRESHOLDS.slowJobs) return null;
    return {
      value: runs,
      summary:
        `${runs} slow job runs in the last ${ALERT_THRESHOLDS.slowJobWindowMinutes} minutes: ${
          rows.slice(0, 5).map((row) =>
            `${row.kind} ×${number(row.runs)} (up to ${row.longest} ms)`
          )
            .join(', ')
        }`,
      details: {
        kinds: Object.fromEntries(rows.map((row) => [row.kind, number(row.runs)])),
      },
    };
  },
};

/**
 * One rule per SLO: its error budget burning fast (1 h and 5 m windows both at 14.4× or
 * more, with enough events; slo/definitions.ts).
 */
export const sloFastBurn: readonly AlertRule[] = SLOS.map((slo) => ({
  key: `slo_fast_burn:${slo.key}`,
  severity: 'P1' as const,
  title: `SLO fast burn: ${slo.key}`,
  condition: `The ${slo.key} SLO (${
    slo.objective * 100
  } %) burns its error budget 14.4× or faster over both 1 h and 5 m`,
  async evaluate({ db, now, memo }: AlertContext) {
    const counts = await memo('slo-windows', () =>
      readWindowCounts(db, {
        '5m': windowStart('5m', now),
        '1h': windowStart('1h', now),
      }));
    const short = sloWindow(slo, counts['5m']);
    const hour = sloWindow(slo, counts['1h']);
    if (!burnsFast(short, hour)) return null;
    return {
      value: hour.burn_rate ?? 0,
      summary:
        `${slo.key} burning its budget ${hour.burn_rate}× over 1 h and ${short.burn_rate}× over 5 m (${hour.bad} bad of ${hour.events} in the hour; objective ${
          slo.objective * 100
        } %)`,
      details: { burn_rate_1h: hour.burn_rate, burn_rate_5m: short.burn_rate, sli_1h: hour.sli },
    };
  },
}));

/** The built-in rules, most severe first. */
export const DEFAULT_ALERT_RULES: readonly AlertRule[] = [
  paymentIntakeFailing,
  webhookProcessingFailures,
  ...sloFastBurn,
  queueBacklog,
  outboundEndpointsDisabled,
  slowJobs,
];
