import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.ts';
import { requestIdFrom } from './request-id.ts';
import { setApiSecurityHeaders } from './security-headers.ts';
import { settleUnreadBody } from './unread-body.ts';

/**
 * The outermost layer of a function app, around everything else, errors included:
 *
 * - names the request (`c.get('requestId')`): the caller's `X-Request-Id` when well formed,
 *   else a new UUID, and answers with it in `X-Request-Id`;
 * - adds the API security headers (`setApiSecurityHeaders`);
 * - settles a body the handler left unread, so the keep-alive connection stays usable
 *   (`settleUnreadBody`).
 *
 * One layer rather than three: each layer of Hono's middleware chain costs a request an
 * async frame, a promise and a dispatch closure, and in a heap profile of the intake
 * benchmark each such layer allocated 1-2 KB a request.
 *
 * The headers are set on the finished response, not prepared before the handler: a header
 * prepared with `c.header()` makes Hono hand the response's constructor a `Headers` object,
 * which Deno copies and checks again at about 4 µs a response; set afterwards it costs a
 * tenth of that.
 *
 * @example
 * app.use(requestEnvelope(), requestLog({ logger, functionName: 'health' }));
 * app.get('/x', (c) => c.json({ id: c.get('requestId') }));
 */
export function requestEnvelope(): MiddlewareHandler<AppEnv> {
  return async function requestEnvelope(c, next) {
    const id = requestIdFrom(c.req.raw.headers);
    c.set('requestId', id);
    await next();
    const headers = c.res.headers;
    headers.set('X-Request-Id', id);
    setApiSecurityHeaders(headers);
    await settleUnreadBody(c);
  };
}
