import { z } from 'zod';
import { type IntakeEvent, MalformedPayloadError } from './types.ts';

// Stripe: every event has `id` (evt_...) and `type` (stripe.com/docs/api/events/object).
const stripeEvent = z.looseObject({ id: z.string().min(1), type: z.string().min(1) });
// PayPal: `id` (WH-...) and `event_type` (developer.paypal.com webhooks event names).
const paypalEvent = z.looseObject({ id: z.string().min(1), event_type: z.string().min(1) });
// Standard Webhooks: the payload convention is {type, timestamp, data}; the id is the header.
const standardEvent = z.looseObject({ type: z.string().min(1).optional() });

export function extractStripeEvent(body: unknown): IntakeEvent {
  const parsed = stripeEvent.safeParse(body);
  if (!parsed.success) throw new MalformedPayloadError('not a Stripe event');
  const { id, type } = parsed.data;
  return { key: id, type, kind: 'stripe.event', sender: null, payload: parsed.data };
}

export function extractPayPalEvent(body: unknown): IntakeEvent {
  const parsed = paypalEvent.safeParse(body);
  if (!parsed.success) throw new MalformedPayloadError('not a PayPal event');
  const { id, event_type } = parsed.data;
  return { key: id, type: event_type, kind: 'paypal.event', sender: null, payload: parsed.data };
}

export function extractStandardEvent(body: unknown, webhookId: string): IntakeEvent {
  const parsed = standardEvent.safeParse(body);
  if (!parsed.success || typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new MalformedPayloadError('not a Standard Webhooks JSON object');
  }
  return {
    key: webhookId,
    type: parsed.data.type ?? 'unknown',
    kind: 'standard.event',
    sender: null,
    payload: parsed.data,
  };
}
