/**
 * The security headers every API response carries, after the "Security Headers" section of
 * OWASP's REST Security Cheat Sheet: no caching of what may be private, never rendered in a
 * frame, never sniffed into HTML, HTTPS only. `default-src 'none'` also keeps a browser from
 * running anything in a body that echoes input (the WhatsApp handshake's `hub.challenge`).
 *
 * The headers that protect HTML documents (Cross-Origin-Opener-Policy, Origin-Agent-Cluster,
 * Referrer-Policy, X-DNS-Prefetch-Control, ...) are not sent: function apps answer JSON and
 * plain text, and under `Deno.serve` each header costs 1–3 µs of server CPU per response.
 */
export const API_SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Cache-Control', 'no-store'],
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
];

/** Headers a handler may choose for itself; the others are enforced. */
const KEPT_IF_SET: ReadonlySet<string> = new Set(['Cache-Control', 'Content-Security-Policy']);

/**
 * Adds {@link API_SECURITY_HEADERS} to a finished response's headers (the request
 * envelope does so for every answer, errors included). A `Cache-Control` the handler chose
 * is kept (a public document may be cacheable), and so is a `Content-Security-Policy` (the
 * one HTML page, the API docs, loads its script); the others are enforced.
 *
 * Set on the finished response: under Deno.serve no cheaper way was found (headers prepared
 * with c.header() cost as much, passed to the Response constructor more).
 *
 * @example
 * ```ts
 * setApiSecurityHeaders(c.res.headers);
 * ```
 */
export function setApiSecurityHeaders(headers: Headers): void {
  for (const [name, value] of API_SECURITY_HEADERS) {
    if (KEPT_IF_SET.has(name) && headers.has(name)) continue;
    headers.set(name, value);
  }
}
