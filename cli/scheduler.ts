import type { JobRunner } from '../functions/_shared/jobs/index.ts';
import type { Logger } from '../functions/_shared/log/index.ts';
import { runPeriodically } from './periodic.ts';

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
  return runPeriodically(
    async (signal) => {
      const report = await options.runner.pass({ signal, maintenance: true });
      // Lost jobs mean the database failed mid-pass; their leases run out and they rerun.
      if (report.lost > 0) options.logger.warn('worker pass', { ...report });
      else if (report.claimed > 0) options.logger.info('worker pass', { ...report });
    },
    options.intervalMs,
    (error) => options.logger.error('worker pass failed', { error }),
  );
}
