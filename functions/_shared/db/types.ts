/**
 * The small database interface every Gatehouse module uses. It is deliberately narrow —
 * parameterised queries, multi-statement scripts and transactions — so a caller can hand
 * its own transaction to another module (enqueue a job inside the caller's transaction:
 * the transactional outbox) and so tests run the same code on Postgres and PGlite.
 */
export type Row = Record<string, unknown>;

/** Parameter types a statement can declare (see {@link typed}). */
export type ParamType =
  | 'text'
  | 'jsonb'
  | 'int4'
  | 'int8'
  | 'bool'
  | 'timestamptz'
  | 'uuid'
  | 'text[]'
  | 'int8[]';

/** A parameter sent with its type; make one with {@link typed}. */
export class TypedParam {
  constructor(readonly value: unknown, readonly type: ParamType) {}
}

/**
 * A parameter with its type declared. The driver otherwise sends a statement's text first,
 * waits for Postgres to describe its parameters and only then sends their values (two round
 * trips, with named statements only the first time); when every parameter of a statement is
 * typed, statement and values go out together. `jsonb` takes the JavaScript value itself
 * (sent as its JSON text); null stays SQL null.
 *
 * @example
 * await db.query('select * from ingest_events($1, $2)', [typed('whatsapp', 'text'), typed(events, 'jsonb')]);
 */
export function typed(value: unknown, type: ParamType): TypedParam {
  return new TypedParam(value, type);
}

/**
 * A FROM item that makes the statement's transaction commit without waiting for its WAL
 * flush (`select ... from f(...) x, ${ASYNC_COMMIT}`): for writes whose loss in a Postgres
 * crash only repeats work (a rate-limit take, a webhook attempt's record), which spares each
 * one a disk flush and releases its row locks sooner.
 */
export const ASYNC_COMMIT = `set_config('synchronous_commit', 'off', true)`;

/** Per-call settings. */
export interface QueryOptions {
  /**
   * Deadline in ms for this call instead of the pool's: past it the call rejects with
   * {@link DatabaseTimeoutError}. 0 waits as long as it takes (migrations, operator tools).
   */
  readonly timeoutMs?: number;
}

export interface Queryable {
  /** Runs one statement with `$1..$n` parameters and returns its rows. */
  query<T extends Row = Row>(
    text: string,
    values?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<T[]>;
  /**
   * Runs a script of one or more statements without parameters (simple query protocol),
   * e.g. a migration file. Never build `text` from untrusted values.
   */
  exec(text: string): Promise<void>;
}

export interface Transaction extends Queryable {
  /** Runs `fn` inside a savepoint; a throw rolls back only the savepoint. */
  savepoint<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

/** What a pool is doing now: enough to tell a saturated pool from an unreachable server. */
export interface PoolStats {
  /** Connections the pool may open. */
  readonly max: number;
  /** Statements and transactions started and not yet settled. */
  readonly active: number;
  /** Transactions open (each holds a connection to itself). */
  readonly transactions: number;
  /** Milliseconds the oldest unsettled statement or transaction has been running; 0 if none. */
  readonly oldestMs: number;
  /** Calls that missed their deadline since the pool opened. */
  readonly timeouts: number;
  /** Milliseconds since the last missed deadline; null if none. */
  readonly lastTimeoutAgoMs: number | null;
}

/** One parameterised statement, for {@link Db.batch}. */
export interface Statement {
  readonly text: string;
  readonly values?: readonly unknown[];
}

export interface Db extends Queryable {
  /**
   * Runs `statements` in order in one transaction whose messages go out together (the
   * statements and one Sync, which makes them one implicit transaction: one round trip when
   * every parameter is {@link typed} or the statements are prepared) and returns each
   * statement's rows. The first failure rolls
   * all of them back and is thrown.
   */
  batch(statements: readonly Statement[], options?: QueryOptions): Promise<Row[][]>;
  /** Runs `fn` in one transaction on one connection: commit on return, rollback on throw. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: QueryOptions): Promise<T>;
  /**
   * A connection of its own, outside the pool, each statement bounded by `timeoutMs`: for
   * health probes, which must tell an unreachable server from a busy pool. Opened on first
   * use and replaced after any failure.
   */
  probe(timeoutMs: number): Queryable;
  /** The pool's current load. */
  stats(): PoolStats;
  /** Closes the pool, waiting up to `timeoutSeconds` for running queries. */
  close(timeoutSeconds?: number): Promise<void>;
  /** What this handle points at, for logs and health output; never includes a password. */
  readonly description: string;
}

/**
 * Why the database could not serve a call: `unreachable` (no connection: refused, reset,
 * shutting down), `timeout` (no answer within the deadline, or the server cancelled the
 * statement on its `statement_timeout` / `lock_timeout`), `conflict` (a deadlock or
 * serialization failure: safe to retry), `overloaded` (more work waiting for it than it
 * keeps up with: shed before it was sent).
 */
export type UnavailableReason = 'unreachable' | 'timeout' | 'conflict' | 'overloaded';

/**
 * Thrown for a database that cannot serve the call now; callers map it to 503 with
 * `Retry-After`. The work may be retried as it is: nothing about the input is wrong.
 */
export class DatabaseUnavailableError extends Error {
  override readonly name: string = 'DatabaseUnavailableError';
  readonly reason: UnavailableReason;
  constructor(
    message: string,
    options?: { cause?: unknown; reason?: UnavailableReason },
  ) {
    super(message, options);
    this.reason = options?.reason ?? 'unreachable';
  }
}

/** The database did not answer within the deadline (client-side or its own timeouts). */
export class DatabaseTimeoutError extends DatabaseUnavailableError {
  override readonly name = 'DatabaseTimeoutError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, reason: 'timeout' });
  }
}
