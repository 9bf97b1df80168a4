import type { Clock } from '../clock.ts';
import type { Queryable } from '../db/types.ts';
import { typed } from '../db/types.ts';

/**
 * Circuit breakers whose state every instance shares through `circuit_breakers`
 * (migration 20261206160000): after enough failures calls to an upstream are refused
 * for a while, then one probe decides whether it is back. One mechanism for every upstream
 * (the WhatsApp Graph API, outbound webhook endpoints).
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerPolicy {
  /** Consecutive failures that open the breaker (default 5). */
  readonly failureThreshold?: number;
  /** Share of failed calls in the window that opens it (default none: only the streak). */
  readonly failureRatio?: number | null;
  /** Calls in the window before the ratio counts (default 20). */
  readonly minimumCalls?: number;
  /** The ratio's window (default 60 s). */
  readonly windowMs?: number;
  /** How long it stays open before a probe (default 30 s). */
  readonly openMs?: number;
  /** A probe that has not reported after this long is replaced by another (default 30 s). */
  readonly probeTimeoutMs?: number;
}

/** How a call's outcome counts: against the upstream, for it, or not at all. */
export type Verdict = 'success' | 'failure' | 'neutral';

/** Refused: the breaker is open (or a probe is out); try again in `retryInMs`. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  constructor(readonly breaker: string, readonly state: BreakerState, readonly retryInMs: number) {
    super(`circuit ${breaker} is ${state.replace('_', '-')}; retry in ${retryInMs} ms`);
  }
}

export interface CircuitBreaker {
  readonly name: string;
  /**
   * Runs `call` if the breaker lets it through, else throws {@link CircuitOpenError}
   * without calling. The outcome is reported as `classify` says (default: a result is a
   * success, a throw a failure); a throw is rethrown either way.
   */
  run<T>(
    call: () => Promise<T>,
    classify?: (outcome: { ok: true; value: T } | { ok: false; error: unknown }) => Verdict,
    describeFailure?: (outcome: { ok: true; value: T } | { ok: false; error: unknown }) => string,
  ): Promise<T>;
  /** The breaker's state as this process last saw it (null: not read yet). */
  cached(): { state: BreakerState; consecutiveFailures: number } | null;
}

export interface BreakerRegistryOptions {
  readonly clock: Clock;
  /** How long a process trusts the state it read (default 1 s). */
  readonly cacheMs?: number;
  /** Successes kept in process before they are written (default 100, or cacheMs old). */
  readonly successBatch?: number;
}

interface Cached {
  state: BreakerState;
  retryAt: number;
  consecutiveFailures: number;
  readAt: number;
}

const DEFAULTS = {
  failureThreshold: 5,
  failureRatio: null,
  minimumCalls: 20,
  windowMs: 60_000,
  openMs: 30_000,
  probeTimeoutMs: 30_000,
} as const;

/**
 * The process's breakers, by name; one object per name, so its cache is shared by every
 * caller in the process.
 *
 * @example
 * const breakers = createBreakers(db, { clock });
 * const graph = breakers.get('whatsapp.graph', { failureThreshold: 5, openMs: 30_000 });
 * const res = await graph.run(() => fetch(url, init), (o) => o.ok && o.value.status < 500 ? 'success' : 'failure');
 */
export function createBreakers(
  db: Queryable,
  options: BreakerRegistryOptions,
): { get(name: string, policy?: BreakerPolicy): CircuitBreaker } {
  const breakers = new Map<string, CircuitBreaker>();
  return {
    get(name, policy = {}) {
      let breaker = breakers.get(name);
      if (!breaker) {
        breaker = createBreaker(db, name, { ...DEFAULTS, ...policy }, options);
        breakers.set(name, breaker);
      }
      return breaker;
    },
  };
}

