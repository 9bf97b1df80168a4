import { DatabaseTimeoutError, DatabaseUnavailableError, type UnavailableReason } from './types.ts';

/**
 * Error codes (postgres.js, the runtime's sockets, SQLSTATE) that mean the database cannot
 * serve the call now, not that the SQL or its input is wrong; each with what it means.
 */
const UNAVAILABLE_CODES: ReadonlyMap<string, UnavailableReason> = new Map([
  ['ECONNREFUSED', 'unreachable'],
  ['ECONNRESET', 'unreachable'],
  ['ENOTFOUND', 'unreachable'],
  ['ETIMEDOUT', 'unreachable'],
  ['EPIPE', 'unreachable'],
  ['EAI_AGAIN', 'unreachable'],
  ['CONNECT_TIMEOUT', 'unreachable'],
  ['CONNECTION_CLOSED', 'unreachable'],
  ['CONNECTION_ENDED', 'unreachable'],
  ['CONNECTION_DESTROYED', 'unreachable'],
  ['57P01', 'unreachable'], // admin_shutdown
  ['57P02', 'unreachable'], // crash_shutdown
  ['57P03', 'unreachable'], // cannot_connect_now: starting up or shutting down
  ['53300', 'unreachable'], // too_many_connections
  ['3D000', 'unreachable'], // invalid_catalog_name: the database was dropped
  ['08000', 'unreachable'],
  ['08001', 'unreachable'],
  ['08003', 'unreachable'],
  ['08004', 'unreachable'],
  ['08006', 'unreachable'],
  // The server's own bounds (startup parameters, see postgres.ts): a statement that ran
  // past statement_timeout, a lock wait past lock_timeout, a transaction left idle.
  ['57014', 'timeout'], // query_canceled
  ['55P03', 'timeout'], // lock_not_available
  ['25P03', 'timeout'], // idle_in_transaction_session_timeout
  ['40001', 'conflict'], // serialization_failure
  ['40P01', 'conflict'], // deadlock_detected
]);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Deno reports refused and reset connections as errors named so, without a code. */
const UNAVAILABLE_NAMES = new Set(['ConnectionRefused', 'ConnectionReset', 'BrokenPipe']);

function unavailableReason(error: unknown): UnavailableReason | undefined {
  const code = errorCode(error);
  const reason = code === undefined ? undefined : UNAVAILABLE_CODES.get(code);
  if (reason !== undefined) return reason;
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && UNAVAILABLE_NAMES.has(name) ? 'unreachable' : undefined;
}

/** True when `error` means the database cannot serve the call now (retry later). */
export function isUnavailableError(error: unknown): boolean {
  return error instanceof DatabaseUnavailableError || unavailableReason(error) !== undefined;
}

/**
 * Turns a driver or server error that means "not now" into {@link DatabaseUnavailableError}
 * (or {@link DatabaseTimeoutError}), keeping the original as `cause`; anything else (a SQL
 * or input error) is returned as it is.
 */
export function translateError(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  const reason = unavailableReason(error);
  if (reason === undefined) return error;
  if (reason === 'timeout') {
    return new DatabaseTimeoutError('the database did not finish in time', { cause: error });
  }
  const message = reason === 'conflict'
    ? 'the database aborted the statement on a conflict; retry'
    : 'database unavailable';
  return new DatabaseUnavailableError(message, { cause: error, reason });
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
