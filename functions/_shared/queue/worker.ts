import type { GatehouseMetrics } from '../metrics/catalog.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/types.ts';
import type { Logger } from '../log/index.ts';
import { batchedCompletion, releaseWaiting, type Waiting } from './claimed.ts';
import { deferred } from './deferred.ts';
import { startLeaseHeartbeat } from './heartbeat.ts';
import { WorkerPasses } from './passes.ts';
import type { JobRegistry } from './registry.ts';
import { type FollowUps, runJob } from './run-job.ts';
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
  /** Jobs run at the same time (by every pass sharing `passes`). */
  readonly concurrency: number;
  /**
   * Shared with the runner's other passes: their slots (`concurrency` between them) and
   * the kicks that wake a pass still claiming. A pass of its own by default.
   */
  readonly passes?: WorkerPasses;
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
/**
 * After a job ends, the pass claims again within this long (once for every job that ends
 * meanwhile), and lives at least until then: what the job left due without this worker
 * seeing it (jobs its SQL enqueued, follow-ups it could not claim, a retry due at once) is
 * claimed soon, and a burst of endings costs one claim, not one each.
 */
const RECHECK_MS = 20;

/** A process-unique worker id: host-free, so it says nothing about the machine. */
export function newWorkerId(prefix = 'worker'): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Kicks that one claim answers: the latest one's number, and the answer they share. */
interface SharedWake {
  woken: number;
  readonly answer: Promise<boolean>;
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
 * dead-letters the job. A job that enqueues due jobs through `ctx.tx` (follow-ups.ts) has
 * them claimed as it commits and run next in its slot. A kick (`passes.wake`) makes the
 * pass claim again at once. The pass never rejects: when the database goes away it stops
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
  const passes = options.passes ?? new WorkerPasses();
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
  let wake = deferred<void>();
  const nudge = () => wake.resolve();
  /** The last claim came back short: nothing more is due until a job ends or time passes. */
  let dry = false;
  /** The last claim came back full: more is due than one claim takes. */
  let backlog = false;
  let claimFailed = false;
  /** The loop has ended: nothing more is claimed or started. */
  let over = false;
  const claiming = () =>
    !over && !claimFailed && !options.signal?.aborted && clock.now() < deadline;
  /** Kicks that woke this pass, and how many of them the latest claim sent came after. */
  let wakes = 0;
  let wakesClaimed = 0;
  /** How many kicks a claim sent after them has answered (a failed claim answers none). */
  let wakesServed = 0;
  /** The pass claims no more (out of time, stopped, claims failing), and it has ended. */
  const stopped = deferred<void>();
  const ended = deferred<void>();
  /**
   * The answer shared by the kicks since the latest claim sent: one claim answers them all
   * or none, so a flood of kicks (one per delivery) holds one promise, not one each (each
   * would keep its delivery's request context alive until the pass ends, seconds later).
   */
  let unclaimed: SharedWake | null = null;
  const leave = passes.join({
    nudge,
    wake: () => {
      // A pass limited to some queues may not run the kicked jobs.
      if (!claiming() || options.queues) return null;
      const woken = ++wakes;
      dry = false;
      nudge();
      if (unclaimed !== null) {
        unclaimed.woken = woken;
        return unclaimed.answer;
      }
      // A kick no claim went out for is answered as soon as the pass stops claiming, so
      // its caller starts another pass then, not once this one's last job has ended.
      const shared: SharedWake = {
        woken,
        answer: stopped.promise.then((): boolean | Promise<boolean> =>
          wakesClaimed >= shared.woken
            ? ended.promise.then(() => wakesServed >= shared.woken)
            : false
        ),
      };
      unclaimed = shared;
      return shared.answer;
    },
  });

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

  /** A claimed job, its lease now kept by the heartbeat. */
  const held = (job: ClaimedJob, claimedAt: number): Waiting => {
    const controller = new AbortController();
    const entry: Waiting = {
      job,
      controller,
      lease: heartbeat.hold(job.id, claimedAt, (error) => {
        controller.abort(error);
        leaseLostWhileWaiting(entry);
      }),
    };
    return entry;
  };
  const enqueue = (entries: readonly Waiting[]) => {
    waiting.push(...entries);
    // Highest priority first, as claimed (the sort is stable).
    if (entries.length > 0) waiting.sort((a, b) => b.job.priority - a.job.priority);
  };

  let recheck: ReturnType<typeof setTimeout> | undefined;
  const recheckSoon = () => {
    recheck ??= setTimeout(() => {
      recheck = undefined;
      dry = false;
      nudge();
    }, RECHECK_MS);
  };

