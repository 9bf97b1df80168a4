/**
 * Providers whose delivery is one event: Stripe, PayPal, Standard Webhooks. The limits
 * are the longest id and type stored, in characters of visible ASCII (see fields.ts), with
 * room to spare over what each provider sends.
 */
import { z } from 'zod';
import { identifier, parseOrRefuse } from './fields.ts';
import { type IntakeEvent, MalformedPayloadError } from './types.ts';

// --- Stripe: every event has `id` (evt_…, 28 characters today) and `type`
// (stripe.com/docs/api/events/object, e.g. `payment_intent.succeeded`).

/** Longest Stripe event `id` stored (the event key), in characters. */
export const STRIPE_EVENT_ID_MAX_CHARS = 255;
/** Longest Stripe event `type` stored, in characters. */
export const STRIPE_EVENT_TYPE_MAX_CHARS = 128;

const stripeEvent = z.looseObject({
  id: identifier(STRIPE_EVENT_ID_MAX_CHARS),
  type: identifier(STRIPE_EVENT_TYPE_MAX_CHARS),
});

export function extractStripeEvent(body: unknown): IntakeEvent {
  const event = parseOrRefuse(stripeEvent, body, 'not a Stripe event');
  return { key: event.id, type: event.type, kind: 'stripe.event', sender: null, payload: event };
}

// --- PayPal: `id` (WH-…, about 40 characters) and `event_type` (developer.paypal.com
// webhook event names, e.g. `PAYMENT.CAPTURE.COMPLETED`).

/** Longest PayPal event `id` stored (the event key), in characters. */
export const PAYPAL_EVENT_ID_MAX_CHARS = 255;
/** Longest PayPal `event_type` stored, in characters. */
export const PAYPAL_EVENT_TYPE_MAX_CHARS = 128;

const paypalEvent = z.looseObject({
  id: identifier(PAYPAL_EVENT_ID_MAX_CHARS),
  event_type: identifier(PAYPAL_EVENT_TYPE_MAX_CHARS),
});

export function extractPayPalEvent(body: unknown): IntakeEvent {
  const event = parseOrRefuse(paypalEvent, body, 'not a PayPal event');
  return {
    key: event.id,
    type: event.event_type,
    kind: 'paypal.event',
    sender: null,
    payload: event,
  };
}

// --- Standard Webhooks: the id is the `webhook-id` header (e.g. msg_ and a 27-character
// KSUID); the payload convention is {type, timestamp, data}, with a full-stop-delimited type.

/** Longest `webhook-id` header stored (the event key), in characters. */
export const STANDARD_WEBHOOK_ID_MAX_CHARS = 255;
/** Longest payload `type` stored, in characters; absent is stored as `unknown`. */
export const STANDARD_EVENT_TYPE_MAX_CHARS = 128;

const standardEvent = z.looseObject({
  type: identifier(STANDARD_EVENT_TYPE_MAX_CHARS).optional(),
});
const webhookId = identifier(STANDARD_WEBHOOK_ID_MAX_CHARS);

export function extractStandardEvent(body: unknown, id: string): IntakeEvent {
  // The header was verified (it is signed) before anything here runs.
  const key = webhookId.safeParse(id);
  if (!key.success) {
    throw new MalformedPayloadError(`webhook-id header ${key.error.issues[0]?.message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MalformedPayloadError('not a Standard Webhooks JSON object');
  }
  const event = parseOrRefuse(standardEvent, body, 'not a Standard Webhooks event');
  return {
    key: key.data,
    type: event.type ?? 'unknown',
    kind: 'standard.event',
    sender: null,
    payload: event,
  };
}
