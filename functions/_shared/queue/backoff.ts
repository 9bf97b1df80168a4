/** Exponential backoff with full jitter: delay = random(0, min(cap, base · 2^(attempt-1))). */
export interface BackoffPolicy {
  /** Upper bound of the first retry's delay. */
  readonly baseMs: number;
  /** No delay is ever longer than this. */
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 10 * 60_000 };

/** The ceiling of the delay after failed attempt `attempt` (1-based). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 52);
  return Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
}

/**
 * The delay before retrying after failed attempt `attempt`. Full jitter spreads retries of
 * jobs that failed together (an upstream outage) so they do not return in a herd.
 *
 * @example
 * backoffDelay(3, { baseMs: 1000, capMs: 60000 }) // somewhere in [0, 4000)
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeiling(attempt, policy));
}
