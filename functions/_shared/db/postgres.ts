import postgres from 'postgres';
import {
  DatabaseTimeoutError,
  type Db,
  type ParamType,
  type PoolStats,
  type Queryable,
  type QueryOptions,
  type Row,
  type Statement,
  type Transaction,
  TypedParam,
} from './types.ts';
import { describeDatabaseUrl, translateError } from './errors.ts';
import { createDriverGuard } from './driver-guard.ts';
import { type PoolMetrics, recordedPoolSlots } from './pool-slots.ts';
import { deadlineAfter } from '../timers.ts';

export { describeDatabaseUrl, isUnavailableError } from './errors.ts';
export { isDriverFault, recoverFromDriverFault } from './driver-guard.ts';

export interface PostgresDbOptions {
  /** Connection string, e.g. `postgres://user:pass@host:5432/db`. */
  url: string;
  /** Pool size. The embedded PGlite serves one connection at a time, so it uses 1. */
  max?: number;
  /**
   * Named prepared statements. Supabase's transaction-mode pooler (port 6543) cannot keep
   * them across transactions, so the default is off.
   */
  prepare?: boolean;
  /** Seconds to wait for a connection to open before failing it. */
  connectTimeoutSeconds?: number;
  /** Seconds an idle connection is kept. */
  idleTimeoutSeconds?: number;
  /** Application name shown in `pg_stat_activity`. */
  applicationName?: string;
  /**
   * Client-side deadline in ms for every statement, and for a transaction to get its
   * connection: past it the call rejects with {@link DatabaseTimeoutError} (503 upstream)
   * instead of waiting on a stuck server or a full pool. Per-call `timeoutMs` overrides it;
   * 0 or absent means none.
   */
  timeoutMs?: number;
  /**
   * Server-side bounds, sent as startup parameters of every connection: the server
   * cancels a statement running longer (`statement_timeout`), a lock wait
   * (`lock_timeout`), and ends a session idle inside a transaction
   * (`idle_in_transaction_session_timeout`). They act even when this process is gone.
   * 0 or absent sends nothing (the server's or the role's setting applies): a pooler that
   * refuses unknown startup parameters (PgBouncer without `ignore_startup_parameters`)
   * needs that.
   */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
  /** The pool's name in metrics (`requests`, `jobs`); with `metrics`, its calls are recorded. */
  name?: string;
  /**
   * Where each call's wait for a connection (`poolWait`) and the pool's busiest share since
   * the last flush (`poolSaturation`) are recorded, as counted by pool-slots.ts.
   */
  metrics?: PoolMetrics;
}

export type { PoolMetrics } from './pool-slots.ts';

/**
 * Longest pause between reconnect attempts while the server is away. postgres.js grows its
 * own backoff to 20 s (`3 ** retries / 100` seconds), so intake answered 503 for up to
 * 20 s after Postgres was back; capped, the first request after the server returns
 * connects within this.
 */
export const MAX_RECONNECT_DELAY_MS = 500;

/** Seconds for a new connection's TCP, TLS and authentication exchange. */
const DEFAULT_CONNECT_TIMEOUT_SECONDS = 3;

/** Reconnect delay in seconds after `retries` failed attempts: 25 ms doubling, capped, jittered. */
export function reconnectDelaySeconds(retries: number, random: () => number = Math.random): number {
  const ceiling = Math.min(0.025 * 2 ** retries, MAX_RECONNECT_DELAY_MS / 1000);
  return ceiling * (0.5 + random() / 2);
}

type Sql = postgres.Sql;
type TxSql = postgres.TransactionSql;

/** Postgres type oids of the parameter types callers may declare. */
const PARAM_OIDS: Record<ParamType, number> = {
  text: 25,
  jsonb: 3802,
  int4: 23,
  int8: 20,
  bool: 16,
  timestamptz: 1184,
  uuid: 2950,
  'text[]': 1009,
  'int8[]': 1016,
};

/** The values as postgres.js takes them: declared types become its typed parameters. */
// deno-lint-ignore no-explicit-any
function wireValues(sql: Sql | TxSql, values: readonly unknown[]): any[] {
  return values.map((value) =>
    value instanceof TypedParam ? sql.typed(value.value as never, PARAM_OIDS[value.type]) : value
  );
}

function startupParameters(options: PostgresDbOptions): Record<string, string> {
  const parameters: Record<string, string> = {
    application_name: options.applicationName ?? 'gatehouse',
  };
  const bounds = {
    statement_timeout: options.statementTimeoutMs,
    lock_timeout: options.lockTimeoutMs,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
  };
  for (const [name, ms] of Object.entries(bounds)) {
    if (ms !== undefined && ms > 0) parameters[name] = `${Math.round(ms)}ms`;
  }
  return parameters;
}

