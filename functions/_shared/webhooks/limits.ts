import type { BucketLimit } from './ingest.ts';

const perMinute = (count: number): BucketLimit => ({
  capacity: count,
  refillPerSecond: count / 60,
});

/** Intake limits per provider (product brief: WhatsApp 1,000/min per number, 100/min per sender). */
export interface IntakeLimitSettings {
  /** Per WhatsApp business number: over it, Meta is told 429 and retries later. */
  readonly whatsappPerNumber: BucketLimit;
  /** Per WhatsApp sender: over it, the event is stored `rate_limited` and answered 200. */
  readonly whatsappPerSender: BucketLimit;
  /** Per provider (Stripe, PayPal, each Standard Webhooks source). */
  readonly perProvider: BucketLimit;
}

export const DEFAULT_INTAKE_LIMITS: IntakeLimitSettings = {
  whatsappPerNumber: perMinute(1_000),
  whatsappPerSender: perMinute(100),
  perProvider: perMinute(3_000),
};

/** Body limits: Meta documents payloads up to 3 MB; the others stay at the default 1 MB. */
export const WHATSAPP_BODY_LIMIT_BYTES = 3 * 1024 * 1024;

/** Africa's Talking's USSD form is a few hundred bytes; nothing near this is a callback. */
export const USSD_BODY_LIMIT_BYTES = 16 * 1024;
