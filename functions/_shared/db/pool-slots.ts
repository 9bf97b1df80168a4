/**
 * A pool's connections as slots counted in our own code, for `gatehouse_db_pool_wait_seconds`
 * and `gatehouse_db_pool_saturation_ratio`. postgres.js queues a call that finds every
 * connection busy but tells its caller nothing about that wait (its diagnostics channels are
 * process-wide and do not say which pool a query belongs to), so the pool counts its calls
 * itself, without holding any of them back:
 *
 * - each call to the pool (a statement, script, batch or transaction; not the statements
 *   inside a transaction, which run on its connection) takes one of the pool's `max` slots
 *   when it starts, if one is free, and gives it back when the driver has settled it (past a
 *   client deadline too: the connection is busy until the server answers);
 * - a call that finds every slot taken waits, in arrival order, for the next slot given
 *   back; its wait is the time from the call to that moment (0 when a slot was free).
 *
 * This is exactly how a transaction waits for its connection. A plain statement may instead
 * be pipelined by postgres.js onto a busy connection, where it waits behind the statement
 * ahead of it; counted here, it waits for the first slot given back, and one that settles
 * before a slot comes to it counts as having waited until it settled. Either way a wait above
 * 0 means every connection was busy with earlier calls when it was made.
 */
import type { GatehouseMetrics } from '../metrics/catalog.ts';

/** The recorders a named pool records into (the process's metrics satisfy it). */
export type PoolMetrics = Pick<GatehouseMetrics, 'poolWait' | 'poolSaturation'>;

export interface PoolSlotsOptions {
  /** Connections the pool may open. */
  readonly max: number;
  /** Milliseconds, for measuring waits (`performance.now` by default). */
  readonly now?: () => number;
  /**
   * Called once per call when it gets a slot (or settles still waiting), with how long it
   * waited in ms and the slots then taken.
   */
  readonly onSlot?: (waitedMs: number, busy: number) => void;
}

export interface PoolSlots {
  /** Counts a call in; the function it returns counts it out (calling it again does nothing). */
  enter(): () => void;
  /** Slots taken now (at most `max`). */
  busy(): number;
  /** Calls waiting for a slot now. */
  waiting(): number;
}

interface Waiter {
  readonly at: number;
  /** Holds a slot. */
  holding: boolean;
  /** Settled: gives nothing back any more, and is skipped while waiting. */
  done: boolean;
}

/**
 * Counts a pool's calls against its `max` connections (see the file's comment for what the
 * wait means).
 *
 * @example
 * const slots = createPoolSlots({ max: 10, onSlot: (ms, busy) => record(ms, busy / 10) });
 * const leave = slots.enter();
 * work.then(leave, leave);
 */
export function createPoolSlots(options: PoolSlotsOptions): PoolSlots {
  const max = Math.max(1, options.max);
  const now = options.now ?? (() => performance.now());
  const onSlot = options.onSlot;
  let taken = 0;
  let waiting = 0;
  // Waiters in arrival order; `head` is the first not yet served (the array is compacted
  // when the served prefix dominates, so a busy pool's queue stays small).
  let queue: Waiter[] = [];
  let head = 0;

  const hold = (waiter: Waiter, waitedMs: number) => {
    waiter.holding = true;
    taken += 1;
    onSlot?.(waitedMs, taken);
  };

  /** Hands a free slot to the longest-waiting call still waiting. */
  const serveNext = () => {
    while (head < queue.length && taken < max) {
      const waiter = queue[head]!;
      head += 1;
      if (waiter.done) continue;
      waiting -= 1;
      hold(waiter, now() - waiter.at);
    }
    if (head === queue.length) {
      queue = [];
      head = 0;
    } else if (head > 64 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
  };

  const leave = (waiter: Waiter) => {
    if (waiter.done) return;
    waiter.done = true;
    if (waiter.holding) {
      taken -= 1;
      serveNext();
      return;
    }
    // Settled before a slot came to it (pipelined behind a busy connection's statement).
    waiting -= 1;
    onSlot?.(now() - waiter.at, taken);
  };

  return {
    enter() {
      const waiter: Waiter = { at: now(), holding: false, done: false };
      if (taken < max && waiting === 0) {
        hold(waiter, 0);
      } else {
        waiting += 1;
        queue.push(waiter);
      }
      return () => leave(waiter);
    },
    busy: () => taken,
    waiting: () => waiting,
  };
}

/**
 * A named pool's slots, recording each call's wait in `poolWait{pool}` and, when it gets
 * its slot, the share of slots taken in `poolSaturation{pool}` (the highest since the last
 * flush); null for a pool with no name or no metrics, whose calls are then not counted.
 *
 * @example
 * const slots = recordedPoolSlots(10, 'requests', runtime.metrics.record);
 */
export function recordedPoolSlots(
  max: number,
  name: string | undefined,
  metrics: PoolMetrics | undefined,
): PoolSlots | null {
  // Nothing records them: no slot is counted at all.
  if (!metrics || name === undefined) return null;
  const labels = { pool: name };
  return createPoolSlots({
    max,
    onSlot(waitedMs, busy) {
      metrics.poolWait.observe(labels, waitedMs / 1000);
      metrics.poolSaturation.setMax(labels, busy / max);
    },
  });
}
