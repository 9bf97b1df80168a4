/** A caller's `X-Request-Id` kept as the request's id: 1-255 word characters, `-` or `=`. */
export const REQUEST_ID = /^[\w\-=]{1,255}$/;

/** The caller's well-formed `X-Request-Id`, or a new UUID. */
export function requestIdFrom(headers: Headers): string {
  const incoming = headers.get('x-request-id');
  return incoming !== null && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
}
