import { type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { asUser, readAsUser, type UserEnv } from '../_shared/auth/index.ts';
import type { Db, Queryable, Transaction } from '../_shared/db/types.ts';
import { ProblemError } from '../_shared/http/index.ts';
import { isInputRefusal } from '../_shared/db/sqlstate.ts';
import type { FlagReader } from '../_shared/flags/index.ts';
export { json, problem } from '../_shared/http/openapi.ts';

/** What the user API's routes need. */
export interface ApiDeps {
  readonly db: Db;
  readonly flags: FlagReader;
}

export type Api = OpenAPIHono<UserEnv>;

/** The `ETag` header of a response carrying one row. */
export const etag = z.object({
  ETag: z.string().openapi({ description: 'The version, for If-Match' }),
});
/** The `If-Match` request header of a change. */
export const IF_MATCH = z.object({
  'if-match': z.string().optional().openapi({ description: 'The ETag read, e.g. "3"' }),
});

/** The error responses every authenticated route documents. */
export const PROBLEM_RESPONSES = {
  400: { description: 'Malformed request (problem+json)' },
  401: { description: 'No valid access token' },
  503: { description: 'The database or the signing keys are unavailable; retry' },
} as const;

/**
 * Runs `fn` as the caller (see `asUser`: row-level security is the guard) and turns what
 * the database refuses because of the request into a client error: values it cannot
 * store (400), a duplicate (409), a row that references nothing the caller owns (400), a
 * row the policies refuse (403), a change the row's state does not allow (409, e.g. a
 * passenger marking a ride completed; the database's words say which).
 */
export function asCaller<T>(
  c: Context<UserEnv>,
  deps: ApiDeps,
  fn: (tx: Transaction) => Promise<T>,
): Promise<T> {
  return answeringRefusals(asUser(deps.db, c.get('user'), fn));
}

/**
 * A read of one statement as the caller, its transaction sent in one flight (see
 * `readAsUser`); the database's refusals are answered as `asCaller` answers them.
 */
export function readAsCaller<T>(
  c: Context<UserEnv>,
  deps: ApiDeps,
  fn: (q: Queryable) => Promise<T>,
): Promise<T> {
  return answeringRefusals(readAsUser(deps.db, c.get('user'), fn));
}

/** `work`'s result, or what the database refused because of the request as a client error. */
export function answeringRefusals<T>(work: Promise<T>): Promise<T> {
  return work.catch((error: unknown) => {
    throw asClientError(error);
  });
}

/** What the database refused because of the request, as the client error it is. */
function asClientError(error: unknown): unknown {
  if (error instanceof ProblemError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === '23505') {
    return new ProblemError(409, { detail: 'one like it exists already', cause: error });
  }
  if (code === '55000') {
    // Raised by the app tables' own triggers, worded for the caller.
    return new ProblemError(409, { detail: (error as Error).message, cause: error });
  }
  if (code === '42501') {
    return new ProblemError(403, { detail: 'not yours to change', cause: error });
  }
  if (code === '23503' || code === '23514' || code === '23502' || isInputRefusal(error)) {
    return new ProblemError(400, { detail: 'the values cannot be stored', cause: error });
  }
  return error;
}
