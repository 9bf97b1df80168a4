import type { JobRunner } from '../functions/_shared/jobs/index.ts';
import type { WorkerReport } from '../functions/_shared/queue/index.ts';
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
    // A pass that throws before returning its promise is logged like one that rejects:
    // this runs in a timer, where a throw would be an uncaught exception.
    current = new Promise<WorkerReport>((resolve) =>
      resolve(options.runner.pass({ signal: controller.signal, maintenance: true }))
    )
      .then((report) => {
        // Lost jobs mean the database failed mid-pass; their leases run out and they rerun.
        if (report.lost > 0) options.logger.warn('worker pass', { ...report });
        else if (report.claimed > 0) options.logger.info('worker pass', { ...report });
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
