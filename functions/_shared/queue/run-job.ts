import { createFlagReader } from '../flags/index.ts';
import type { Logger } from '../log/index.ts';
import { backoffDelay } from './backoff.ts';
import { JobTimeoutError, LeaseLostError, PermanentJobError, RetryJobError } from './errors.ts';
import { watchEnqueues } from './follow-ups.ts';
import { lazyTransaction } from './lazy-transaction.ts';
import type { RegisteredJob } from './registry.ts';
import type { FailOutcome } from './store.ts';
import type { ClaimedJob, JobContext, WorkerReport } from './types.ts';
import type { WorkerOptions } from './worker.ts';

/** What a pass gives each job it starts. */
export interface JobRun {
  readonly job: ClaimedJob;
  /**
   * Becomes the handler's `ctx.signal`. The worker aborts it when the job's lease is lost;
   * the run also aborts it when the worker stops or the kind's timeout passes.
   */
  readonly controller: AbortController;
  /** Whether the heartbeat still holds the lease (checked before the handler starts). */
  readonly leaseHeld: () => boolean;
  /**
   * Stops the heartbeat renewing the lease, once the handler has settled: from then on the
   * statement that records the outcome checks the lease itself, and a renewal that finds
   * the job already completed must not be taken for a lost lease.
   */
  readonly releaseLease: () => void;
  /** Completes a job whose handler wrote nothing, batched with others; false: lease lost. */
  readonly complete: (id: number) => Promise<boolean>;
  /**
   * Called once the job no longer needs its slot (before a batched completion); not called
   * when the run hands its slot to follow-ups.
   */
  readonly slotFreed: () => void;
  /**
   * How many of the job's follow-ups (follow-ups.ts) to claim as it completes: 0 while the
   * pass claims nothing more (stopping, out of time, requests first).
   */
  readonly followUpRoom: () => number;
}

/** Follow-ups claimed as a job completed, and when the claim was sent (their leases' start). */
export interface FollowUps {
  readonly jobs: readonly ClaimedJob[];
  readonly claimedAt: number;
}

/**
 * Runs one claimed job to its end and counts the outcome in `report`. Never rejects: a
 * database that fails mid-job leaves the job to its lease (counted lost) and a log line.
 * Resolves to the follow-ups claimed as it completed, if any: the caller holds their leases
 * and runs them in the job's slot, which the run then has not freed.
 */
export async function runJob(
  run: JobRun,
  options: WorkerOptions,
  report: WorkerReport,
): Promise<FollowUps | null> {
  const { job } = run;
  const { clock } = options;
  const started = clock.now();
  const logger = options.logger.child({
    job_id: job.id,
    job_kind: job.kind,
    queue: job.queue,
    attempt: job.attempts,
    ...(job.requestId ? { request_id: job.requestId } : {}),
  });
  let outcome: FailOutcome | 'completed' = 'lost';
  let followUps: FollowUps | null = null;
  // What the handler said it worked on (`ctx.describe`), for the line that ends the run.
  const described: Record<string, unknown> = {};
  let freed = false;
  const free = () => {
    if (!freed) run.slotFreed();
    freed = true;
  };

  try {
    const registered = options.registry.get(job.kind);
    if (!run.leaseHeld()) {
      logger.warn('job lease lost while it waited for a free slot; not started');
    } else if (!registered) {
      run.releaseLease();
      outcome = await recordFailure(job, options, logger, {
        error: new PermanentJobError(`no handler is registered for job kind ${job.kind}`),
        retryInMs: 0,
        maxAttempts: null,
      }, described);
    } else {
      const ran = await runHandler(run, registered, options, logger, free, described);
      outcome = ran.outcome;
      followUps = ran.followUps;
    }
  } catch (error) {
    // Not expected; the pass drops a task once it settles, so a rejection would go unread.
    // The lease runs out and the job runs again.
    logger.error('running a job failed unexpectedly; the lease will expire', { error });
  } finally {
    run.releaseLease();
    if (followUps === null) free();
  }

  report[outcome] += 1;
  const durationMs = clock.now() - started;
  if (options.metrics) {
    const counted = outcome === 'completed' ? 'succeeded' : outcome;
    options.metrics.jobs.inc({ kind: job.kind, outcome: counted });
    options.metrics.jobDuration.observe({ kind: job.kind }, durationMs / 1000);
  }
  if (outcome === 'completed') {
    logger.info('job completed', { ...described, duration_ms: Math.round(durationMs) });
  }
  if (durationMs >= options.slowJobMs) {
    report.slow += 1;
    logger.warn('slow job', { duration_ms: durationMs, threshold_ms: options.slowJobMs, outcome });
    await options.store.recordSlow(options.db, {
      job,
      durationMs,
      thresholdMs: options.slowJobMs,
      outcome,
      worker: options.workerId,
    }).catch((error) => logger.error('recording a slow job failed', { error }));
  }
  return followUps;
}

type Ran = { outcome: FailOutcome | 'completed'; followUps: FollowUps | null };
const ended = (outcome: FailOutcome | 'completed'): Ran => ({ outcome, followUps: null });

