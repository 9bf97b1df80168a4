import type { Clock } from '../clock.ts';
import type { Db, Transaction } from '../db/types.ts';
import type { Logger } from '../log/index.ts';
import { backoffDelay } from './backoff.ts';
import { JobTimeoutError, LeaseLostError, PermanentJobError, RetryJobError } from './errors.ts';
import type { JobRegistry, RegisteredJob } from './registry.ts';
import {
  claimJobs,
  completeJob,
  completeJobs,
  extendLease,
  failJob,
  type FailOutcome,
  recordSlowJob,
  releaseJobs,
} from './store.ts';
import { type ClaimedJob, emptyReport, type JobContext, type WorkerReport } from './types.ts';

export interface WorkerOptions {
  readonly db: Db;
  readonly registry: JobRegistry;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Names this worker in leases, logs and `slow_jobs` (unique per process). */
  readonly workerId: string;
  /**
   * Stop claiming after this long; jobs already started finish (or time out), jobs claimed
   * ahead and not started yet go back to the queue.
   */
  readonly budgetMs: number;
  /**
   * Jobs claimed per round trip. The next batch is claimed while one runs, so up to this
   * many claimed jobs may wait here for a free slot.
   */
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

/** Claims in flight at once: the next batch is fetched while one is on its way. */
const CLAIMS_IN_FLIGHT = 2;
/** Within one pass, expired leases are released on the first claim and then this often. */
const RELEASE_LEASES_EVERY_MS = 2_000;

/** A process-unique worker id: host-free, so it says nothing about the machine. */
export function newWorkerId(prefix = 'worker'): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Runs due jobs until the budget is spent or no job is due, keeping up to `concurrency`
 * handlers running, and reports what happened. Jobs are claimed `batchSize` at a time, and
 * the next batch is claimed while the current one runs (a claimed job waits at most one
 * batch for a free slot; its lease is renewed if it waited long). A handler that writes
 * through `ctx.tx` runs in a transaction that also marks the job completed; a handler that
 * never touches `ctx.tx` opens none, and its completion is batched with others' in one
 * statement. A failure records the attempt and schedules the retry (backoff with full
 * jitter) or dead-letters the job.
 *
 * @example
 * const report = await runWorker({ db, registry, logger, clock: systemClock,
 *   workerId: newWorkerId(), budgetMs: 25_000, batchSize: 10, concurrency: 10,
 *   leaseSeconds: 60, slowJobMs: 30_000 });
 * // → { claimed: 12, completed: 11, retried: 1, dead: 0, slow: 0, lost: 0 }
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerReport> {
  const { clock, concurrency, batchSize } = options;
  const report = emptyReport();
  const deadline = clock.now() + options.budgetMs;
  const complete = batchedCompletion(options.db, options.workerId);
  const tasks = new Set<Promise<void>>();
  /** Claimed jobs waiting for a free slot, in claim order, with when they were claimed. */
  const waiting: { job: ClaimedJob; claimedAt: number }[] = [];
  let active = 0;
  let wake = deferred<void>();
  const nudge = () => wake.resolve();
  /** The last claim came back short: nothing more is due until a running job ends. */
  let dry = false;
  let claimFailed = false;

  const startWaiting = () => {
    while (active < concurrency && waiting.length > 0 && !options.signal?.aborted) {
      const { job, claimedAt } = waiting.shift()!;
      active += 1;
      const slotFreed = () => {
        active -= 1;
        nudge();
      };
      const task: Promise<void> = runJob(job, claimedAt, options, report, complete, slotFreed)
        .finally(() => {
          tasks.delete(task);
          dry = false; // its retry or follow-up may be due now
          nudge();
        });
      tasks.add(task);
    }
  };

  const atDeadline = setTimeout(nudge, Math.max(0, options.budgetMs));
  let claiming = 0;
  let claimingRoom = 0;
  let leasesReleasedAt = -Infinity;
  while (true) {
    startWaiting();
    const room = Math.min(
      batchSize,
      concurrency + batchSize - active - waiting.length - claimingRoom,
    );
    // With one slot, one claim at a time, so jobs start strictly in priority order; with
    // more, jobs of different priorities run side by side anyway.
    const mayClaim = !claimFailed && !dry && !options.signal?.aborted &&
      clock.now() < deadline && room > 0 && waiting.length * 2 <= batchSize &&
      claiming < (concurrency > 1 ? CLAIMS_IN_FLIGHT : 1);
    if (mayClaim) {
      const releaseLeases = clock.now() - leasesReleasedAt >= RELEASE_LEASES_EVERY_MS;
      if (releaseLeases) leasesReleasedAt = clock.now();
      claiming += 1;
      claimingRoom += room;
      claimJobs(options.db, {
        worker: options.workerId,
        limit: room,
        leaseSeconds: options.leaseSeconds,
        queues: options.queues ?? null,
        releaseLeases,
      }).then((jobs) => {
        report.claimed += jobs.length;
        const claimedAt = clock.now();
        for (const job of jobs) waiting.push({ job, claimedAt });
        // Highest priority first, as claimed (the sort is stable).
        if (jobs.length > 0) waiting.sort((a, b) => b.job.priority - a.job.priority);
        if (jobs.length < room) dry = true;
      }, (error) => {
        options.logger.error('claiming jobs failed', { worker: options.workerId, error });
        claimFailed = true;
      }).finally(() => {
        claiming -= 1;
        claimingRoom -= room;
        nudge();
      });
      continue;
    }
    if ((options.signal?.aborted || clock.now() >= deadline) && waiting.length > 0) {
      // Out of time (or stopped): jobs not started yet go back rather than overrun it.
      report.claimed -= await releaseWaiting(waiting.splice(0), options);
    }
    if (tasks.size === 0 && waiting.length === 0 && claiming === 0) break;
    await wake.promise;
    wake = deferred<void>();
  }
  clearTimeout(atDeadline);
  await Promise.all(tasks);
  return report;
}

/**
 * Hands claimed jobs that never started back to the queue (the worker was stopped or its
 * budget ran out). Returns how many went back.
 */
async function releaseWaiting(
  waiting: { job: ClaimedJob }[],
  options: WorkerOptions,
): Promise<number> {
  try {
    return await releaseJobs(options.db, waiting.map(({ job }) => job.id), options.workerId);
  } catch (error) {
    // Their leases run out and they are claimed again: nothing is lost.
    options.logger.warn('releasing unstarted jobs failed; their leases will expire', { error });
    return 0;
  }
}

/**
 * Completes jobs whose handlers wrote nothing through their transaction, many per
 * statement: the ids that arrive while one statement runs go in the next. Resolves false
 * for a job whose lease is no longer this worker's.
 */
function batchedCompletion(db: Db, worker: string): (id: number) => Promise<boolean> {
  let pending = new Map<number, Deferred<boolean>>();
  let flushing = false;
  const flush = async () => {
    while (pending.size > 0) {
      const batch = pending;
      pending = new Map();
      try {
        const done = await completeJobs(db, [...batch.keys()], worker);
        for (const [id, waiter] of batch) waiter.resolve(done.has(id));
      } catch (error) {
        for (const waiter of batch.values()) waiter.reject(error);
      }
    }
    flushing = false;
  };
  return (id) => {
    const waiter = deferred<boolean>();
    pending.set(id, waiter);
    if (!flushing) {
      flushing = true;
      // One macrotask later, so every handler that finished in this turn joins the batch.
      setTimeout(() => void flush(), 0);
    }
    return waiter.promise;
  };
}

/**
 * A transaction opened on first use: `tx` is what the handler sees; `used` says whether it
 * touched it. `failed` rejects if the transaction dies (its connection lost) before it is
 * finished; `finish` commits after running `last` in it, or rolls back when given an error.
 */
function lazyTransaction(db: Db) {
  let ready: Promise<Transaction> | null = null;
  let settled: Promise<unknown> = Promise.resolve();
  const last = deferred<(tx: Transaction) => Promise<void>>();
  const failure = deferred<never>();
  failure.promise.catch(() => {});
  let finished = false;

  const open = (): Promise<Transaction> => {
    if (ready === null) {
      const opened = deferred<Transaction>();
      settled = db.transaction(async (tx) => {
        opened.resolve(tx);
        const step = await last.promise;
        await step(tx);
      });
      settled.catch((error) => {
        opened.reject(error);
        if (!finished) failure.reject(error);
      });
      ready = opened.promise;
      return ready;
    }
    return ready;
  };

  const tx: Transaction = {
    query: async (text, values) => (await open()).query(text, values),
    exec: async (text) => (await open()).exec(text),
    savepoint: async (fn) => (await open()).savepoint(fn),
  };
  return {
    tx,
    get used() {
      return ready !== null;
    },
    failed: failure.promise,
    /** Commits (after `step`), or rolls back when `error` is given; rejects as the commit does. */
    async finish(step: ((tx: Transaction) => Promise<void>) | { error: unknown }): Promise<void> {
      finished = true;
      if (typeof step === 'function') {
        last.resolve(step);
        await settled;
      } else {
        last.reject(step.error);
        await settled.catch(() => {});
      }
    },
  };
}

async function runJob(
  job: ClaimedJob,
  claimedAt: number,
  options: WorkerOptions,
  report: WorkerReport,
  complete: (id: number) => Promise<boolean>,
  slotFreed: () => void,
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
  let freed = false;
  const free = () => {
    if (!freed) slotFreed();
    freed = true;
  };

  try {
    if (!(await leaseStillOurs(job, claimedAt, started, options, logger))) {
      outcome = 'lost';
    } else if (!registered) {
      outcome = await recordFailure(job, options, logger, {
        error: new PermanentJobError(`no handler is registered for job kind ${job.kind}`),
        retryInMs: 0,
        maxAttempts: null,
      });
    } else {
      outcome = await runHandler(job, registered, options, logger, complete, free);
    }
  } finally {
    free();
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

/** A job that waited for a slot a third of its lease or more gets its lease renewed first. */
async function leaseStillOurs(
  job: ClaimedJob,
  claimedAt: number,
  now: number,
  options: WorkerOptions,
  logger: Logger,
): Promise<boolean> {
  if (now - claimedAt < (options.leaseSeconds * 1000) / 3) return true;
  try {
    if (await extendLease(options.db, job.id, options.workerId, options.leaseSeconds)) return true;
    logger.warn('job lease lost while it waited for a free slot; not started');
  } catch (error) {
    logger.warn('renewing a waiting job’s lease failed; not started', { error });
  }
  return false;
}

async function runHandler(
  job: ClaimedJob,
  { handler, policy }: RegisteredJob,
  options: WorkerOptions,
  logger: Logger,
  complete: (id: number) => Promise<boolean>,
  free: () => void,
): Promise<FailOutcome | 'completed'> {
  const { db, workerId } = options;
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (options.signal?.aborted) onOuterAbort();
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
  const lazy = lazyTransaction(db);
  let failure: { error: unknown } | null = null;
  try {
    const ctx: JobContext = {
      tx: lazy.tx,
      attempt: job.attempts,
      maxAttempts: policy.maxAttempts,
      job,
      logger,
      signal: controller.signal,
    };
    await Promise.race([abortable(handler(job.payload, ctx), controller.signal), lazy.failed]);
  } catch (error) {
    failure = { error };
  } finally {
    clearTimeout(timeout);
    clearInterval(heartbeat);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }

  if (failure === null && !lazy.used) {
    // Nothing to commit with the completion: batch it with other jobs' completions.
    free();
    try {
      if (await complete(job.id)) return 'completed';
      logger.warn('job lease lost: another worker owns it now');
      return 'lost';
    } catch (error) {
      // The lease runs out and the job runs again: nothing is lost.
      logger.error('completing a job failed; the lease will expire', { error });
      return 'lost';
    }
  }
  if (failure === null) {
    try {
      await lazy.finish(async (tx) => {
        if (!(await completeJob(tx, job.id, workerId))) throw new LeaseLostError(job.id);
      });
      return 'completed';
    } catch (error) {
      failure = { error };
    }
  } else if (lazy.used) {
    await lazy.finish(failure);
  }
  if (failure.error instanceof LeaseLostError) {
    logger.warn('job lease lost: another worker owns it now; writes rolled back');
    return 'lost';
  }
  return recordFailure(job, options, logger, {
    error: failure.error,
    retryInMs: failure.error instanceof RetryJobError && failure.error.retryInMs !== undefined
      ? failure.error.retryInMs
      : backoffDelay(job.attempts, policy.backoff, options.random),
    maxAttempts: policy.maxAttempts,
  });
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

interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (reason: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
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
