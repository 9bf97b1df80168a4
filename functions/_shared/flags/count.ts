import type { BoundCounter, Counter } from '../metrics/registry.ts';

/** `gatehouse_flag_evaluations_total`'s recorder (the process's `record.flagEvaluations`). */
export type FlagEvaluationCounter = Counter<'flag' | 'result'>;

/**
 * Flag keys whose series a count keeps bound; past it they are bound afresh (a reader only
 * meets the few keys operators and code name, so this is never reached in practice).
 */
const BOUND_KEYS_MAX = 1_000;

interface BoundPair {
  readonly on: BoundCounter;
  readonly off: BoundCounter;
}

/**
 * Counts flag evaluations by key and result (`on`, `off`) in `counter`, through series
 * bound once per key and flush interval: a map lookup and an add per evaluation, so counting
 * costs evaluation a few nanoseconds (`npm run bench:flags`), and what a flush hands over is
 * exact.
 *
 * @example
 * const count = countFlagEvaluations(runtime.metrics.record.flagEvaluations);
 * count('rides.pooling', evaluateFlag(rule, context).on);
 */
export function countFlagEvaluations(
  counter: FlagEvaluationCounter,
): (key: string, on: boolean) => void {
  const bound = new Map<string, BoundPair>();
  const bind = (key: string): BoundPair => {
    if (bound.size >= BOUND_KEYS_MAX) bound.clear();
    const pair = {
      on: counter.bind({ flag: key, result: 'on' }),
      off: counter.bind({ flag: key, result: 'off' }),
    };
    bound.set(key, pair);
    return pair;
  };
  return (key, on) => {
    const pair = bound.get(key) ?? bind(key);
    (on ? pair.on : pair.off).inc();
  };
}
