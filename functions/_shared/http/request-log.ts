import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { LogFields, Logger } from '../log/index.ts';
import { withRequestContext } from '../log/request-context.ts';
import type { AppEnv } from './env.ts';

export interface RequestLogOptions {
  logger: Logger;
  /** The edge function's name, written as `function` on every line. */
  functionName: string;
  /** Milliseconds from an arbitrary origin; defaults to `performance.now`. */
  now?: () => number;
  /**
   * The route pattern to log for a finished request. Defaults to the last matched route's
   * pattern; the app factory passes one that also knows which requests went unmatched.
   */
  route?: (c: Context) => string;
  /** Told of each finished request (metrics), after its line is written. */
  observe?: RequestObserver;
}

/** Sees each finished request: its route pattern, method, status and duration in ms. */
export type RequestObserver = (
  route: string,
  method: string,
  status: number,
  durationMs: number,
) => void;

/**
 * Writes one JSON line per request when it finishes — `request_id, function, method, route,
 * status, duration_ms` — at `info` below 500, `warn` for a 503 (a refusal the server chose:
 * commits behind, database away; the error's name, message and reason, no stack) and
 * `error` for any other 5xx, with the thrown error under `error`. Sets `log` for handlers
 * (`c.get('log')`) and runs the rest of the request in its request context
 * (`currentRequestId()`). Must run inside `requestEnvelope()`.
 *
 * The route is the pattern (`/health/ready`, `/webhooks/standard/:source`), never the raw URL,
 * so lines carry no query-string tokens and group by endpoint.
 *
 * @example
 * ```ts
 * app.use(requestEnvelope(), requestLog({ logger, functionName: 'health' }));
 * app.get('/health/live', (c) => {
 *   c.get('log').debug('liveness probe');
 *   return c.json({ status: 'ok' });
 * });
 * ```
 */
export function requestLog(options: RequestLogOptions): MiddlewareHandler<AppEnv> {
  const { logger, functionName } = options;
  const now = options.now ?? (() => performance.now());
  const route = options.route ?? ((c: Context) => routePath(c, -1));
  return async function requestLog(c, next) {
    const started = now();
    const log = logger.child({ request_id: c.get('requestId'), function: functionName });
    c.set('log', log);
    const extra: LogFields = {};
    c.set('logFields', extra);
    const finish = (status: number, error: unknown) => {
      const elapsed = now() - started;
      const fields: LogFields = {
        ...extra,
        method: c.req.method,
        route: route(c),
        status,
        duration_ms: Math.round(elapsed * 100) / 100,
      };
      if (status === 503) {
        if (error !== undefined) fields.error = refusal(error);
        log.warn('request', fields);
      } else if (status >= 500) {
        if (error !== undefined) fields.error = error;
        log.error('request', fields);
      } else {
        log.info('request', fields);
      }
      options.observe?.(fields.route as string, fields.method as string, status, elapsed);
    };
    try {
      // Thrown errors normally stop inside: Hono's compose hands them to onError and leaves
      // them on c.error. Only a failing onError itself arrives here. The rest of the request
      // runs in its context, so work it leaves behind still names it (crash-guard.ts).
      await withRequestContext({ requestId: c.get('requestId') }, next);
    } catch (error) {
      finish(500, error);
      throw error;
    }
    finish(c.res.status, c.error);
  };
}

/** What a 503 log line says of its error: enough to tell why, without a stack per request. */
function refusal(error: unknown): LogFields {
  if (!(error instanceof Error)) return { message: String(error) };
  const { reason, code } = error as { reason?: unknown; code?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof code === 'string' ? { code } : {}),
  };
}
