/**
 * Stripe: every event has `id` (evt_…, 28 characters today) and `type`
 * (stripe.com/docs/api/events/object, e.g. `payment_intent.succeeded`). The limits are the longest
 * id and type stored, in characters of visible ASCII (see events/fields.ts), with room to spare
 * over what the provider sends.
 */
import { z } from 'zod';
import { identifier, parseOrRefuse } from '../events/fields.ts';
import type { IntakeEvent } from '../events/types.ts';

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
