import type { GatehouseMetrics } from '../metrics/catalog.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/types.ts';
import type { Logger } from '../log/index.ts';
import { type Deferred, deferred } from './deferred.ts';
import { type Hold, type LeaseHeartbeat, startLeaseHeartbeat } from './heartbeat.ts';
import type { JobRegistry } from './registry.ts';
import { runJob } from './run-job.ts';
import type { JobStore } from './store.ts';
import { type ClaimedJob, emptyReport, type WorkerReport } from './types.ts';

export interface WorkerOptions {
  readonly db: Db;
  /** Where each finished run is counted and timed (`gatehouse_jobs_total`, ...). */
  readonly metrics?: GatehouseMetrics;
  /** The queue's storage (`postgresJobStore`): claims, completions, failures, leases. */
  readonly store: JobStore;
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
  /**
   * While this returns true, one job runs at a time and jobs start at most every
   * {@link PRESSED_START_GAP_MS}: requests come first (the process's admission is shedding
   * or has lowered its limit). Jobs keep moving, more slowly.
   */
  readonly yieldTo?: () => boolean;
  /** A claimed job is this worker's for this long; the heartbeat renews it every third. */
  readonly leaseSeconds: number;
  readonly slowJobMs: number;
  /** Only these queues (default: every queue). */
  readonly queues?: readonly string[] | null;
  /** Aborting it stops claiming and aborts running handlers' signals. */
  readonly signal?: AbortSignal;
  readonly random?: () => number;
  /** What `ctx.flags` answers for a flag with no row (the app's declared defaults). */
  readonly flagDefaults?: Readonly<Record<string, boolean>>;
  /** The environment `ctx.flags` evaluates in (`GATEHOUSE_ENV`), for environment-limited flags. */
  readonly environment?: string;
}

/**
 * While requests come first (`yieldTo`), the least time between two job starts: at most
 * 40 jobs a second, each alone, from a worker sharing the process with the intake.
 */
export const PRESSED_START_GAP_MS = 25;
/** Claims in flight at once: the next batch is fetched while one is on its way. */
const CLAIMS_IN_FLIGHT = 2;
/**
 * Within one pass, expired leases are released on the first claim and then on the first
 * claim after this long. A pass whose last claim came back short claims again this often
 * while it has jobs running and free slots, so neither new jobs nor the jobs of a worker
 * that died wait for its longest job to end.
 */
const RELEASE_LEASES_EVERY_MS = 2_000;

/** A claimed job waiting for a free slot. */
interface Waiting {
  readonly job: ClaimedJob;
  /** Its handler's signal, aborted when the heartbeat finds the lease lost. */
  readonly controller: AbortController;
  /** Its lease, as the heartbeat keeps it. */
  readonly lease: Hold;
}