function createBreaker(
  db: Queryable,
  name: string,
  policy: Required<BreakerPolicy>,
  options: BreakerRegistryOptions,
): CircuitBreaker {
  const cacheMs = options.cacheMs ?? 1_000;
  const successBatch = options.successBatch ?? 100;
  const clock = options.clock;
  const policyJson = {
    failure_threshold: policy.failureThreshold,
    failure_ratio: policy.failureRatio,
    minimum_calls: policy.minimumCalls,
    window_ms: policy.windowMs,
    open_ms: policy.openMs,
  };
  let cache: Cached | null = null;
  let pendingSuccesses = 0;
  let pendingSince = 0;

  const remember = (state: BreakerState, retryInMs: number, consecutiveFailures: number) => {
    const now = clock.now();
    cache = { state, retryAt: now + retryInMs, consecutiveFailures, readAt: now };
  };

  /** Whether this call may go, and whether it is the half-open probe. */
  const acquire = async (): Promise<{ probe: boolean }> => {
    const now = clock.now();
    if (cache && now - cache.readAt < cacheMs) {
      if (cache.state === 'closed') return { probe: false };
      if (cache.state === 'open' && now < cache.retryAt) {
        throw new CircuitOpenError(name, 'open', cache.retryAt - now);
      }
    }
    const [row] = await db.query<{
      allowed: boolean;
      state: BreakerState;
      retry_in_ms: number;
      consecutive_failures: number;
    }>(
      'select * from public.circuit_breaker_acquire($1, $2)',
      [typed(name, 'text'), typed(policy.probeTimeoutMs, 'int4')],
    );
    if (!row) throw new Error(`circuit_breaker_acquire returned nothing for ${name}`);
    if (!row.allowed) {
      remember(row.state, row.retry_in_ms, row.consecutive_failures);
      throw new CircuitOpenError(name, row.state, row.retry_in_ms);
    }
    // A probe is told about on its report; until then others see it as out (no cache).
    if (row.state === 'half_open') {
      cache = null;
      return { probe: true };
    }
    remember('closed', 0, row.consecutive_failures);
    return { probe: false };
  };

  const record = async (successes: number, failures: number, failure: string | null) => {
    const [row] = await db.query<{
      state: BreakerState;
      retry_in_ms: number;
      consecutive_failures: number;
    }>(
      'select * from public.circuit_breaker_record($1, $2, $3, $4, $5)',
      [
        typed(name, 'text'),
        typed(successes, 'int4'),
        typed(failures, 'int4'),
        typed(policyJson, 'jsonb'),
        typed(failure, 'text'),
      ],
    );
    if (row) remember(row.state, row.retry_in_ms, row.consecutive_failures);
  };

  const reportSuccess = async (probe: boolean) => {
    const streak = cache?.consecutiveFailures ?? 0;
    if (!probe && cache?.state === 'closed' && streak === 0) {
      // The common case: a healthy upstream. Keep successes in process, written in batches
      // (they only feed the ratio's window).
      if (pendingSuccesses === 0) pendingSince = clock.now();
      pendingSuccesses += 1;
      if (pendingSuccesses < successBatch && clock.now() - pendingSince < cacheMs) return;
    } else {
      pendingSuccesses += 1;
    }
    const successes = pendingSuccesses;
    pendingSuccesses = 0;
    await record(successes, 0, null);
  };

  const reportFailure = async (description: string) => {
    const successes = pendingSuccesses;
    pendingSuccesses = 0;
    await record(successes, 1, description.slice(0, 500));
  };

  return {
    name,
    cached: () =>
      cache ? { state: cache.state, consecutiveFailures: cache.consecutiveFailures } : null,
    async run(call, classify, describeFailure) {
      const { probe } = await acquire();
      let outcome: { ok: true; value: Awaited<ReturnType<typeof call>> } | {
        ok: false;
        error: unknown;
      };
      try {
        outcome = { ok: true, value: await call() };
      } catch (error) {
        outcome = { ok: false, error };
      }
      const verdict = classify ? classify(outcome) : outcome.ok ? 'success' : 'failure';
      if (verdict === 'success') await reportSuccess(probe);
      else if (verdict === 'failure') {
        await reportFailure(
          describeFailure
            ? describeFailure(outcome)
            : outcome.ok
            ? 'failed'
            : errorKind(outcome.error),
        );
      } else if (probe) {
        // A neutral probe proves nothing: hand the probe to the next caller at once.
        await db.query(
          `update public.circuit_breakers set probe_until = pg_catalog.clock_timestamp()
            where name = $1 and state = 'half_open'`,
          [typed(name, 'text')],
        );
      }
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    },
  };
}

/** An error's kind only: messages of network errors may carry a URL, and URLs secrets. */
function errorKind(error: unknown): string {
  return error instanceof Error ? error.name : 'error';
}
