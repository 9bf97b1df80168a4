/**
 * The demo's sample deliveries, each as its provider sends it: a WhatsApp notification
 * signed with the app secret, a Stripe event signed with the endpoint secret, a PayPal
 * event signed by the sandbox's certificate, a USSD gateway's form post.
 */
import type { Config } from '../../functions/_shared/config/index.ts';
import { signStripe, signWhatsApp } from '../../functions/_shared/webhooks/signing.ts';
import { whatsappDelivery } from '../../functions/_shared/webhooks/whatsapp/notification.ts';
import { UsageError } from '../command-support.ts';

/** A delivery to post: where, what, and the event it should store (none for USSD). */
export interface Delivery {
  readonly path: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  readonly event: { readonly provider: string; readonly key: string } | null;
}

/** The demo's WhatsApp user: a number of its own each run, so every run starts fresh. */
export interface DemoUser {
  readonly phone: string;
  readonly name: string;
}

export function demoUser(): DemoUser {
  const digits = crypto.getRandomValues(new Uint32Array(1))[0]! % 10_000_000;
  return { phone: `1555${String(digits).padStart(7, '0')}`, name: 'Demo rider' };
}

function first(values: readonly string[], variable: string, provider: string): string {
  const value = values[0];
  if (value === undefined) {
    throw new UsageError(`${variable} is not set: the server refuses ${provider} deliveries`);
  }
  return value;
}

const shortId = () => crypto.randomUUID().replaceAll('-', '').slice(0, 16);

/** A message from `user` to the business number the server sends as. */
export function whatsappMessage(
  config: Config,
  user: DemoUser,
  message: Record<string, unknown>,
): Delivery {
  const key = `wamid.DEMO${shortId()}`;
  const body = whatsappDelivery({
    phoneNumberId: config.whatsapp.phoneNumberId ?? 'DEMO',
    contacts: [{ wa_id: user.phone, profile: { name: user.name } }],
    messages: [{
      id: key,
      from: user.phone,
      timestamp: String(Math.floor(Date.now() / 1000)),
      ...message,
    }],
  });
  const secret = first(config.whatsapp.appSecrets, 'WHATSAPP_APP_SECRET', 'WhatsApp');
  return {
    path: '/webhooks/whatsapp',
    body,
    headers: { 'content-type': 'application/json', ...signWhatsApp(body, secret) },
    event: { provider: 'whatsapp', key },
  };
}

/** Stripe's `payment_intent.payment_failed` for `rideId`: a declined card. */
export function stripeCardDeclined(config: Config, rideId: string, amountCents: number): Delivery {
  const key = `evt_demo_${shortId()}`;
  const now = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({
    id: key,
    object: 'event',
    api_version: '2024-06-20',
    type: 'payment_intent.payment_failed',
    created: now,
    livemode: false,
    data: {
      object: {
        id: `pi_demo_${shortId()}`,
        object: 'payment_intent',
        amount: amountCents,
        currency: 'usd',
        status: 'requires_payment_method',
        metadata: { ride_id: rideId },
        last_payment_error: {
          type: 'card_error',
          code: 'card_declined',
          decline_code: 'generic_decline',
          message: 'Your card was declined.',
        },
      },
    },
  });
  const secret = first(config.stripe.webhookSecrets, 'STRIPE_WEBHOOK_SECRET', 'Stripe');
  return {
    path: '/webhooks/stripe',
    body,
    headers: { 'content-type': 'application/json', ...signStripe(body, secret, now) },
    event: { provider: 'stripe', key },
  };
}

/** PayPal's `PAYMENT.CAPTURE.COMPLETED` body for `rideId` (headers come from the sandbox). */
export function paypalCaptureCompleted(rideId: string, amountCents: number) {
  const key = `WH-DEMO-${shortId().toUpperCase()}`;
  const captureId = `DEMO${shortId().toUpperCase()}`;
  const created = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const body = JSON.stringify({
    id: key,
    event_version: '1.0',
    create_time: created,
    resource_type: 'capture',
    resource_version: '2.0',
    event_type: 'PAYMENT.CAPTURE.COMPLETED',
    summary: `Payment completed for $ ${(amountCents / 100).toFixed(2)} USD`,
    resource: {
      id: captureId,
      status: 'COMPLETED',
      amount: { currency_code: 'USD', value: (amountCents / 100).toFixed(2) },
      final_capture: true,
      custom_id: rideId,
      create_time: created,
      update_time: created,
    },
  });
  return { body, key, captureId };
}

/** One USSD gateway request of a session: `text` is the `*`-joined input so far. */
export function ussdRequest(config: Config, session: string, phone: string, text: string) {
  const token = first(config.ussd.pathTokens, 'USSD_PATH_TOKEN', 'USSD');
  const form = new URLSearchParams({
    sessionId: session,
    serviceCode: '*384*1#',
    phoneNumber: `+${phone}`,
    networkCode: '99999',
    text,
  });
  return {
    path: `/webhooks/ussd/${token}`,
    body: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    event: null,
  } satisfies Delivery;
}
