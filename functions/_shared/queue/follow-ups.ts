/**
 * A running job's follow-ups: the jobs it enqueues through its own transaction (`ctx.tx`,
 * with `enqueueJobs` or anything built on it, such as `ctx.whatsapp.send`) that are due at
 * once. The worker claims them in the statement that completes the job, so they are
 * claimed exactly when the job's work commits (never for work that rolled back), and runs
 * them next (the first in the job's slot, others in free ones): an outbox message goes out
 * right after the work that queued it, without waiting for the next kick or sweep. They are then ordinary
 * claimed jobs: the same lease, heartbeat, completion, retries and dead letters.
 */
const watchers = new WeakMap<object, (ids: readonly number[]) => void>();

/** Hands `seen` the ids of the due jobs enqueued through `tx` from now on. */
export function watchEnqueues(tx: object, seen: (ids: readonly number[]) => void): void {
  watchers.set(tx, seen);
}

/** Called by `enqueueJobs` with the due jobs it added through `db`. */
export function noteEnqueued(db: object, ids: readonly number[]): void {
  if (ids.length > 0) watchers.get(db)?.(ids);
}