/**
 * A batch's answers as arrays of their own, the driver's emptied. The closures postgres.js
 * 4.2 stores on a batch's queries make V8 promote the batch's objects at every young
 * collection (about 3.4 MB and 6-8 ms a scavenge on the user API's read, against 0.3 MB and
 * 2 ms for single statements) until a full collection frees them. Rows copied out, with the
 * driver's arrays emptied, die young: 1.4 MB and 4-5 ms (docs/benchmarks.md).
 */
function ownRows(results: readonly Row[][]): Row[][] {
  return results.map((result) => {
    const rows = Array.from(result);
    result.length = 0;
    return rows;
  });
}

/**
 * Settles with `work`, or rejects with {@link DatabaseTimeoutError} after `timeoutMs`
 * (0: no deadline). The statement is not cancelled from here: a CancelRequest needs a new
 * connection, and postgres.js drops the promise of a failed one (an unhandled rejection
 * while the server is away). The server's own `statement_timeout` ends it instead.
 */
function withDeadline<T>(work: PromiseLike<T>, timeoutMs: number, what: string): Promise<T> {
  if (!(timeoutMs > 0)) {
    return Promise.resolve(work).catch((error) => {
      throw translateError(error);
    });
  }
  return new Promise<T>((resolve, reject) => {
    const deadline = deadlineAfter(
      timeoutMs,
      () => reject(new DatabaseTimeoutError(`${what} took longer than ${timeoutMs} ms`)),
    );
    work.then(
      (value) => {
        deadline.cancel();
        resolve(value);
      },
      (error) => {
        deadline.cancel();
        reject(translateError(error));
      },
    );
  });
}

/**
 * Opens a postgres.js pool behind the {@link Db} interface, with deadlines, capped
 * reconnects and a guard against the driver's closed-socket fault (see driver-guard.ts).
 *
 * @example
 * const db = createPostgresDb({ url: config.databaseUrl, max: 10, timeoutMs: 3_000 });
 * const [row] = await db.query<{ now: Date }>('select now() as now');
 * await db.transaction(async (tx) => {
 *   await tx.query('insert into audit_logs (action) values ($1)', ['replay']);
 * });
 */
