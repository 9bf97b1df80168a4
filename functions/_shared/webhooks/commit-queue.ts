import { DatabaseTimeoutError, DatabaseUnavailableError } from '../db/types.ts';
import { type Deadline, deadlineAfter } from '../timers.ts';

/** One submitted item and how to answer it; `send` must settle every entry it is given. */
export interface Entry<I, O> {
  readonly item: I;
  /** What the item weighs against `maxBatchSize` (events, for intake). */
  readonly size: number;
  resolve(outcome: O): void;
  reject(error: unknown): void;
}

/**
 * Sends one call (one commit) carrying a batch from each of one or more groups (in the order
 * of their group keys), and settles each of their entries. `release` frees the call's slot:
 * call it as soon as the database has answered, before the entries are answered, so the
 * next call is issued while this one's answers go out.
 */
export type SendBatch<I, O> = (
  batches: Entry<I, O>[][],
  release: () => void,
) => Promise<void>;

export interface CommitQueueOptions {
  /** Largest batch, summed over the entries' `size`. */
  readonly maxBatchSize: number;
  /** Batches of one group in flight at once (1: group commit). */
  readonly maxInFlightPerGroup: number;
  /** Calls in flight at once over all groups: the share of the pool the queue may use. */
  readonly maxCalls: number;
  /**
   * Groups one call may carry (default 1). When every call slot is busy, groups wait in
   * order; the call that takes the next free slot also carries the batches of the groups
   * waiting behind it, up to this many groups and `maxBatchSize` in all, so traffic spread
   * over many groups (one per WhatsApp number) still shares commits.
   */
  readonly maxGroupsPerCall?: number;
  /** Longest an entry waits for its answer, sending included, in ms (0: no limit). */
  readonly timeoutMs: number;
  /**
   * Shedding under overload (the CoDel rule): once entries have been waiting without a
   * break for `intervalMs`, the queue is standing, not bursting, and an entry that has
   * waited more than `targetMs` to be sent is answered 503 instead of being sent late. A
   * burst that drains within the interval is never shed.
   */
  readonly overload: { readonly targetMs: number; readonly intervalMs: number };
  readonly now?: () => number;
}

export interface CommitQueueStats {
  /** Entries waiting to be sent. */
  readonly waiting: number;
  /** Batches in flight. */
  readonly calls: number;
  /** Entries answered 503 because the queue was standing. */
  readonly shed: number;
  /** Whether the queue has been standing for longer than the interval. */
  readonly overloaded: boolean;
}

export interface CommitQueue<I, O> {
  /** Queues `item` in `group` (items of one group may share a batch); settles with its answer. */
  submit(group: string, item: I, size: number): Promise<O>;
  stats(): CommitQueueStats;
}

/** Answered to an entry shed from a standing queue: the database is behind, retry later. */
export class QueueOverloadedError extends DatabaseUnavailableError {
  override readonly name = 'QueueOverloadedError';
  constructor(waitedMs: number) {
    super(`waited ${Math.round(waitedMs)} ms behind a standing queue; shed`, {
      reason: 'overloaded',
    });
  }
}

interface Pending<I, O> extends Entry<I, O> {
  readonly queuedAt: number;
  /** Answered, timed out or shed: skipped when its group is drained. */
  settled: boolean;
  /** Still counted in `waiting` (not yet sent or settled). */
  waiting: boolean;
}

interface Group<I, O> {
  readonly key: string;
  readonly queue: Pending<I, O>[];
  inFlight: number;
  scheduled: boolean;
  ready: boolean;
}

/**
 * Group commit with bounds: items of a group submitted while its batch is in flight go out
 * together in the next one; at most `maxCalls` batches are in flight over all groups (the
 * rest of the groups wait their turn in order); every entry has a deadline; and a standing
 * queue is shed (see `overload`). The queue has no SQL: `send` does the database work.
 *
 * @example
 * const queue = createCommitQueue(sendBatch, {
 *   maxBatchSize: 500, maxInFlightPerGroup: 1, maxCalls: 8, timeoutMs: 3_000,
 *   overload: { targetMs: 25, intervalMs: 100 },
 * });
 * const outcomes = await queue.submit('stripe', request, request.events.length);
 */
