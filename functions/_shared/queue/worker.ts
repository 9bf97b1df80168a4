import type { Clock } from '../clock.ts';
import type { Db } from '../db/types.ts';
import type { Logger } from '../log/index.ts';
import { backoffDelay } from './backoff.ts';
import { JobTimeoutError, LeaseLostError, PermanentJobError, RetryJobError } from './errors.ts';
import type { JobRegistry } from './registry.ts';
import {
  claimJobs,
  completeJob,
  extendLease,
  failJob,
  type FailOutcome,
  recordSlowJob,
} from './store.ts';
import { type ClaimedJob, emptyReport, type JobContext, type WorkerReport } from './types.ts';

export interface WorkerOptions {
  readonly db: Db;
  readonly registry: JobRegistry;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Names this worker in leases, logs and `slow_jobs` (unique per process). */
  readonly workerId: string;
  /** Stop claiming after this long; jobs already started finish (or time out). */
  readonly budgetMs: number;
  /** Jobs claimed per round trip. */
  readonly batchSize: number;
  /** Jobs run at the same time. */
  readonly concurrency: number;
  readonly leaseSeconds: number;
  readonly slowJobMs: number;
  /** Only these queues (default: every queue). */
  readonly queues?: readonly string[] | null;
  /** Aborting it stops claiming and aborts running handlers' signals. */
  readonly signal?: AbortSignal;
  readonly random?: () => number;
}

/** A process-unique worker id: host-free, so it says nothing about the machine. */
export function newWorkerId(prefix = 'worker'): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Runs due jobs until the budget is spent or no job is due, keeping up to `concurrency`
 * running and claiming in batches, and reports what happened. Each job's handler runs in
 * a transaction that also marks the job completed; a failure records the attempt and
 * schedules the retry (backoff with full jitter) or dead-letters the job.
 *
 * @example
 * const report = await runWorker({ db, registry, logger, clock: systemClock,
 *   workerId: newWorkerId(), budgetMs: 25_000, batchSize: 10, concurrency: 10,
 *   leaseSeconds: 60, slowJobMs: 30_000 });
 * // → { claimed: 12, completed: 11, retried: 1, dead: 0, slow: 0, lost: 0 }
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerReport> {
  const report = emptyReport();
  const deadline = options.clock.now() + options.budgetMs;
  const running = new Set<Promise<void>>();
  const mayClaim = () =>
    !options.signal?.aborted && options.clock.now() < deadline &&
    running.size < options.concurrency;

  while (true) {
    if (mayClaim()) {
      let jobs: ClaimedJob[];
      try {
        jobs = await claimJobs(options.db, {
          worker: options.workerId,
          limit: Math.min(options.batchSize, options.concurrency - running.size),
          leaseSeconds: options.leaseSeconds,
          queues: options.queues ?? null,
        });
      } catch (error) {
        options.logger.error('claiming jobs failed', { worker: options.workerId, error });
        break;
      }
      report.claimed += jobs.length;
      for (const job of jobs) {
        const task: Promise<void> = runJob(job, options, report).finally(() =>
          running.delete(task)
        );
        running.add(task);
      }
      if (jobs.length > 0) continue;
      // Nothing due: stop when nothing runs either; otherwise look again when a running
      // job ends (its retry or follow-up may be due by then).
      if (running.size === 0) break;
    } else if (running.size === 0) {
      break;
    }
    await Promise.race(running);
  }
  await Promise.all(running);
  return report;
}

async function runJob(
  job: ClaimedJob,
  options: WorkerOptions,
  report: WorkerReport,
): Promise<void> {
  const { db, clock, workerId } = options;
  const started = clock.now();
  const logger = options.logger.child({
    job_id: job.id,
    job_kind: job.kind,
    queue: job.queue,
    attempt: job.attempts,
    ...(job.requestId ? { request_id: job.requestId } : {}),
  });
  const registered = options.registry.get(job.kind);
  let outcome: FailOutcome | 'completed';

  if (!registered) {
    outcome = await recordFailure(job, options, logger, {
      error: new PermanentJobError(`no handler is registered for job kind ${job.kind}`),
      retryInMs: 0,
      maxAttempts: null,
    });
  } else {
    const { handler, policy } = registered;
    const controller = new AbortController();
    const onOuterAbort = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const timeout = setTimeout(
      () => controller.abort(new JobTimeoutError(policy.timeoutMs)),
      policy.timeoutMs,
    );
    // Renew the lease while the handler runs, so a long job is not taken over.
    const renewEveryMs = Math.max(1_000, (options.leaseSeconds * 1000) / 3);
    const heartbeat = setInterval(() => {
      extendLease(db, job.id, workerId, options.leaseSeconds).catch((error) =>
        logger.warn('renewing a job lease failed', { error })
      );
    }, renewEveryMs);
    try {
      await db.transaction(async (tx) => {
        const ctx: JobContext = {
          tx,
          attempt: job.attempts,
          maxAttempts: policy.maxAttempts,
          job,
          logger,
          signal: controller.signal,
        };
        await abortable(handler(job.payload, ctx), controller.signal);
        if (!(await completeJob(tx, job.id, workerId))) throw new LeaseLostError(job.id);
      });
      outcome = 'completed';
    } catch (error) {
      if (error instanceof LeaseLostError) {
        logger.warn('job lease lost: another worker owns it now; writes rolled back');
        outcome = 'lost';
      } else {
        outcome = await recordFailure(job, options, logger, {
          error,
          retryInMs: error instanceof RetryJobError && error.retryInMs !== undefined
            ? error.retryInMs
            : backoffDelay(job.attempts, policy.backoff, options.random),
          maxAttempts: policy.maxAttempts,
        });
      }
    } finally {
      clearTimeout(timeout);
      clearInterval(heartbeat);
      options.signal?.removeEventListener('abort', onOuterAbort);
    }
  }

  report[outcome] += 1;
  const durationMs = clock.now() - started;
  if (durationMs >= options.slowJobMs) {
    report.slow += 1;
    logger.warn('slow job', { duration_ms: durationMs, threshold_ms: options.slowJobMs, outcome });
    await recordSlowJob(db, {
      job,
      durationMs,
      thresholdMs: options.slowJobMs,
      outcome,
      worker: workerId,
    }).catch((error) => logger.error('recording a slow job failed', { error }));
  }
}

async function recordFailure(
  job: ClaimedJob,
  options: WorkerOptions,
  logger: Logger,
  failure: { error: unknown; retryInMs: number; maxAttempts: number | null },
): Promise<FailOutcome> {
  const permanent = failure.error instanceof PermanentJobError;
  const message = describeError(failure.error);
  try {
    const outcome = await failJob(options.db, {
      id: job.id,
      worker: options.workerId,
      error: message,
      retryInMs: failure.retryInMs,
      permanent,
      maxAttempts: failure.maxAttempts,
    });
    const fields = { error: message, outcome, retry_in_ms: failure.retryInMs };
    if (outcome === 'dead') logger.error('job dead-lettered', fields);
    else if (outcome === 'retried') logger.warn('job failed; will retry', fields);
    else logger.warn('job failed after its lease was lost', fields);
    return outcome;
  } catch (error) {
    // The lease runs out and the job is claimed again: nothing is lost.
    logger.error('recording a job failure failed; the lease will expire', { error });
    return 'lost';
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Rejects with the signal's reason when it aborts first. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
