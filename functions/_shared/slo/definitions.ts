/**
 * The service-level objectives of the product brief, each an SLI (good events over all
 * events) with an objective. Burn rates follow the multi-window method of Google's SRE
 * workbook ("Alerting on SLOs"): the error ratio of a window divided by the error budget
 * (1 − objective), so a burn rate of 1 spends the budget exactly over the SLO period.
 */

/** The SLOs Gatehouse computes, by key. */
export type SloKey = 'availability' | 'latency' | 'errors' | 'webhook_processing';

export interface SloDefinition {
  readonly key: SloKey;
  /** Share of good events the SLO asks for (0.999 = 99.9 %). */
  readonly objective: number;
  /** What counts as good, in a sentence (shown in `/health` and the admin API). */
  readonly description: string;
}

export const SLOS: readonly SloDefinition[] = [
  {
    key: 'availability',
    objective: 0.999,
    description: 'HTTP requests answered without a 5xx status',
  },
  {
    key: 'latency',
    objective: 0.99,
    description:
      'HTTP requests answered within 1 s (p99 ≤ 1 s); the worker function, which runs for its budget by design, is left out',
  },
  {
    key: 'errors',
    objective: 0.999,
    description:
      'HTTP requests not failed by an error (a 5xx other than 503; 503 is a refusal counted by availability)',
  },
  {
    key: 'webhook_processing',
    objective: 0.999,
    description:
      'Jobs that finished succeeded rather than dead-lettered, retries included (every kind but the platform’s own gatehouse.* jobs)',
  },
];

/** The latency SLO's threshold in seconds (a bound of the request-duration histogram). */
export const LATENCY_THRESHOLD_SECONDS = 1;

/** Functions left out of the latency SLO: the worker answers after its budget by design. */
export const LATENCY_EXCLUDED_FUNCTIONS: readonly string[] = ['worker'];

/** Job kinds starting with this are the platform's own, not webhook processing. */
export const PLATFORM_JOB_PREFIX = 'gatehouse.';

/** The windows every SLO is computed over, shortest first. */
export const SLO_WINDOWS = ['5m', '1h', '30d'] as const;
export type SloWindow = (typeof SLO_WINDOWS)[number];

/** Each window's length in milliseconds. */
export const WINDOW_MS: Readonly<Record<SloWindow, number>> = {
  '5m': 5 * 60_000,
  '1h': 60 * 60_000,
  '30d': 30 * 24 * 60 * 60_000,
};

/**
 * Fast burn: both the 1 h and the 5 m windows burn at least this fast, which spends 2 % of
 * a 30-day budget in one hour (the workbook's page-worthy threshold). The short window
 * makes the signal clear soon after the burning stops.
 */
export const FAST_BURN_RATE = 14.4;

/**
 * Fewer events than this in the 1 h window never count as a fast burn: one failed request
 * out of three is not an outage. The SLIs are still reported.
 */
export const MIN_EVENTS_FOR_BURN = 10;
