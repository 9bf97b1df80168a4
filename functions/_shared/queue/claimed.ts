/** What a pass does with claimed jobs beside running them: batched completions, hand-backs. */
import type { Db } from '../db/types.ts';
import { type Deferred, deferred } from './deferred.ts';
import type { Hold, LeaseHeartbeat } from './heartbeat.ts';
import type { JobStore } from './store.ts';
import type { ClaimedJob } from './types.ts';
import type { WorkerOptions } from './worker.ts';

/** A claimed job waiting for a free slot. */
export interface Waiting {
  readonly job: ClaimedJob;
  /** Its handler's signal, aborted when the heartbeat finds the lease lost. */
  readonly controller: AbortController;
  /** Its lease, as the heartbeat keeps it. */
  readonly lease: Hold;
}

/**
 * Completes jobs whose handlers wrote nothing through their transaction, many per
 * statement: the ids that arrive while one statement runs go in the next. Resolves false
 * for a job whose lease is no longer this worker's; rejects (each waiting job) when the
 * statement fails.
 */
export function batchedCompletion(
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

/**
 * Hands claimed jobs that never started back to the queue (the worker was stopped or its
 * budget ran out). Returns how many went back.
 */
export async function releaseWaiting(
  waiting: Waiting[],
  options: Pick<WorkerOptions, 'store' | 'db' | 'workerId' | 'logger'>,
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
