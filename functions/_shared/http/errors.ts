import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.ts';
import { ProblemError, problemFromError, renderProblem } from './problem.ts';

/**
 * The app's `onError`: every thrown error becomes an `application/problem+json` response.
 * Server errors answer with generic text; the error itself is logged by the request log
 * middleware, which finds it on `c.error`.
 *
 * @example
 * ```ts
 * app.onError(problemErrorHandler);
 * ```
 */
export function problemErrorHandler(error: Error, c: Context<AppEnv>): Response {
  return renderProblem(c, problemFromError(error));
}

/** The app's `notFound`: a 404 problem. */
export function notFoundProblem(c: Context<AppEnv>): Response {
  return renderProblem(c, new ProblemError(404, { detail: 'No route matches this path.' }));
}

/** Answers a known path requested with a method it does not serve. */
export function methodNotAllowedProblem(c: Context<AppEnv>, allowed: string[]): Response {
  const allow = allowed.join(', ');
  return renderProblem(
    c,
    new ProblemError(405, {
      detail: `This path accepts ${allow}.`,
      headers: { Allow: allow },
    }),
  );
}

/** Wraps whatever was thrown that is not an `Error`, keeping the original as `cause`. */
export class NonErrorThrown extends Error {
  override readonly name = 'NonErrorThrown';
  constructor(thrown: unknown) {
    super(`a non-Error value was thrown (${typeof thrown})`, { cause: thrown });
  }
}

/**
 * Hono hands only `Error` instances to `onError`; anything else thrown (`throw 'oops'`,
 * a library rejecting with a plain object) would escape the app and reach the runtime, which
 * answers without a request id or a problem body. This turns such throws into errors.
 *
 * @example
 * ```ts
 * app.use(catchNonErrorThrows());
 * ```
 */
export function catchNonErrorThrows(): MiddlewareHandler {
  // A promise reaction rather than an async function's frame: it runs on every request.
  return function catchNonErrorThrows(_c, next) {
    return next().then(settled, asError);
  };
}

function settled(): void {}

function asError(thrown: unknown): never {
  throw thrown instanceof Error ? thrown : new NonErrorThrown(thrown);
}
