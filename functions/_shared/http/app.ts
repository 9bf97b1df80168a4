import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { matchedRoutes } from 'hono/route';
import type { BlankSchema } from 'hono/types';
import { getPath } from 'hono/utils/url';
import type { Logger } from '../log/index.ts';
import type { AppEnv } from './env.ts';
import {
  catchNonErrorThrows,
  methodNotAllowedProblem,
  notFoundProblem,
  problemErrorHandler,
} from './errors.ts';
import { ProblemError } from './problem.ts';
import { requestBodyLimit } from './body-limit.ts';
import type { ProcessMetrics } from '../metrics/process.ts';
import { type Admission, admissionGate } from './admission.ts';
import { headerLimits } from './header-limits.ts';
import { requestLog, type RequestObserver } from './request-log.ts';
import { requestEnvelope } from './envelope.ts';

export interface FunctionAppOptions {
  logger: Logger;
  /** Origins allowed by CORS: empty sends no CORS headers, `['*']` allows any origin. */
  corsOrigins: readonly string[];
  /** Largest request body accepted; larger bodies get 413. */
  bodyLimitBytes: number;
  /** Milliseconds from an arbitrary origin, for `duration_ms`; defaults to `performance.now`. */
  now?: () => number;
  /**
   * The process's budget of requests in flight and body bytes (one per process, shared by
   * its function apps): a request beyond it gets 503 before its body is read. Omitted for
   * apps that must always answer (health probes).
   */
  admission?: Admission;
  /**
   * The process's metrics: every answered request (shed ones included) counted by route
   * pattern, method and status, and timed; after each, a flush starts if one is due.
   */
  metrics?: ProcessMetrics;
}

const FUNCTION_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * Where a router that serves function apps under a URL prefix (the local server's
 * `/functions/v1`) puts that prefix: `app.fetch(request, mountedAt(prefix))`. The app then
 * routes, logs and answers on the path without the prefix, as it does on Supabase, while
 * the request itself is handed over untouched: no copy of its headers, and its body keeps
 * the runtime's fast path. Only the raw URL (`c.req.url`) still shows the prefix.
 */
const MOUNT_PREFIX = Symbol('gatehouse.mountPrefix');

export interface MountedEnv {
  readonly [MOUNT_PREFIX]: string;
}

/** The `env` to pass to a function app's `fetch` for a request under `prefix`. */
export function mountedAt(prefix: string): MountedEnv {
  return Object.freeze({ [MOUNT_PREFIX]: prefix });
}

const functionApps = new WeakSet<object>();

/** True for an app built by `createFunctionApp`, which understands `mountedAt`. */
export function acceptsMountPrefix(app: object): boolean {
  return functionApps.has(app);
}

function functionPath(request: Request, options?: { env?: unknown }): string {
  const path = getPath(request);
  const env = options?.env;
  if (typeof env !== 'object' || env === null || !(MOUNT_PREFIX in env)) return path;
  const prefix = (env as MountedEnv)[MOUNT_PREFIX];
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : path;
}

/**
 * Builds an edge function's Hono app at `basePath('/' + name)`. When given an admission
 * budget, a door in front of everything sheds what the process has no room for (503 before
 * routing and before the body is read; `admissionGate`). Then the shared stack: the request
 * envelope (request id, API security headers, keep-alive for answers given before the body
 * was read), one log line per request, header limits (431), CORS, 405 for a wrong method,
 * body limit, and problem+json errors (throw `ProblemError`; anything else is a generic 500).
 *
 * The stack is registered on the root path, not under the base path, so even a request
 * outside `/<name>` gets a request id, a log line and a problem body.
 *
 * @example
 * ```ts
 * const app = createFunctionApp('health', {
 *   logger,
 *   corsOrigins: [],
 *   bodyLimitBytes: 64 * 1024,
 * });
 * app.get('/live', (c) => c.json({ status: 'ok' })); // GET /health/live
 * export default app;
 * ```
 */
export function createFunctionApp<Name extends string>(
  name: Name,
  options: FunctionAppOptions,
): Hono<AppEnv, BlankSchema, `/${Name}`> {
  if (!FUNCTION_NAME.test(name)) {
    throw new Error(`function name must match ${FUNCTION_NAME}, got ${JSON.stringify(name)}`);
  }
  if (!Number.isSafeInteger(options.bodyLimitBytes) || options.bodyLimitBytes <= 0) {
    throw new RangeError(
      `bodyLimitBytes must be a positive integer, got ${options.bodyLimitBytes}`,
    );
  }

  const root = new Hono<AppEnv>({ getPath: functionPath });
  const app = root.basePath(`/${name}`);
  functionApps.add(app);

  // A 404 must log as "unmatched" even when a middleware such as `/admin/*` matched the path:
  // the matched routes alone cannot show that no handler ran.
  const unmatched = new WeakSet<Context>();
  const stack: MiddlewareHandler[] = [
    requestEnvelope(),
    requestLog({
      logger: options.logger,
      functionName: name,
      now: options.now,
      route: (c) => {
        const last = matchedRoutes(c).at(-1);
        return unmatched.has(c) || !last || stack.includes(last.handler) ? 'unmatched' : last.path;
      },
      observe: options.metrics ? requestObserver(name, options.metrics) : undefined,
    }),
    headerLimits(),
    ...corsMiddleware(options.corsOrigins),
    methodNotAllowed({ app, onMethodNotAllowed: methodNotAllowedProblem }),
    catchNonErrorThrows(),
    requestBodyLimit({
      maxBytes: options.bodyLimitBytes,
      onTooLarge: () => {
        throw new ProblemError(413, {
          detail: `The request body exceeds ${options.bodyLimitBytes} bytes.`,
        });
      },
    }),
  ];
  root.use(...stack);

  app.onError(problemErrorHandler);
  app.notFound((c) => {
    unmatched.add(c);
    return notFoundProblem(c);
  });
  if (options.admission) {
    // The door comes before routing and the stack, so a refusal costs next to nothing.
    const gate = admissionGate(options.admission, {
      bodyLimitBytes: options.bodyLimitBytes,
      logger: options.logger,
      functionName: name,
      onShed: options.metrics ? shedObserver(name, options.metrics) : undefined,
    });
    const serve = app.fetch;
    app.fetch = (request, env, executionCtx) =>
      gate(
        request,
        () => serve(request, env, executionCtx),
        () => functionPath(request, { env }),
      );
  }
  return app;
}

function corsMiddleware(origins: readonly string[]): MiddlewareHandler[] {
  if (origins.length === 0) return [];
  return [
    cors({
      origin: origins.includes('*') ? '*' : [...origins],
      // Browsers hide response headers from scripts unless listed; the PWA reports this one.
      exposeHeaders: ['X-Request-Id'],
    }),
  ];
}

/** Counts and times each answered request of function `name`, then lets a flush start. */
function requestObserver(name: string, metrics: ProcessMetrics): RequestObserver {
  const { httpRequests, httpDuration } = metrics.record;
  return (route, method, status, durationMs) => {
    httpRequests.inc({ function: name, route, method, status });
    httpDuration.observe({ function: name, route }, durationMs / 1000);
    metrics.afterRequest();
  };
}

/** Counts a request the door refused (503 before routing: its route is not known). */
function shedObserver(name: string, metrics: ProcessMetrics) {
  const { httpRequests } = metrics.record;
  return (_verdict: string, method: string) => {
    httpRequests.inc({ function: name, route: 'shed', method, status: 503 });
  };
}
