import postgres from 'postgres';
import { DatabaseUnavailableError, type Db, type Row, type Transaction } from './types.ts';

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
  /** Seconds to wait for a connection before failing (503 rather than a hung request). */
  connectTimeoutSeconds?: number;
  /** Seconds an idle connection is kept. */
  idleTimeoutSeconds?: number;
  /** Application name shown in `pg_stat_activity`. */
  applicationName?: string;
}

/** Error codes and messages that mean "the server is not there", not "your SQL is wrong". */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '3D000', // invalid_catalog_name: the database was dropped
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** True when `error` means the database is unreachable rather than a query failure. */
export function isUnavailableError(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = errorCode(error);
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) return true;
  // Deno reports refused connections as `ConnectionRefused` errors without a code.
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'ConnectionRefused' || name === 'ConnectionReset';
}

function translate(error: unknown): unknown {
  if (isUnavailableError(error) && !(error instanceof DatabaseUnavailableError)) {
    return new DatabaseUnavailableError('database unavailable', { cause: error });
  }
  return error;
}

/** Strips the password from a connection string so it can be logged. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : '';
    return `postgres://${user}${parsed.host}${parsed.pathname}`;
  } catch {
    return 'postgres://(unparseable url)';
  }
}

type Sql = postgres.Sql | postgres.TransactionSql;

function queryable(sql: Sql) {
  return {
    async query<T extends Row = Row>(text: string, values: readonly unknown[] = []) {
      try {
        // `prepare: true` asks for a named statement; the pool's own `prepare` option (off
        // unless GATEHOUSE_DB_PREPARE) still decides. postgres.js never prepares `unsafe`
        // queries unless asked, so without this the setting did nothing.
        // deno-lint-ignore no-explicit-any
        return (await sql.unsafe(text, values as any[], { prepare: true })) as unknown as T[];
      } catch (error) {
        throw translate(error);
      }
    },
    async exec(text: string) {
      try {
        await sql.unsafe(text).simple();
      } catch (error) {
        throw translate(error);
      }
    },
  };
}

function transaction(sql: postgres.TransactionSql): Transaction {
  return {
    ...queryable(sql),
    savepoint<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      return sql.savepoint((inner) => fn(transaction(inner))) as Promise<T>;
    },
  };
}

/**
 * Opens a postgres.js pool behind the {@link Db} interface.
 *
 * @example
 * const db = createPostgresDb({ url: config.databaseUrl, max: 10 });
 * const [row] = await db.query<{ now: Date }>('select now() as now');
 * await db.transaction(async (tx) => {
 *   await tx.query('insert into audit_logs (action) values ($1)', ['replay']);
 * });
 */
export function createPostgresDb(options: PostgresDbOptions): Db {
  const sql = postgres(options.url, {
    max: options.max ?? 10,
    prepare: options.prepare ?? false,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    idle_timeout: options.idleTimeoutSeconds ?? 30,
    connection: { application_name: options.applicationName ?? 'gatehouse' },
    onnotice: () => {},
  });
  return {
    ...queryable(sql),
    description: describeDatabaseUrl(options.url),
    async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      try {
        return (await sql.begin((tx) => fn(transaction(tx)))) as T;
      } catch (error) {
        throw translate(error);
      }
    },
    async close(timeoutSeconds = 5) {
      await sql.end({ timeout: timeoutSeconds });
    },
  };
}
