import type { MiddlewareHandler } from 'hono';
import {
  type Db,
  type Queryable,
  type QueryOptions,
  type Row,
  type Statement,
  type Transaction,
  typed,
} from '../db/types.ts';
import type { AppEnv } from '../http/env.ts';
import type { LogFields } from '../log/index.ts';
import { ProblemError, retryAfterSeconds } from '../http/problem.ts';
import { JWKS_RETRY_MS } from './jwks.ts';
import { type AuthUser, InvalidTokenError, type JwtVerifier, KeysUnavailableError } from './jwt.ts';
import { can, type Permission, type Role } from './roles.ts';

/** A function app's environment once `requireUser` ran: `c.get('user')` is the caller. */
export type UserEnv = {
  Variables: AppEnv['Variables'] & { user: AuthUser };
};

/** The bearer token of `Authorization`, or null when there is none. */
export function bearerToken(headers: Headers): string | null {
  const authorization = headers.get('authorization');
  if (authorization === null) return null;
  const match = /^Bearer[ \t]+([A-Za-z0-9\-_.~+/]+=*)[ \t]*$/i.exec(authorization);
  return match ? match[1]! : '';
}

/**
 * Admits only requests with a valid Supabase user token (`Authorization: Bearer <jwt>`) and
 * puts the caller in `c.get('user')`. Without a token: 401 with a bare `WWW-Authenticate:
 * Bearer` challenge; with one that proves nothing: 401 with `error="invalid_token"` (why it
 * was refused goes to the request's log line, never the token); when the signing keys
 * cannot be fetched: 503 with `Retry-After`.
 *
 * @example
 * app.use('/api/*', requireUser(verifier));
 * app.get('/api/me', (c) => c.json({ id: c.get('user').id }));
 */
export function requireUser(verifier: JwtVerifier): MiddlewareHandler<UserEnv> {
  return async function requireUser(c, next) {
    c.set('user', await verifiedUser(verifier, c.req.raw.headers, c.get('logFields')));
    await next();
  };
}

/**
 * The signed-in caller a request's `headers` name, from the bearer token `verifier` accepts;
 * throws the 401 or 503 problem `requireUser` answers with otherwise. Why a token was
 * refused, or the user's id, goes into `logFields` (the request's log line).
 */
export async function verifiedUser(
  verifier: JwtVerifier,
  headers: Headers,
  logFields: LogFields,
): Promise<AuthUser> {
  const token = bearerToken(headers);
  if (token === null) {
    logFields.reason = 'missing_token';
    throw new ProblemError(401, {
      detail: 'sign in: send Authorization: Bearer <access token>',
      headers: { 'WWW-Authenticate': 'Bearer realm="gatehouse"' },
    });
  }
  let user: AuthUser;
  try {
    user = await verifier.verify(token);
  } catch (error) {
    if (error instanceof KeysUnavailableError) {
      throw new ProblemError(503, {
        detail: 'user tokens cannot be checked right now; retry later',
        // The JWKS is fetched again no sooner than this.
        headers: { 'Retry-After': retryAfterSeconds(JWKS_RETRY_MS) },
        expose: true,
        cause: error,
      });
    }
    if (!(error instanceof InvalidTokenError)) throw error;
    logFields.reason = 'invalid_token';
    logFields.auth_problem = error.reason;
    throw new ProblemError(401, {
      detail: error.message,
      headers: {
        'WWW-Authenticate': `Bearer realm="gatehouse", error="invalid_token", error_description="${
          error.message.replaceAll('"', "'")
        }"`,
      },
    });
  }
  logFields.user_id = user.id;
  return user;
}

/**
 * Lets through only callers whose role holds `permission` (see `PERMISSIONS`); others get
 * 403 with `error="insufficient_scope"`. Runs after `requireUser`.
 *
 * @example
 * app.post('/admin/flags/:key', requireUser(verifier), requireRole('flags:write'), handler);
 */
export function requireRole(permission: Permission): MiddlewareHandler<UserEnv> {
  return async function requireRole(c, next) {
    checkPermission(c.get('logFields'), c.get('user').role, permission);
    await next();
  };
}

/**
 * Throws the 403 `requireRole` answers with when `role` lacks `permission`, saying why in
 * `logFields` (the request's log line).
 */
export function checkPermission(logFields: LogFields, role: Role, permission: Permission): void {
  if (can(role, permission)) return;
  logFields.reason = 'forbidden';
  logFields.permission = permission;
  throw new ProblemError(403, {
    detail: `this needs the ${permission} permission, which the ${role} role lacks`,
    headers: { 'WWW-Authenticate': 'Bearer realm="gatehouse", error="insufficient_scope"' },
  });
}

/** A verified user's claims as JSON, written once per user object (the verifier caches them). */
const claimsJson = new WeakMap<AuthUser, string>();

