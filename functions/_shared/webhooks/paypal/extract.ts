/**
 * PayPal: `id` (WH-…, about 40 characters) and `event_type` (developer.paypal.com webhook event
 * names, e.g. `PAYMENT.CAPTURE.COMPLETED`). The limits are the longest id and type stored, in
 * characters of visible ASCII (see events/fields.ts), with room to spare over what the provider
 * sends.
 */
import { z } from 'zod';
import { identifier, parseOrRefuse } from '../events/fields.ts';
import type { IntakeEvent } from '../events/types.ts';

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