  /** Slots to fill now: all of them, or one while requests come first. */
  const slots = () => (options.yieldTo?.() ? 1 : concurrency);
  let paceTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Runs `first` in a slot, then the follow-ups each job claimed as it completed (one in
   * this slot, any others queued for the next free ones), until a job claims none.
   */
  const runSlot = async (first: Waiting) => {
    let freed = false;
    const slotFreed = () => {
      if (!freed) passes.freed();
      freed = true;
    };
    const followUpRoom = () => (claiming() && !options.yieldTo?.() ? batchSize : 0);
    try {
      let next: Waiting | undefined = first;
      while (next) {
        const { job, controller, lease } = next;
        const followUps: FollowUps | null = await runJob(
          {
            job,
            controller,
            leaseHeld: () => heartbeat.holds(lease),
            releaseLease: () => heartbeat.release(lease),
            complete,
            slotFreed,
            followUpRoom,
          },
          options,
          report,
        );
        next = undefined;
        if (followUps === null) continue;
        report.claimed += followUps.jobs.length;
        const [own, ...others] = followUps.jobs.map((job) => held(job, followUps.claimedAt));
        // Any others start at once in free slots (before this slot's own, which may be long).
        enqueue(others);
        startWaiting();
        // Stopped or out of time meanwhile: it goes back with the others not started.
        if (claiming()) next = own;
        else enqueue([own!]);
      }
    } finally {
      slotFreed();
    }
  };

  const startWaiting = () => {
    const pressed = options.yieldTo?.() ?? false;
    const room = pressed ? 1 : concurrency;
    while (passes.running < room && waiting.length > 0 && !options.signal?.aborted && !over) {
      if (pressed) {
        // Requests come first: one job at a time, and at most one start per gap, so the
        // worker sharing the process takes a sliver of its CPU until the pressure ends.
        const wait = passes.pacedAt + PRESSED_START_GAP_MS - performance.now();
        if (wait > 0) {
          paceTimer ??= setTimeout(() => {
            paceTimer = undefined;
            nudge();
          }, wait);
          return;
        }
      }
      passes.taken();
      const task: Promise<void> = runSlot(waiting.shift()!).finally(() => {
        tasks.delete(task);
        // What the job left due (jobs it enqueued) is claimed soon: by this pass or, once
        // this one is out of time, by another of the runner's passes still claiming.
        if (claiming()) recheckSoon();
        else if (!options.signal?.aborted && !claimFailed) void passes.wake();
        nudge();
      });
      tasks.add(task);
      // Measured once the handler has been called (it runs up to its first await inside
      // runJob), so a pause between here and there cannot shorten the next gap.
      if (pressed) passes.pacedAt = performance.now();
    }
  };

  const atDeadline = setTimeout(nudge, Math.max(0, options.budgetMs));
  const poll = setInterval(() => {
    if (!dry) return;
    dry = false;
    nudge();
  }, RELEASE_LEASES_EVERY_MS);
  let inFlight = 0;
  let claimingRoom = 0;
  let leasesReleasedAt = -Infinity;
  try {
    while (true) {
      if (!claiming()) stopped.resolve();
      startWaiting();
      const room = Math.min(
        batchSize,
        slots() + batchSize - passes.running - waiting.length - claimingRoom,
      );
      // With one slot, one claim at a time, so jobs start strictly in priority order; with
      // more, jobs of different priorities run side by side anyway. A second claim goes
      // out beside one on its way only for a backlog (the last claim came back full) or for
      // a kick that one cannot see: otherwise it would find what the first finds.
      const mayClaim = claiming() && !dry && room > 0 && waiting.length * 2 <= batchSize &&
        (inFlight === 0 ||
          (inFlight < (concurrency > 1 ? CLAIMS_IN_FLIGHT : 1) &&
            (backlog || wakes > wakesClaimed)));
      if (mayClaim) {
        const sentAt = clock.now();
        const releaseLeases = sentAt - leasesReleasedAt >= RELEASE_LEASES_EVERY_MS;
        if (releaseLeases) leasesReleasedAt = sentAt;
        wakesClaimed = wakes;
        unclaimed = null;
        const answers = wakes;
        inFlight += 1;
        claimingRoom += room;
        options.store.claim(options.db, {
          worker: options.workerId,
          limit: room,
          leaseSeconds: options.leaseSeconds,
          queues: options.queues ?? null,
          releaseLeases,
        }).then((jobs) => {
          report.claimed += jobs.length;
          wakesServed = Math.max(wakesServed, answers);
          enqueue(jobs.map((job) => held(job, sentAt)));
          // Full: more may be due. Short, and every kick so far came before a claim sent
          // (this one, or one still on its way): nothing more is due for now.
          backlog = jobs.length === room;
          if (backlog) dry = false;
          else if (wakes === wakesClaimed) dry = true;
        }, (error) => {
          // Two claims may be in flight: one line for the pass, not one per claim.
          if (!claimFailed) {
            logger.error('claiming jobs failed; this pass claims no more', { error });
          }
          claimFailed = true;
        }).finally(() => {
          inFlight -= 1;
          claimingRoom -= room;
          nudge();
        });
        continue;
      }
      if ((options.signal?.aborted || clock.now() >= deadline) && waiting.length > 0) {
        // Out of time (or stopped): jobs not started yet go back rather than overrun it.
        report.claimed -= await releaseWaiting(waiting.splice(0), options, heartbeat);
      }
      const rechecking = recheck !== undefined && claiming();
      if (tasks.size === 0 && waiting.length === 0 && inFlight === 0 && !rechecking) break;
      await wake.promise;
      wake = deferred<void>();
    }
    over = true;
    await Promise.all(tasks);
  } finally {
    over = true;
    leave();
    stopped.resolve();
    ended.resolve();
    clearTimeout(atDeadline);
    clearTimeout(paceTimer);
    clearTimeout(recheck);
    clearInterval(poll);
    heartbeat.stop();
  }
  return report;
}