export function createPostgresDb(options: PostgresDbOptions): Db {
  const max = options.max ?? 10;
  const defaultTimeoutMs = options.timeoutMs ?? 0;
  const connectTimeout = options.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS;
  const settings: postgres.Options<Record<string, never>> = {
    max,
    prepare: options.prepare ?? false,
    connect_timeout: connectTimeout,
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    backoff: (retries: number) => reconnectDelaySeconds(retries),
    connection: startupParameters(options),
    onnotice: () => {},
    // The database's array types and domains are read when the pool starts, as postgres.js
    // 3 did, not when a query first meets one: that read needs a second connection while
    // the first waits, which a pool of one (the embedded database) never gets.
    eager_types: true,
  };
  const open = (): Sql => postgres(options.url, settings);
  const guard = createDriverGuard({ open, describe: describeDatabaseUrl(options.url) });
  let probeSql: Sql | null = null;

  const running = new Set<{ readonly started: number }>();
  let transactions = 0;
  let timeouts = 0;
  let lastTimeoutAt: number | null = null;
  const track = <T>(work: () => Promise<T>): Promise<T> => {
    const entry = { started: performance.now() };
    running.add(entry);
    let settled: Promise<T>;
    try {
      settled = work();
    } catch (error) {
      settled = Promise.reject(error); // e.g. the pool was closed: still a rejection
    }
    return settled.then(
      (value) => {
        running.delete(entry);
        return value;
      },
      (error) => {
        running.delete(entry);
        if (error instanceof DatabaseTimeoutError) {
          timeouts += 1;
          lastTimeoutAt = performance.now();
        }
        throw error;
      },
    );
  };
  const timeoutOf = (call?: QueryOptions) => call?.timeoutMs ?? defaultTimeoutMs;
  const slots = recordedPoolSlots(max, options.name, options.metrics);
  /**
   * Starts the driver's work for a call to the pool holding one of its slots until that
   * work settles (past the caller's deadline too: the connection is busy until then).
   */
  const inSlot = <T>(start: () => PromiseLike<T>): PromiseLike<T> => {
    if (!slots) return start();
    const leave = slots.enter();
    let work: PromiseLike<T>;
    try {
      work = start();
    } catch (error) {
      leave();
      throw error;
    }
    work.then(leave, leave);
    return work;
  };

  /** Statements of the pool (`slotted`, each holding a slot) or of one transaction. */
  const queryable = (current: () => Sql | TxSql, slotted: boolean) => ({
    query<T extends Row = Row>(text: string, values: readonly unknown[] = [], call?: QueryOptions) {
      // `prepare: true` asks for a named statement; the pool's own `prepare` option (off
      // unless GATEHOUSE_DB_PREPARE) still decides. postgres.js never prepares `unsafe`
      // queries unless asked, so without this the setting did nothing.
      const run = () => {
        const sql = current();
        return sql.unsafe(text, wireValues(sql, values), { prepare: true });
      };
      const work = slotted ? () => inSlot(run) : run;
      return track(() =>
        guard.watch(withDeadline(work(), timeoutOf(call), 'a database statement'))
      ) as unknown as Promise<T[]>;
    },
    exec(text: string) {
      const run = () => current().unsafe(text).simple();
      const work = slotted ? () => inSlot(run) : run;
      return track(() => guard.watch(withDeadline(work(), 0, 'a database script'))).then(() =>
        undefined
      );
    },
  });

  const transaction = (sql: TxSql): Transaction => ({
    ...queryable(() => sql, false),
    savepoint<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      return sql.savepoint((inner) => fn(transaction(inner))) as Promise<T>;
    },
  });

  return {
    ...queryable(() => guard.current(), true),
    description: describeDatabaseUrl(options.url),
    /**
     * One implicit transaction sent in one flight: the statements, then a single Sync
     * (postgres.js `sql.batch`). Postgres runs them in order and commits them together at
     * the Sync, so settings made with `set_config(..., true)` hold for the statements after
     * them; after a failure it skips the rest and rolls back, and the call rejects with the
     * first failure. No BEGIN or COMMIT and no reserved connection: one round trip when every
     * parameter is typed (or the statements are prepared). The deadline covers waiting for a
     * connection and running; the batch counts as a transaction in `stats()` until the server
     * has answered, past the deadline too, so a pool full of abandoned batches shows as
     * saturated. The rows come in arrays of their own (see {@link ownRows}).
     */
    batch(statements: readonly Statement[], call?: QueryOptions): Promise<Row[][]> {
      return track(() => {
        const sql = guard.current();
        const parts = statements.map((statement) =>
          sql.unsafe(statement.text, wireValues(sql, statement.values ?? []), { prepare: true })
        );
        const work = inSlot(() => sql.batch(parts));
        transactions += 1;
        const settled = Promise.resolve(work).finally(() => (transactions -= 1)).then((
          results,
        ) => ownRows(results as Row[][]));
        return guard.watch(withDeadline(settled, timeoutOf(call), 'a database batch'));
      });
    },
    transaction<T>(fn: (tx: Transaction) => Promise<T>, call?: QueryOptions): Promise<T> {
      const timeoutMs = timeoutOf(call);
      return track(async () => {
        // The deadline covers getting a connection (BEGIN); once the body runs, each of its
        // statements has its own. A transaction that starts after its caller gave up rolls
        // back at once.
        let started = false;
        let abandoned = false;
        transactions += 1;
        const work = Promise.resolve(inSlot(() =>
          guard.current().begin(async (tx) => {
            started = true;
            if (abandoned) throw new DatabaseTimeoutError('transaction started after its deadline');
            return await fn(transaction(tx));
          }) as Promise<T>
        ));
        try {
          if (!(timeoutMs > 0)) return await guard.watch(withDeadline(work, 0, ''));
          const opened = new Promise<never>((_, reject) => {
            const deadline = deadlineAfter(timeoutMs, () => {
              if (started) return;
              abandoned = true;
              reject(
                new DatabaseTimeoutError(
                  `no database connection for a transaction within ${timeoutMs} ms`,
                ),
              );
            });
            work.finally(() => deadline.cancel()).catch(() => {});
          });
          return await Promise.race([guard.watch(withDeadline(work, 0, '')), opened]);
        } finally {
          transactions -= 1;
        }
      });
    },
    probe(timeoutMs: number): Queryable {
      const connection = () => {
        probeSql ??= postgres(options.url, {
          ...settings,
          max: 1,
          idle_timeout: 30,
          connect_timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
        });
        return probeSql;
      };
      const discard = (sql: Sql) => {
        // A fresh connection next time: this one may be stuck behind the failure.
        if (probeSql === sql) probeSql = null;
        sql.end({ timeout: 0 }).catch(() => {});
      };
      return {
        async query<T extends Row = Row>(text: string, values: readonly unknown[] = []) {
          const sql = connection();
          try {
            // `typed()` values, as on the pool.
            const work = sql.unsafe(text, wireValues(sql, values));
            return await withDeadline(work, timeoutMs, 'the database probe') as unknown as T[];
          } catch (error) {
            discard(sql);
            throw error;
          }
        },
        async exec(text: string) {
          const sql = connection();
          try {
            await withDeadline(sql.unsafe(text).simple(), timeoutMs, 'the database probe');
          } catch (error) {
            discard(sql);
            throw error;
          }
        },
      };
    },
    stats(): PoolStats {
      const now = performance.now();
      let oldest = now;
      for (const entry of running) oldest = Math.min(oldest, entry.started);
      return {
        max,
        active: running.size,
        transactions,
        oldestMs: now - oldest,
        timeouts,
        lastTimeoutAgoMs: lastTimeoutAt === null ? null : now - lastTimeoutAt,
      };
    },
    async close(timeoutSeconds = 5) {
      await Promise.all([guard.close(timeoutSeconds), probeSql?.end({ timeout: 0 })]);
    },
  };
}