/**
 * The statement that makes the rest of a transaction run as `user` (see `asUser`): role
 * `authenticated`, the token's claims in `request.jwt.claims` as PostgREST sets them, and
 * its subject in `request.jwt.claim.sub`, which the policies' caller expression (like
 * Supabase's `auth.uid()`) reads first, so a read does not parse the claims to find it
 * (about 4 µs for a token of Supabase's size).
 */
function claimsStatement(user: AuthUser): Statement {
  return {
    text: `select set_config('role', 'authenticated', true),
                  set_config('request.jwt.claims', $1, true),
                  set_config('request.jwt.claim.sub', $2, true)`,
    values: claimsValues(user),
  };
}

/** The token's claims as JSON and its subject, as the claims statement and read functions take them. */
function claimsValues(user: AuthUser): [unknown, unknown] {
  let claims = claimsJson.get(user);
  if (claims === undefined) {
    claims = JSON.stringify(user.claims);
    claimsJson.set(user, claims);
  }
  return [typed(claims, 'text'), typed(user.id, 'text')];
}

/** A schema-qualified function name, e.g. `gatehouse.vehicles_page`: never from a request. */
const FUNCTION_NAME = /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/;
/** Each read function's call statement by name and argument count, written once. */
const callTexts = new Map<string, string>();

/**
 * Calls `fn`, a read function of the database that runs as the caller, as one statement:
 * the function takes the token's claims (JSON) and subject before `args`, becomes the user
 * for its own select (role `authenticated` and the claims set, as `asUser` sets them, so
 * the same policies decide what it sees) and then restores the role and the claims. One
 * statement, its plan kept by the connection inside the function, where `readAsUser` sends
 * the claims and the statement as two, planned at every call. Such functions must be
 * executable by `service_role` alone: whoever can call one can read as anyone (see
 * `migrations/20261214090000_user_list_functions.sql` and docs/app.md).
 *
 * @example
 * const rows = await callAsUser(db, user, 'gatehouse.vehicles_page', [null, null, 21]);
 */
export function callAsUser<R extends Row = Row>(
  db: Queryable,
  user: AuthUser,
  fn: string,
  args: readonly unknown[],
  options?: QueryOptions,
): Promise<R[]> {
  const key = `${fn}/${args.length}`;
  let text = callTexts.get(key);
  if (text === undefined) {
    if (!FUNCTION_NAME.test(fn)) {
      return Promise.reject(new Error(`callAsUser: ${fn} is not a function's name`));
    }
    const params = Array.from({ length: args.length + 2 }, (_, i) => `$${i + 1}`);
    text = `select * from ${fn}(${params.join(', ')})`;
    callTexts.set(key, text);
  }
  return db.query<R>(text, [...claimsValues(user), ...args], options);
}

/**
 * Runs `fn`'s one statement as the user, like `asUser`, with its whole transaction sent in
 * one flight (`Db.batch`: the claims and the statement, one implicit transaction), where
 * `asUser` waits for BEGIN, then the statements, then COMMIT. For reads made of a single
 * statement; `fn` may call `query` once (a second call throws).
 *
 * @example
 * const rows = await readAsUser(db, user, (q) => q.query('select * from vehicles'));
 */
export function readAsUser<T>(
  db: Db,
  user: AuthUser,
  fn: (q: Queryable) => Promise<T>,
): Promise<T> {
  let used = false;
  const once: Queryable = {
    async query<R extends Row = Row>(
      text: string,
      values?: readonly unknown[],
      options?: QueryOptions,
    ) {
      if (used) throw new Error('readAsUser runs one statement; use asUser for more');
      used = true;
      const [, rows] = await db.batch([claimsStatement(user), { text, values }], options);
      return rows as R[];
    },
    exec() {
      return Promise.reject(new Error('readAsUser runs one parameterised statement'));
    },
  };
  return fn(once);
}

/**
 * Runs `fn` in a transaction as the user, as PostgREST runs a request: the role is
 * `authenticated` and `request.jwt.claims` holds the token's claims, so `auth.uid()` is the
 * caller and row-level security decides what each statement sees and changes. Application
 * code adds no `where user_id = ...` of its own for safety: the policies are the guard.
 *
 * @example
 * const rows = await asUser(db, c.get('user'), (tx) => tx.query('select * from vehicles'));
 */
export function asUser<T>(
  db: Db,
  user: AuthUser,
  fn: (tx: Transaction) => Promise<T>,
  options?: QueryOptions,
): Promise<T> {
  return db.transaction(async (tx) => {
    // Not awaited before `fn` starts: the driver sends `fn`'s first statement right behind
    // this one on the transaction's connection (pipelined), and Postgres runs them in order,
    // so the role and claims are set before it runs, one round trip sooner.
    const claims = claimsStatement(user);
    const setting = tx.query(claims.text, claims.values);
    const result = fn(tx);
    // Handled at once: `fn` may fail before the settings' answer arrives (a bad cursor),
    // and a rejection nobody has subscribed to yet is an unhandled one.
    result.catch(() => {});
    await setting; // if it failed, `fn`'s statements failed with it: the transaction aborted
    return await result;
  }, options);
}