async function runHandler(
  run: JobRun,
  { handler, policy }: RegisteredJob,
  options: WorkerOptions,
  logger: Logger,
  free: () => void,
  described: Record<string, unknown>,
): Promise<Ran> {
  const { job, controller } = run;
  const { db, workerId } = options;
  // The handler's signal aborts when the worker stops, the lease is lost, time is up, or
  // the job's transaction dies.
  const onStop = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onStop, { once: true });
  if (options.signal?.aborted) onStop();
  const timeout = setTimeout(
    () => controller.abort(new JobTimeoutError(policy.timeoutMs)),
    policy.timeoutMs,
  );
  const lazy = lazyTransaction(db, (error) => controller.abort(error));
  /** Due jobs the handler enqueued through `ctx.tx`: its follow-ups. */
  const enqueued: number[] = [];
  watchEnqueues(lazy.tx, (ids) => void enqueued.push(...ids));
  let failure: { error: unknown } | null = null;
  try {
    const ctx: JobContext = {
      tx: lazy.tx,
      attempt: job.attempts,
      maxAttempts: policy.maxAttempts,
      job,
      logger,
      signal: controller.signal,
      // Read in the job's own transaction: a job never waits for a second connection.
      flags: createFlagReader(lazy.tx, {
        clock: options.clock,
        defaults: options.flagDefaults,
        environment: options.environment,
        metrics: options.metrics,
      }),
      describe: (fields) => void Object.assign(described, fields),
    };
    await abortable(handler(job.payload, ctx), controller.signal);
  } catch (error) {
    failure = { error };
  } finally {
    clearTimeout(timeout);
    options.signal?.removeEventListener('abort', onStop);
    run.releaseLease();
  }

  if (failure === null && !lazy.used) {
    // Nothing to commit with the completion: batch it with other jobs' completions.
    lazy.close();
    free();
    try {
      if (await run.complete(job.id)) return ended('completed');
      logger.warn('job lease lost: another worker owns it now');
      return ended('lost');
    } catch (error) {
      // The lease runs out and the job runs again: nothing is lost.
      logger.error('completing a job failed; the lease will expire', { error });
      return ended('lost');
    }
  }
  if (failure === null) {
    try {
      const room = enqueued.length > 0 ? run.followUpRoom() : 0;
      const claimedAt = options.clock.now();
      // The completion, and the claim of the follow-ups, go out with the COMMIT; a lost
      // lease (LeaseLostError) rolls the handler's writes back.
      const claimed = await lazy.commit((tx) =>
        options.store.completeClaiming(tx, job.id, workerId, {
          ids: enqueued.slice(0, room),
          leaseSeconds: options.leaseSeconds,
          queues: options.queues,
        })
      );
      // Claimed only now that the commit made them (and the job's work) real.
      const followUps = claimed.length > 0 ? { jobs: claimed, claimedAt } : null;
      return { outcome: 'completed', followUps };
    } catch (error) {
      failure = { error };
    }
  } else {
    await lazy.discard(failure.error);
  }
  if (failure.error instanceof LeaseLostError) {
    // The heartbeat or the completion said why (taken over, or not renewed in time).
    logger.warn('job stopped: its lease was lost; writes rolled back');
    return ended('lost');
  }
  return ended(
    await recordFailure(job, options, logger, {
      error: failure.error,
      retryInMs: failure.error instanceof RetryJobError && failure.error.retryInMs !== undefined
        ? failure.error.retryInMs
        : backoffDelay(job.attempts, policy.backoff, options.random),
      maxAttempts: policy.maxAttempts,
    }, described),
  );
}

async function recordFailure(
  job: ClaimedJob,
  options: WorkerOptions,
  logger: Logger,
  failure: { error: unknown; retryInMs: number; maxAttempts: number | null },
  described: Record<string, unknown>,
): Promise<FailOutcome> {
  const permanent = failure.error instanceof PermanentJobError;
  const message = describeError(failure.error);
  try {
    const outcome = await options.store.fail(options.db, {
      id: job.id,
      worker: options.workerId,
      error: message,
      retryInMs: failure.retryInMs,
      permanent,
      maxAttempts: failure.maxAttempts,
    });
    const fields = { ...described, error: message, outcome, retry_in_ms: failure.retryInMs };
    if (outcome === 'dead') logger.error('job dead-lettered', fields);
    else if (outcome === 'retried') logger.warn('job failed; will retry', fields);
    else logger.warn('job failed after its lease was lost', fields);
    return outcome;
  } catch (error) {
    // The lease runs out and the job is claimed again: nothing is lost.
    logger.error('recording a job failure failed; the lease will expire', {
      error,
      job_error: message,
    });
    return 'lost';
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Settles as `work`, or rejects with the signal's reason when it aborts first. `work` is
 * always given a handler: a handler that rejects after its job was given up on (timed out,
 * stopped, its database gone) must not leave an unhandled rejection behind.
 */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  const settled = Promise.resolve(work);
  if (signal.aborted) {
    settled.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    settled.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
