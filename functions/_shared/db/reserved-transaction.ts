import type postgres from 'postgres';
import { DatabaseTimeoutError, type QueryOptions, type Row, type Transaction } from './types.ts';
import { type Deadline, deadlineAfter } from '../timers.ts';

/**
 * How the pool runs a transaction's statement: with its deadline, its accounting and its
 * errors translated, as for any statement of the pool (`what` names it in a timeout).
 */
export type StatementRunner = <T>(
  work: () => PromiseLike<T>,
  call: QueryOptions | undefined,
  what: string,
) => Promise<T>;

/** Why a statement sent after its transaction ended was refused. */
export class TransactionEndedError extends Error {
  override readonly name = 'TransactionEndedError';
  constructor() {
    super('the transaction has ended: a statement sent after it would run on its own');
  }
}

/** The server answered COMMIT with ROLLBACK: something in the transaction had failed. */
export class TransactionRolledBackError extends Error {
  override readonly name = 'TransactionRolledBackError';
  constructor() {
    super('the server rolled back the transaction instead of committing it');
  }
}

/**
 * A connection of the pool's reserved for a transaction, or {@link DatabaseTimeoutError}
 * after `timeoutMs` (0: no deadline); one granted after that is handed back at once.
 */
export async function reserveWithin(
  pool: postgres.Sql,
  timeoutMs: number,
): Promise<postgres.ReservedSql> {
  const reserving = pool.reserve();
  if (!(timeoutMs > 0)) return await reserving;
  let deadline: Deadline | undefined;
  const late = new Promise<never>((_, reject) => {
    deadline = deadlineAfter(timeoutMs, () => {
      reject(
        new DatabaseTimeoutError(`no database connection for a transaction within ${timeoutMs} ms`),
      );
    });
  });
  try {
    return await Promise.race([reserving, late]);
  } catch (error) {
    reserving.cancel().catch(() => {});
    reserving.then((sql) => sql.release(), () => {});
    throw error;
  } finally {
    deadline?.cancel();
  }
}

const ignore = () => {};
const IN_FAILED_TRANSACTION = '25P02';

/**
 * Runs `fn` in one transaction on the reserved connection `sql`, and ends it: COMMIT when
 * `fn` returns, ROLLBACK when it throws or when one of its statements failed. BEGIN is not
 * sent on its own: it goes out with the transaction's first statement, the two under one
 * Sync (postgres.js `sql.batch`), so they take one round trip instead of two, and a BEGIN
 * that failed would make Postgres skip the statement rather than run it outside a
 * transaction. A transaction that sends no statement sends nothing at all. COMMIT goes out
 * as soon as `fn` returns, behind any statement still on its way (one round trip for
 * both). `sql` is not released here.
 *
 * A statement that fails and is caught inside `fn` still rolls the whole transaction back
 * (Postgres refuses every later statement of it), and that failure is what this throws,
 * not the "current transaction is aborted" of the statements after it; inside a savepoint
 * it only rolls back to the savepoint. A statement sent after the transaction ended is
 * refused ({@link TransactionEndedError}).
 */
export async function runReservedTransaction<T>(
  sql: postgres.ReservedSql,
  fn: (tx: Transaction) => Promise<T>,
  run: StatementRunner,
  wire: (sql: postgres.ReservedSql, values: readonly unknown[]) => unknown[],
): Promise<T> {
  let begun = false;
  let ended = false;
  let savepoints = 0;
  /** The first failed statement of each open scope: the transaction, then its savepoints. */
  const failures: { error: unknown }[][] = [[]];

  /** Sends `query`, with BEGIN ahead of it in the same flight if it is the first. */
  const send = (query: postgres.PendingQuery<Row[]>): PromiseLike<Row[]> => {
    if (!begun) {
      begun = true;
      // Executes both; `query` settles with its own answer (or as skipped, if BEGIN failed).
      sql.batch([sql.unsafe('begin', [], { simple: false }), query]).catch(ignore);
    }
    return query;
  };
  /** Records a statement's failure against the scope that sent it. */
  const noting = <R>(work: PromiseLike<R>): PromiseLike<R> => {
    const scope = failures[failures.length - 1]!;
    return work.then(undefined, (error) => {
      if (scope.length === 0) scope.push({ error });
      throw error;
    });
  };

  const statement = (text: string, values: readonly unknown[], call?: QueryOptions) => {
    if (ended) return Promise.reject(new TransactionEndedError());
    return run(
      () => noting(send(sql.unsafe(text, wire(sql, values) as never[], { prepare: true }))),
      call,
      'a database statement',
    );
  };

  /** The failure to report: a statement's own, rather than the refusals that followed it. */
  const cause = (error: unknown, scope: { error: unknown }[]) => {
    const first = scope[0]?.error;
    const code = error as { cause?: { code?: string }; code?: string } | null;
    const refused = code?.code === IN_FAILED_TRANSACTION ||
      code?.cause?.code === IN_FAILED_TRANSACTION;
    return first !== undefined && (refused || error === undefined) ? first : error;
  };

  const tx: Transaction = {
    query:
      ((text: string, values: readonly unknown[] = [], call?: QueryOptions) =>
        statement(text, values, call)) as Transaction['query'],
    async exec(text: string) {
      if (ended) throw new TransactionEndedError();
      // A script runs on the simple protocol, which cannot share BEGIN's Sync.
      if (!begun) {
        begun = true;
        await run(() => sql.unsafe('begin').simple(), { timeoutMs: 0 }, 'BEGIN');
      }
      await run(() => noting(sql.unsafe(text).simple()), { timeoutMs: 0 }, 'a database script');
    },
    async savepoint<R>(inner: (tx: Transaction) => Promise<R>): Promise<R> {
      const name = `gatehouse_savepoint_${++savepoints}`;
      await statement(`savepoint ${name}`, []);
      const scope: { error: unknown }[] = [];
      failures.push(scope);
      let result: R;
      try {
        result = await inner(tx);
        if (scope.length > 0) throw scope[0]!.error;
      } catch (error) {
        failures.pop();
        await statement(`rollback to savepoint ${name}`, []);
        throw cause(error, scope);
      }
      failures.pop();
      await statement(`release savepoint ${name}`, []);
      return result;
    },
  };

  let result: T;
  try {
    result = await fn(tx);
  } catch (error) {
    ended = true;
    if (begun) await sql.unsafe('rollback').catch(ignore);
    throw cause(error, failures[0]!);
  }
  ended = true;
  if (!begun) return result;
  let command: string | undefined;
  try {
    command = (await run(() => sql.unsafe('commit'), { timeoutMs: 0 }, 'COMMIT')).command;
  } catch (error) {
    throw cause(error, failures[0]!);
  }
  if (command !== 'COMMIT') {
    throw failures[0]![0]?.error ?? new TransactionRolledBackError();
  }
  return result;
}
