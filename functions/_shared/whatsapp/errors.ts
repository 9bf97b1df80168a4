import { CircuitOpenError } from '../breaker/index.ts';
import { PermanentJobError, RetryJobError } from '../queue/errors.ts';

/**
 * What to do about a failed Graph API call, from Meta's documented error codes
 * (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes) and the HTTP status:
 * - `transient`: Meta or the network failed (5xx; codes 1, 2, 131000, 131016, 133004; a
 *   timeout or refused connection) → retry with backoff; counts against the breaker.
 * - `throttled`: our sending is over Meta's limits (HTTP 429; codes 4, 80007, 130429
 *   throughput) → retry after `Retry-After` or backoff; counts against the breaker, which
 *   then holds every instance back for a while.
 * - `recipient_throttled`: too many messages to one user (131056, pair rate limit) → retry
 *   with backoff; says nothing about Meta's health.
 * - `permanent`: the request can never succeed as it is (131047 outside the 24-hour
 *   window, 131026 undeliverable, 100 invalid parameter, 190 expired token, any other 4xx)
 *   → dead-lettered with the reason.
 */
export type GraphErrorClass = 'transient' | 'throttled' | 'recipient_throttled' | 'permanent';

const TRANSIENT_CODES = new Set([1, 2, 131000, 131016, 133004]);
const THROTTLED_CODES = new Set([4, 80007, 130429]);
const RECIPIENT_THROTTLED_CODES = new Set([131056]);

export function classifyGraphError(status: number, code: number | null): GraphErrorClass {
  if (code !== null && RECIPIENT_THROTTLED_CODES.has(code)) return 'recipient_throttled';
  if (status === 429 || (code !== null && THROTTLED_CODES.has(code))) return 'throttled';
  if (status >= 500 || (code !== null && TRANSIENT_CODES.has(code))) return 'transient';
  return 'permanent';
}

/** A Graph API call that failed: Meta's error fields (never the token or the URL). */
export class WhatsAppApiError extends Error {
  override readonly name = 'WhatsAppApiError';
  constructor(
    message: string,
    readonly details: {
      readonly kind: GraphErrorClass;
      /** HTTP status; 0 when no answer came (network, timeout). */
      readonly status: number;
      readonly code: number | null;
      readonly subcode: number | null;
      readonly fbtraceId: string | null;
      /** From `Retry-After`, when Meta sent one. */
      readonly retryAfterMs: number | null;
    },
  ) {
    super(message);
  }

  get kind(): GraphErrorClass {
    return this.details.kind;
  }
}

/**
 * The job engine's reading of a failed send: a permanent Graph API error dead-letters the
 * job with Meta's reason; other API errors retry (after Meta's `Retry-After` when it sent
 * one); an open breaker retries once it may let a call through; anything else is returned
 * as it is (a transient failure to the engine).
 *
 * @example
 * try { await whatsapp.send(to, message); } catch (error) { throw jobErrorFor(error); }
 */
export function jobErrorFor(error: unknown): unknown {
  if (error instanceof CircuitOpenError) {
    return new RetryJobError(error.message, Math.max(error.retryInMs, 1_000), { cause: error });
  }
  if (!(error instanceof WhatsAppApiError)) return error;
  if (error.kind === 'permanent') return new PermanentJobError(error.message, { cause: error });
  return new RetryJobError(error.message, error.details.retryAfterMs ?? undefined, {
    cause: error,
  });
}
