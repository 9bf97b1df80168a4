/**
 * Reading SQLSTATE codes off driver errors (postgres.js puts the server's code on
 * `error.code`; a wrapper may keep the original as `cause`).
 *
 * Two classes mean the database refused the values it was given, not that it is down or
 * that the SQL is wrong (PostgreSQL, Appendix A "Error Codes"):
 * - 22, data exception: `\u0000` in jsonb (22P05), malformed JSON text (22P02), a byte
 *   the encoding refuses (22021), a number out of range (22003), ...;
 * - 54, program limit exceeded: an index row too large (54000), a value nested deeper
 *   than the server's stack allows (54001), too many columns or arguments (54011, 54023).
 * The same call with other values may well succeed, so retrying it as it is would not.
 *
 * One code of class 22 is left out: 22023 (invalid_parameter_value) is what our own SQL
 * functions raise for arguments only our code chooses (ingest_events' rate-limit settings,
 * the shape of its batch). It means a fault of ours, which a 400 would hide.
 */
import { DatabaseUnavailableError } from './types.ts';

const SQLSTATE = /^[0-9A-Z]{5}$/;
const INPUT_REFUSAL_CLASSES: ReadonlySet<string> = new Set(['22', '54']);
const NOT_INPUT_REFUSALS: ReadonlySet<string> = new Set(['22023']);
/** How far down a chain of `cause`s to look; chains are short, and this stops a cycle. */
const MAX_CAUSE_DEPTH = 8;

/**
 * The SQLSTATE of the first error in `error`'s cause chain (itself first) whose `code` is
 * in class 22 or 54 (22023 aside), or undefined.
 *
 * @example
 * ```ts
 * try {
 *   await db.query('select $1::jsonb', ['"\\u0000"']);
 * } catch (error) {
 *   inputRefusalSqlstate(error); // '22P05'
 * }
 * ```
 */
export function inputRefusalSqlstate(error: unknown): string | undefined {
  let current = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH; depth += 1) {
    if (typeof current !== 'object' || current === null) return undefined;
    // "Not now" is never the values' fault, whatever it wraps.
    if (current instanceof DatabaseUnavailableError) return undefined;
    const code = (current as { code?: unknown }).code;
    if (
      typeof code === 'string' && SQLSTATE.test(code) &&
      INPUT_REFUSAL_CLASSES.has(code.slice(0, 2)) && !NOT_INPUT_REFUSALS.has(code)
    ) {
      return code;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * True when the database refused the values of a call (SQLSTATE class 22 or 54 but 22023,
 * on the error or a `cause` it wraps): the caller's input is at fault, and a retry of the same
 * values fails the same way.
 *
 * @example
 * ```ts
 * if (isInputRefusal(error)) throw new ProblemError(400, { detail: 'cannot be stored' });
 * ```
 */
export function isInputRefusal(error: unknown): boolean {
  return inputRefusalSqlstate(error) !== undefined;
}