export function createCommitQueue<I, O>(
  send: SendBatch<I, O>,
  options: CommitQueueOptions,
): CommitQueue<I, O> {
  const now = options.now ?? (() => performance.now());
  const { targetMs, intervalMs } = options.overload;
  const maxGroupsPerCall = options.maxGroupsPerCall ?? 1;
  const sizeOf = (batch: readonly Pending<I, O>[]) =>
    batch.reduce((sum, pending) => sum + pending.size, 0);
  const groups = new Map<string, Group<I, O>>();
  const ready: Group<I, O>[] = [];
  let calls = 0;
  let waiting = 0;
  let busySince = now();
  let shed = 0;
  let sweeping: ReturnType<typeof setTimeout> | null = null;

  const leaveWaiting = (pending: Pending<I, O>) => {
    if (!pending.waiting) return;
    pending.waiting = false;
    waiting -= 1;
  };
  /** Entries have been waiting, without the queue emptying once, for over the interval. */
  const standing = () => waiting > 0 && now() - busySince > intervalMs;

  /** Sheds what has waited past the target while the queue stands; re-arms while it waits. */
  const sweep = () => {
    sweeping = null;
    if (standing()) {
      const at = now();
      for (const group of groups.values()) {
        for (const pending of group.queue) {
          if (!pending.settled && at - pending.queuedAt > targetMs) {
            shed += 1;
            pending.reject(new QueueOverloadedError(at - pending.queuedAt));
          }
        }
      }
    }
    if (waiting > 0) sweeping = setTimeout(sweep, targetMs);
  };

  /** Takes up to `limit` of `group`'s entries (the first one whatever its size, if `open`). */
  function takeBatch(group: Group<I, O>, limit: number, open: boolean): Pending<I, O>[] {
    const batch: Pending<I, O>[] = [];
    let size = 0;
    const shedding = standing();
    const at = now();
    while (group.queue.length > 0) {
      const next = group.queue[0]!;
      if (next.settled) {
        group.queue.shift();
        continue;
      }
      if (shedding && at - next.queuedAt > targetMs) {
        group.queue.shift();
        shed += 1;
        next.reject(new QueueOverloadedError(at - next.queuedAt));
        continue;
      }
      if ((batch.length > 0 || !open) && size + next.size > limit) break;
      batch.push(group.queue.shift()!);
      size += next.size;
    }
    for (const pending of batch) leaveWaiting(pending);
    return batch;
  }

  function drain(group: Group<I, O>): void {
    group.scheduled = false;
    while (group.inFlight < options.maxInFlightPerGroup && group.queue.length > 0) {
      if (calls >= options.maxCalls) {
        if (!group.ready) {
          group.ready = true;
          ready.push(group);
        }
        return;
      }
      const batch = takeBatch(group, options.maxBatchSize, true);
      if (batch.length === 0) break;
      const parts = [{ group, batch }];
      let size = sizeOf(batch);
      // Groups waiting for a slot ride along in this call, in the order they queued.
      while (ready.length > 0 && parts.length < maxGroupsPerCall && size < options.maxBatchSize) {
        const other = ready[0]!;
        const more = takeBatch(other, options.maxBatchSize - size, false);
        // Its next entry does not fit: it waits for a call of its own.
        if (more.length === 0 && other.queue.length > 0) break;
        // Out of the line: what it still holds goes out when this call is answered.
        ready.shift();
        other.ready = false;
        if (more.length === 0) {
          if (other.inFlight === 0) groups.delete(other.key);
          continue;
        }
        parts.push({ group: other, batch: more });
        size += sizeOf(more);
      }
      for (const part of parts) part.group.inFlight += 1;
      calls += 1;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        calls -= 1;
        for (const { group: sent } of parts) {
          sent.inFlight -= 1;
          if (sent.queue.length > 0) {
            if (!sent.ready && !sent.scheduled) drain(sent);
          } else if (sent.inFlight === 0 && !sent.ready) {
            groups.delete(sent.key);
          }
        }
        while (calls < options.maxCalls && ready.length > 0) {
          const next = ready.shift()!;
          next.ready = false;
          drain(next);
          if (next.queue.length === 0 && next.inFlight === 0) groups.delete(next.key);
        }
      };
      // In group-key order: a `send` that takes locks per group takes them in one order.
      const batches = parts.sort((a, b) => compareKeys(a.group.key, b.group.key))
        .map((part) => part.batch);
      send(batches, release).finally(release).catch((error) => {
        // `send` settles every entry itself; this only keeps a bug from going unseen.
        for (const pending of batches.flat()) pending.reject(error);
      });
    }
    if (group.queue.length === 0 && group.inFlight === 0 && !group.ready) {
      groups.delete(group.key);
    }
  }

  return {
    submit(key, item, size) {
      let group = groups.get(key);
      if (!group) {
        group = { key, queue: [], inFlight: 0, scheduled: false, ready: false };
        groups.set(key, group);
      }
      const target = group;
      return new Promise<O>((resolve, reject) => {
        let deadline: Deadline | undefined;
        const pending: Pending<I, O> = {
          item,
          size,
          queuedAt: now(),
          settled: false,
          waiting: true,
          resolve(outcome) {
            if (pending.settled) return;
            pending.settled = true;
            deadline?.cancel();
            leaveWaiting(pending);
            resolve(outcome);
          },
          reject(error) {
            if (pending.settled) return;
            pending.settled = true;
            deadline?.cancel();
            leaveWaiting(pending);
            reject(error);
          },
        };
        if (options.timeoutMs > 0) {
          deadline = deadlineAfter(options.timeoutMs, () => {
            pending.reject(
              new DatabaseTimeoutError(`not committed within ${options.timeoutMs} ms`),
            );
          });
        }
        if (waiting === 0) busySince = now();
        waiting += 1;
        target.queue.push(pending);
        sweeping ??= setTimeout(sweep, targetMs);
        // Defer to the end of this turn so items that arrived together share a batch.
        if (!target.scheduled && !target.ready) {
          target.scheduled = true;
          queueMicrotask(() => drain(target));
        }
      });
    },
    stats: () => ({ waiting, calls, shed, overloaded: standing() }),
  };
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
