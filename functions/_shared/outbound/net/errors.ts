/**
 * What goes wrong on the way out, typed so a caller can tell a refused target (the operator
 * must change the URL; retrying will not help) from a failed request (retry later). Messages
 * name the host, never the whole URL: its path and query may hold a secret.
 */

/** Why the guard refused a target. */
export type RefusalReason =
  /** Not a URL at all. */
  | 'invalid_url'
  /** Not http(s), or http where the policy wants https. */
  | 'scheme'
  /** `user:password@` in the URL. */
  | 'userinfo'
  /** A name that only ever means something internal (`localhost`, `metadata.google.internal`, `*.internal`). */
  | 'blocked_host'
  /** The host is, or resolves to, an address in a blocked range. */
  | 'blocked_address'
  /** DNS gave no usable address (no such name, no answer in time, not an IP). */
  | 'unresolvable';

/**
 * The guard will not let a delivery go to this URL.
 *
 * @example
 * ```ts
 * try {
 *   await resolveTarget(url, policy);
 * } catch (error) {
 *   if (error instanceof OutboundRefused && error.reason === 'blocked_address') ...
 * }
 * ```
 */
export class OutboundRefused extends Error {
  override readonly name = 'OutboundRefused';
  constructor(
    readonly reason: RefusalReason,
    message: string,
    /** The URL's hostname, when the URL got that far. */
    readonly host?: string,
  ) {
    super(message);
  }
}

/** Why a request to an allowed target failed. */
export type FailureReason =
  /** The whole request (connect, headers, body) did not finish in time. */
  | 'timeout'
  /** No TCP connection (refused, unreachable). */
  | 'connect'
  /** The TLS handshake failed: certificate not trusted, wrong name, protocol error. */
  | 'tls'
  /** The connection closed or reset before the response was read. */
  | 'reset'
  /** The peer did not speak HTTP. */
  | 'protocol'
  /** The caller's signal aborted the request. */
  | 'aborted';

/** A request to an allowed target did not produce a response. */
export class OutboundRequestFailed extends Error {
  override readonly name = 'OutboundRequestFailed';
  constructor(
    readonly reason: FailureReason,
    message: string,
    readonly host: string,
    /** The platform's error code when there was one (`ECONNREFUSED`, `ERR_TLS_CERT_ALTNAME_INVALID`...). */
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
