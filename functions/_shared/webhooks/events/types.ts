import { findUnstorableJson, UNSTORABLE_JSON_DETAIL } from './json-guard.ts';

/** One event a delivery carries: stored once per (provider, key), processed as one job. */
export interface IntakeEvent {
  /** Stable id from the provider; a redelivery carries the same key. */
  readonly key: string;
  /** Provider's event type, e.g. `message`, `status`, `payment_intent.succeeded`. */
  readonly type: string;
  /** Job kind that processes it, e.g. `whatsapp.message`. */
  readonly kind: string;
  /** Who sent it, for the per-sender limit; null when the provider says nothing. */
  readonly sender: string | null;
  /** The event as received (unknown fields kept). */
  readonly payload: unknown;
}

/** The body is not JSON, or not the shape the provider documents: answered with 400. */
export class MalformedPayloadError extends Error {
  override readonly name = 'MalformedPayloadError';
  /** The fields at fault, when the provider names them (the 400 answer's `errors`). */
  constructor(message: string, readonly issues?: readonly { field: string; message: string }[]) {
    super(message);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text; throws MalformedPayloadError when it is not valid UTF-8. */
export function decodeUtf8(rawBody: Uint8Array): string {
  try {
    return strictUtf8.decode(rawBody);
  } catch {
    throw new MalformedPayloadError('body is not valid UTF-8');
  }
}

/**
 * Parses JSON from bytes that were already verified, refusing what could not be stored
 * (see {@link assertStorableJson}); throws MalformedPayloadError.
 */
export function parseJson(rawBody: Uint8Array): unknown {
  const text = decodeUtf8(rawBody);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MalformedPayloadError('body is not valid JSON');
  }
  assertStorableJson(rawBody);
  return value;
}

/**
 * Throws MalformedPayloadError when verified JSON bytes hold what the database refuses to
 * store (too deep, a `\u0000` escape, a lone surrogate escape): for bodies a provider's
 * library parsed itself, before their events are stored.
 */
export function assertStorableJson(rawBody: Uint8Array): void {
  const refusal = findUnstorableJson(rawBody);
  if (refusal !== null) throw new MalformedPayloadError(UNSTORABLE_JSON_DETAIL[refusal]);
}
