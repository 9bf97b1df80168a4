import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.ts';
import { ProblemError } from './problem.ts';

/**
 * Request header bounds, below the HTTP server's own: Deno.serve answers a bare 400 with
 * no body (or closes the connection) for more than 100 headers or about 64 KiB of them, so
 * the requests it does hand over are held to less, and answered with a problem and a
 * request id. A provider's delivery carries 10-20 headers of a few KiB.
 */
export const MAX_REQUEST_HEADERS = 64;
export const MAX_REQUEST_HEADER_BYTES = 16 * 1024;

/**
 * Refuses a request with too many or too large headers: 431 application/problem+json,
 * before anything reads them.
 *
 * @example
 * app.use(headerLimits());
 */
export function headerLimits(
  limits: { maxHeaders?: number; maxBytes?: number } = {},
): MiddlewareHandler<AppEnv> {
  const maxHeaders = limits.maxHeaders ?? MAX_REQUEST_HEADERS;
  const maxBytes = limits.maxBytes ?? MAX_REQUEST_HEADER_BYTES;
  return function headerLimits(c, next) {
    let count = 0;
    let bytes = 0;
    c.req.raw.headers.forEach((value, name) => {
      count += 1;
      bytes += name.length + value.length + 4; // ": " and CRLF, as on the wire
    });
    if (count > maxHeaders || bytes > maxBytes) {
      c.get('logFields').reason = 'headers_too_large';
      throw new ProblemError(431, {
        detail: `Request headers are limited to ${maxHeaders} fields and ${maxBytes} bytes.`,
      });
    }
    return next();
  };
}