/** A process-unique worker id: host-free, so it says nothing about the machine. */
export function newWorkerId(prefix = 'worker'): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Runs due jobs until the budget is spent or no job is due, keeping up to `concurrency`
 * handlers running, and reports what happened. Jobs are claimed `batchSize` at a time, and
 * the next batch is claimed while the current one runs (a claimed job waits at most one
 * batch for a free slot). One heartbeat renews the leases of every job the pass holds, and
 * stops (aborts) a job whose lease turns out lost. A handler that writes through `ctx.tx`
 * runs in a transaction that also marks the job completed; a handler that never touches
 * `ctx.tx` opens none, and its completion is batched with others' in one statement. A
 * failure records the attempt and schedules the retry (backoff with full jitter) or
 * dead-letters the job. The pass never rejects: when the database goes away it stops
 * claiming, logs each failure, and reports the jobs it could not finish as lost (their
 * leases run out and another pass runs them).
 *
 * @example
 * const report = await runWorker({ db, registry, logger, clock: systemClock,
 *   workerId: newWorkerId(), budgetMs: 25_000, batchSize: 10, concurrency: 10,
 *   leaseSeconds: 15, slowJobMs: 30_000 });
 * // → { claimed: 12, completed: 11, retried: 1, dead: 0, slow: 0, lost: 0 }
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerReport> {
  const { clock, concurrency, batchSize, logger } = options;
  const report = emptyReport();
  const deadline = clock.now() + options.budgetMs;
  const complete = batchedCompletion(options.db, options.workerId, options.store.completeMany);
  const heartbeat = startLeaseHeartbeat({
    renew: (ids) =>
      options.store.extendLeases(options.db, ids, options.workerId, options.leaseSeconds),
    leaseSeconds: options.leaseSeconds,
    clock,
    logger,
  });
  const tasks = new Set<Promise<void>>();
  /** Claimed jobs waiting for a free slot, in priority order. */
  const waiting: Waiting[] = [];
  let active = 0;
  let wake = deferred<void>();
  const nudge = () => wake.resolve();
  /** The last claim came back short: nothing more is due until a job ends or time passes. */
  let dry = false;
  let claimFailed = false;

  const leaseLostWhileWaiting = (entry: Waiting) => {
    const at = waiting.indexOf(entry);
    if (at === -1) return; // started meanwhile: its handler is aborted instead
    waiting.splice(at, 1);
    report.lost += 1;
    logger.warn('job lease lost while it waited for a free slot; not started', {
      job_id: entry.job.id,
    });
    nudge();
  };

  /** Slots to fill now: all of them, or one while requests come first. */
  const slots = () => (options.yieldTo?.() ? 1 : concurrency);
  /** When the last job started while requests came first (monotonic ms), and its timer. */
  let pacedAt = -Infinity;
  let paceTimer: ReturnType<typeof setTimeout> | undefined;

  const startWaiting = () => {
    const pressed = options.yieldTo?.() ?? false;
    const room = pressed ? 1 : concurrency;
    while (active < room && waiting.length > 0 && !options.signal?.aborted) {
      if (pressed) {
        // Requests come first: one job at a time, and at most one start per gap, so the
        // worker sharing the process takes a sliver of its CPU until the pressure ends.
        const wait = pacedAt + PRESSED_START_GAP_MS - performance.now();
        if (wait > 0) {
          paceTimer ??= setTimeout(() => {
            paceTimer = undefined;
            nudge();
          }, wait);
          return;
        }
      }
      const { job, controller, lease } = waiting.shift()!;
      active += 1;
      const slotFreed = () => {
        active -= 1;
        nudge();
      };
      const task: Promise<void> = runJob(
        {
          job,
          controller,
          leaseHeld: () => heartbeat.holds(lease),
          releaseLease: () => heartbeat.release(lease),
          complete,
          slotFreed,
        },
        options,
        report,
      ).finally(() => {
        tasks.delete(task);
        dry = false; // its retry or follow-up may be due now
        nudge();
      });
      tasks.add(task);
      // Measured once the handler has been called (it runs up to its first await inside
      // runJob), so a pause between here and there cannot shorten the next gap.
      if (pressed) pacedAt = performance.now();
    }
  };

  const atDeadline = setTimeout(nudge, Math.max(0, options.budgetMs));
  const poll = setInterval(() => {
    if (!dry) return;
    dry = false;
    nudge();
  }, RELEASE_LEASES_EVERY_MS);
  let claiming = 0;
  let claimingRoom = 0;
  let leasesReleasedAt = -Infinity;
  try {
    while (true) {
      startWaiting();
      const room = Math.min(
        batchSize,
        slots() + batchSize - active - waiting.length - claimingRoom,
      );
      // With one slot, one claim at a time, so jobs start strictly in priority order; with
      // more, jobs of different priorities run side by side anyway.
      const mayClaim = !claimFailed && !dry && !options.signal?.aborted &&
        clock.now() < deadline && room > 0 && waiting.length * 2 <= batchSize &&
        claiming < (concurrency > 1 ? CLAIMS_IN_FLIGHT : 1);
      if (mayClaim) {
        const sentAt = clock.now();
        const releaseLeases = sentAt - leasesReleasedAt >= RELEASE_LEASES_EVERY_MS;
        if (releaseLeases) leasesReleasedAt = sentAt;
        claiming += 1;
        claimingRoom += room;
        options.store.claim(options.db, {
          worker: options.workerId,
          limit: room,
          leaseSeconds: options.leaseSeconds,
          queues: options.queues ?? null,
          releaseLeases,
        }).then((jobs) => {
          report.claimed += jobs.length;
          for (const job of jobs) {
            const controller = new AbortController();
            const entry: Waiting = {
              job,
              controller,
              lease: heartbeat.hold(job.id, sentAt, (error) => {
                controller.abort(error);
                leaseLostWhileWaiting(entry);
              }),
            };
            waiting.push(entry);
          }
          // Highest priority first, as claimed (the sort is stable).
          if (jobs.length > 0) waiting.sort((a, b) => b.job.priority - a.job.priority);
          if (jobs.length < room) dry = true;
        }, (error) => {
          // Two claims may be in flight: one line for the pass, not one per claim.
          if (!claimFailed) {
            logger.error('claiming jobs failed; this pass claims no more', { error });
          }
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
        report.claimed -= await releaseWaiting(waiting.splice(0), options, heartbeat);
      }
      if (tasks.size === 0 && waiting.length === 0 && claiming === 0) break;
      await wake.promise;
      wake = deferred<void>();
    }
    await Promise.all(tasks);
  } finally {
    clearTimeout(atDeadline);
    clearTimeout(paceTimer);
    clearInterval(poll);
    heartbeat.stop();
  }
  return report;
}

/**
 * Hands claimed jobs that never started back to the queue (the worker was stopped or its
 * budget ran out). Returns how many went back.
 */
async function releaseWaiting(
  waiting: Waiting[],
  options: WorkerOptions,
  heartbeat: LeaseHeartbeat,
): Promise<number> {
  for (const { lease } of waiting) heartbeat.release(lease);
  try {
    return await options.store.release(
      options.db,
      waiting.map(({ job }) => job.id),
      options.workerId,
    );
  } catch (error) {
    // Their leases run out and they are claimed again: nothing is lost.
    options.logger.warn('releasing unstarted jobs failed; their leases will expire', {
      jobs: waiting.length,
      error,
    });
    return 0;
  }
}

/**
 * Completes jobs whose handlers wrote nothing through their transaction, many per
 * statement: the ids that arrive while one statement runs go in the next. Resolves false
 * for a job whose lease is no longer this worker's; rejects (each waiting job) when the
 * statement fails.
 */
function batchedCompletion(
  db: Db,
  worker: string,
  completeMany: JobStore['completeMany'],
): (id: number) => Promise<boolean> {
  let pending = new Map<number, Deferred<boolean>>();
  let flushing = false;
  const flush = async () => {
    while (pending.size > 0) {
      const batch = pending;
      pending = new Map();
      try {
        const done = await completeMany(db, [...batch.keys()], worker);
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
      // flush settles every waiter and never rejects: its callers hear of a failure.
      setTimeout(() => void flush(), 0);
    }
    return waiter.promise;
  };
}
