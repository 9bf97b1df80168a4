import type { Db, Transaction } from '../db/types.ts';
import { type Deferred, deferred } from './deferred.ts';

/** A job's transaction, opened on the handler's first statement through `tx`. */
export interface LazyTransaction {
  /** What the handler sees as `ctx.tx`. */
  readonly tx: Transaction;
  /** Whether the handler touched `tx` (a transaction was asked for). */
  readonly used: boolean;
  /**
   * Runs `step` in the transaction and commits, sending the COMMIT right behind the step's
   * statements without waiting for their answers (one round trip for both): a statement of
   * the step that fails aborts the transaction, so the COMMIT rolls back. Resolves to the
   * step's result; rejects with the step's error if it failed, else as BEGIN or the commit
   * did. Only for a used transaction, and for a step that sends its statements at once
   * (before its first `await`).
   */
  commit<T>(step: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Rolls the transaction back, if one was opened, and closes it. Never rejects. */
  discard(reason: unknown): Promise<void>;
  /**
   * Closes it (a used one is rolled back, unawaited): a statement the handler sends later
   * (it outlived its job) is refused instead of opening a transaction nobody would end.
   */
  close(): void;
}

/** Why a statement sent through `ctx.tx` after the job ended is refused. */
export class JobTransactionClosedError extends Error {
  override readonly name = 'JobTransactionClosedError';
  constructor() {
    super('the job has ended: its transaction is closed');
  }
}

const ignore = () => {};

/**
 * Wraps `db` so that a job handler's statements share one transaction, begun on the first
 * of them; a handler that never touches `tx` costs no transaction at all. The worker then
 * commits it with the job's completion, or discards it. `onFailure` hears of a
 * transaction that dies (BEGIN failed, its connection was cut) before it was ended, so
 * the worker can stop the handler.
 *
 * Every promise made here is returned to a caller or given a handler on the spot, so a
 * database that goes away never leaves a rejection that nobody reads.
 *
 * @example
 * const lazy = lazyTransaction(db, (error) => controller.abort(error));
 * await handler(payload, { ...ctx, tx: lazy.tx });
 * if (!lazy.used) lazy.close();
 * else await lazy.commit(async (tx) => { await completeJob(tx, job.id, workerId); });
 */
export function lazyTransaction(
  db: Db,
  onFailure: (error: unknown) => void,
): LazyTransaction {
  let ready: Promise<Transaction> | null = null;
  let settled: Promise<unknown> = Promise.resolve();
  /** What the open transaction runs last: the completion, or a rejection that rolls it back. */
  let last: Deferred<(tx: Transaction) => Promise<void>> | null = null;
  let closed = false;

  const open = (): Promise<Transaction> => {
    if (ready !== null) return ready;
    if (closed) return Promise.reject(new JobTransactionClosedError());
    const opened = deferred<Transaction>();
    // Its readers are the handler's statements, and a handler may stop listening (it
    // returned, or lost the race against its timeout) before BEGIN fails.
    opened.promise.catch(ignore);
    const step = deferred<(tx: Transaction) => Promise<void>>();
    // Read only by a transaction that began. When BEGIN failed nothing reads it, and the
    // rejection `discard` gives it would be unhandled (it ended the process under Deno).
    step.promise.catch(ignore);
    last = step;
    try {
      settled = db.transaction(async (tx) => {
        opened.resolve(tx);
        await (await step.promise)(tx);
      });
    } catch (error) {
      settled = Promise.reject(error);
    }
    settled.catch((error) => {
      opened.reject(error);
      if (!closed) onFailure(error);
    });
    ready = opened.promise;
    return ready;
  };

  return {
    tx: {
      // Per-call options (if any) are passed on as given.
      query: async (text, values, ...options) => (await open()).query(text, values, ...options),
      exec: async (text) => (await open()).exec(text),
      savepoint: async (fn) => (await open()).savepoint(fn),
    },
    get used() {
      return ready !== null;
    },
    async commit<T>(step: (tx: Transaction) => Promise<T>): Promise<T> {
      closed = true;
      let sent: Promise<T> | null = null;
      last?.resolve((tx) => {
        sent = step(tx);
        // Read below, whatever the commit does.
        sent.catch(ignore);
        return Promise.resolve();
      });
      try {
        await settled;
      } catch (error) {
        // The step's own failure says why the commit rolled back (e.g. a lost lease).
        if (sent !== null) await sent;
        throw error;
      }
      return await sent!;
    },
    async discard(reason) {
      closed = true;
      last?.reject(reason);
      await settled.catch(ignore);
    },
    close() {
      closed = true;
      last?.reject(new JobTransactionClosedError());
    },
  };
}
