import { unrefTimer } from '../functions/_shared/timers.ts';

export interface Periodic {
  /** Stops ticking, aborts the run under way (its signal), and waits for it. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `everyMs`, a tick skipped while the last run is under way (a slow run is
 * never stacked on). A run that rejects, or throws before returning its promise, goes to
 * `onError`: this runs in a timer, where a throw would be an uncaught exception.
 *
 * @example
 * ```ts
 * const vacuum = runPeriodically((signal) => pass(signal), 60_000, (error) => log(error));
 * await vacuum.stop();
 * ```
 */
export function runPeriodically(
  task: (signal: AbortSignal) => Promise<unknown>,
  everyMs: number,
  onError: (error: unknown) => void,
  options: {
    /** Also run at once, not only after the first interval. */
    readonly immediately?: boolean;
    /** Let the process exit while waiting for the next tick. */
    readonly unref?: boolean;
  } = {},
): Periodic {
  const controller = new AbortController();
  let current: Promise<void> | null = null;
  const tick = () => {
    if (current) return;
    current = new Promise<unknown>((resolve) => resolve(task(controller.signal)))
      .then(() => {}, onError)
      .finally(() => {
        current = null;
      });
  };
  if (options.immediately) tick();
  const timer = setInterval(tick, everyMs);
  if (options.unref) unrefTimer(timer);
  return {
    async stop() {
      clearInterval(timer);
      controller.abort();
      await current;
    },
  };
}
