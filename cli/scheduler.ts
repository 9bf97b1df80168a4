import type { JobRunner } from '../functions/_shared/jobs/index.ts';
import type { Logger } from '../functions/_shared/log/index.ts';

export interface Scheduler {
  /** Stops ticking, asks a running pass to stop claiming, and waits for it. */
  stop(): Promise<void>;
}

/**
 * What pg_cron does on Supabase, for the local server: a worker pass every `intervalMs`
 * (skipped while the previous pass still runs). `intervalMs` 0 switches it off.
 */
export function startScheduler(options: {
  runner: JobRunner;
  intervalMs: number;
  logger: Logger;
}): Scheduler {
  if (options.intervalMs <= 0) return { stop: () => Promise.resolve() };
  const controller = new AbortController();
  let current: Promise<void> | null = null;
  const tick = () => {
    if (current) return;
    current = options.runner.pass({ signal: controller.signal, maintenance: true })
      .then((report) => {
        if (report.claimed > 0) options.logger.info('worker pass', { ...report });
      })
      .catch((error) => options.logger.error('worker pass failed', { error }))
      .finally(() => {
        current = null;
      });
  };
  const timer = setInterval(tick, options.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      controller.abort();
      await current;
    },
  };
}
