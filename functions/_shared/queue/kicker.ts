import type { Logger } from '../log/index.ts';

/**
 * Coalesces many "there is new work" signals into back-to-back worker passes: a kick
 * while a pass runs asks for one more pass after it, never a second pass beside it.
 * Each kick's promise settles when a pass that started after the kick has finished, and
 * never rejects: a failed pass is logged.
 *
 * @example
 * const kick = createKicker(() => runWorker({ ...options, budgetMs: 2_000 }), logger);
 * background(kick()); // after the ack
 */
export function createKicker(
  pass: () => Promise<unknown>,
  logger: Logger,
): () => Promise<void> {
  let current: Promise<void> | null = null;
  let next: Promise<void> | null = null;

  const start = (): Promise<void> => {
    // A pass that throws before returning its promise is a failed pass like any other; the
    // promise handed out never rejects, so callers may drop it (`void kick()`).
    const run = new Promise<unknown>((resolve) => resolve(pass())).then(
      () => undefined,
      (error) => logger.error('worker pass failed', { error }),
    ).finally(() => {
      current = null;
    });
    current = run;
    return run;
  };

  return () => {
    if (current === null) return start();
    next ??= current.then(() => {
      next = null;
      return start();
    });
    return next;
  };
}
