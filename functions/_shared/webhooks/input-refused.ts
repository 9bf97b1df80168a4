import { inputRefusalSqlstate } from '../db/sqlstate.ts';

/**
 * The database refused to store a request's events because of their values (SQLSTATE class
 * 22 or 54, see db/sqlstate.ts): nothing of the request was stored, and sending the same
 * request again fails the same way. Intake answers it with 400.
 *
 * `message` is ours and generic; the server's own text stays on `cause`, for the log only
 * (it names internal indexes and may quote the value).
 */
export class InputRefusedError extends Error {
  override readonly name = 'InputRefusedError';
  constructor(readonly sqlstate: string, options?: { cause?: unknown }) {
    super(`the database refused a value of the request (SQLSTATE ${sqlstate})`, options);
  }
}

/**
 * `error` as a request that failed on its own should see it: an input refusal becomes
 * {@link InputRefusedError}; anything else is returned as it is. Only for a call that
 * carried that one request: when requests share a call, one's values cannot be told from
 * another's, so the ingestor retries each alone first.
 *
 * @example
 * ```ts
 * pending.reject(asInputRefusal(error));
 * ```
 */
export function asInputRefusal(error: unknown): unknown {
  if (error instanceof InputRefusedError) return error;
  const sqlstate = inputRefusalSqlstate(error);
  return sqlstate === undefined ? error : new InputRefusedError(sqlstate, { cause: error });
}
