/**
 * The small database interface every Gatehouse module uses. It is deliberately narrow —
 * parameterised queries, multi-statement scripts and transactions — so a caller can hand
 * its own transaction to another module (enqueue a job inside the caller's transaction:
 * the transactional outbox) and so tests run the same code on Postgres and PGlite.
 */
export type Row = Record<string, unknown>;

export interface Queryable {
  /** Runs one statement with `$1..$n` parameters and returns its rows. */
  query<T extends Row = Row>(text: string, values?: readonly unknown[]): Promise<T[]>;
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

export interface Db extends Queryable {
  /** Runs `fn` in one transaction on one connection: commit on return, rollback on throw. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Closes the pool, waiting up to `timeoutSeconds` for running queries. */
  close(timeoutSeconds?: number): Promise<void>;
  /** What this handle points at, for logs and health output; never includes a password. */
  readonly description: string;
}

/** Thrown for a database that cannot be reached; callers map it to 503. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
