/**
 * A guard written for a postgres.js 3.x fault (porsager/postgres#1154, #1208; still in
 * 3.4.10; postgres.js 4 no longer shows it, see tests/driver-fault.test.ts), kept as the net
 * for a connection left unable to start: a message under 1 KiB is written from a `setImmediate`, and when
 * the connection closes before that callback runs (a backend killed, Postgres restarting,
 * a transaction's own ROLLBACK after its connection died), `closed()` has set the socket to
 * null and the callback throws `Cannot read properties of null (reading 'write')` outside
 * any promise: an uncaught exception, which ends the process. The entry points catch it
 * (runtime/crash-guard.ts), but the connection is left broken: its unsent bytes stay
 * buffered and its write timer stays set, so its next StartupMessage is never sent and
 * every later use of that slot waits for `connect_timeout` (seen: CONNECT_TIMEOUT, again
 * and again). The same state follows when the close cancels the timer first.
 *
 * So the guard replaces a pool whose slot may be broken: when the process reports the
 * fault ({@link recoverFromDriverFault}) and when a statement fails with CONNECT_TIMEOUT.
 * The old pool finishes what it is running and is ended; new work goes to the new one.
 */
import type postgres from 'postgres';
import { DatabaseUnavailableError } from './types.ts';

export interface DriverGuardOptions {
  /** Opens a fresh postgres.js pool with the same settings. */
  readonly open: () => postgres.Sql;
  /** For log lines: the database, without a password. */
  readonly describe: string;
}

export interface DriverGuard {
  /** The pool to use now. */
  current(): postgres.Sql;
  /** Resolves as `work` does; a CONNECT_TIMEOUT failure replaces the pool. */
  watch<T>(work: Promise<T>): Promise<T>;
  /**
   * Replaces the pool now. A suspicion (a connect timeout) replaces it at most once a
   * second, so a server that does not answer is not churned; a seen fault (`certain`)
   * always does. Returns whether it did.
   */
  replace(certain?: boolean): boolean;
  /** How many times the pool was replaced. */
  readonly replacements: number;
  close(timeoutSeconds: number): Promise<void>;
}

/** A pool is replaced at most this often, so a server that does not answer is not churned. */
const MIN_REPLACE_INTERVAL_MS = 1_000;
/** Seconds the replaced pool gets to finish the statements it is running. */
const DRAIN_SECONDS = 2;

const live = new Set<DriverGuard>();

/** True for the postgres.js closed-socket fault (an uncaught TypeError from its writer). */
export function isDriverFault(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false;
  const stack = error.stack ?? '';
  return /reading 'write'|evaluating 'socket\.write'/.test(error.message) &&
    /postgres[\\/]src[\\/]connection\.js/.test(stack);
}

/**
 * Called by the process's crash guard with an uncaught error: when it is the postgres.js
 * closed-socket fault, every open pool is replaced (the fault does not say which one broke)
 * and true is returned; otherwise nothing happens.
 */
export function recoverFromDriverFault(error: unknown): boolean {
  if (!isDriverFault(error)) return false;
  for (const guard of live) guard.replace(true);
  return true;
}

/**
 * Keeps one postgres.js pool current and replaces it when it may hold a broken connection.
 *
 * @example
 * const guard = createDriverGuard({ open: () => postgres(url, settings), describe });
 * const rows = await guard.watch(guard.current().unsafe('select 1'));
 */
export function createDriverGuard(options: DriverGuardOptions): DriverGuard {
  let sql: postgres.Sql | null = null;
  let replacedAt = -Infinity;
  let closed = false;
  const retired = new Set<Promise<void>>();

  const guard: DriverGuard = {
    replacements: 0,
    current() {
      if (closed) throw new DatabaseUnavailableError(`the pool for ${options.describe} is closed`);
      sql ??= options.open();
      return sql;
    },
    watch(work) {
      return work.catch((error) => {
        if (connectTimedOut(error)) guard.replace();
        throw error;
      });
    },
    replace(certain = false) {
      const now = performance.now();
      if (closed || sql === null) return false;
      if (!certain && now - replacedAt < MIN_REPLACE_INTERVAL_MS) return false;
      replacedAt = now;
      const old = sql;
      sql = options.open();
      (guard as { replacements: number }).replacements += 1;
      const ending = old.end({ timeout: DRAIN_SECONDS }).catch(() => {}).finally(() =>
        retired.delete(ending)
      );
      retired.add(ending);
      return true;
    },
    async close(timeoutSeconds) {
      closed = true;
      live.delete(guard);
      const current = sql;
      sql = null;
      await Promise.all([current?.end({ timeout: timeoutSeconds }), ...retired]);
    },
  };
  live.add(guard);
  return guard;
}

function connectTimedOut(error: unknown): boolean {
  const cause = (error as { cause?: unknown } | null)?.cause ?? error;
  return (cause as { code?: unknown } | null)?.code === 'CONNECT_TIMEOUT' ||
    (error as { code?: unknown } | null)?.code === 'CONNECT_TIMEOUT';
}
