/**
 * What a Stripe or PayPal event says about a ride's payment, read from the stored event
 * (the provider's own JSON). Events that say nothing about a payment read as null.
 */

export type PaymentStatus = 'pending' | 'failed' | 'succeeded' | 'refunded';

export interface PaymentUpdate {
  readonly provider: 'stripe' | 'paypal';
  /** Stripe: the PaymentIntent (or Checkout Session); PayPal: the capture. */
  readonly paymentId: string;
  /** The ride it pays for, when the event names one (a uuid), else null. */
  readonly rideId: string | null;
  readonly status: PaymentStatus;
  readonly amountCents: number | null;
  readonly refundedCents: number | null;
  readonly currency: string | null;
  readonly failureReason: string | null;
}

type Raw = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const str = (value: unknown) => (typeof value === 'string' && value !== '' ? value : null);
const rideOf = (...candidates: unknown[]) =>
  candidates.map(str).find((value) => value !== null && UUID.test(value))?.toLowerCase() ?? null;
const cents = (value: unknown) =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
const currencyOf = (value: unknown) => {
  const code = str(value)?.toUpperCase() ?? null;
  return code && /^[A-Z]{3}$/.test(code) ? code : null;
};
/** PayPal's decimal string amounts ("25.00") in cents. */
const decimalCents = (value: unknown) => {
  const text = str(value);
  if (!text || !/^\d{1,12}(\.\d{1,2})?$/.test(text)) return null;
  const [whole, fraction = ''] = text.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
};

/**
 * A Stripe event (`checkout.session.completed`, `payment_intent.succeeded`,
 * `payment_intent.payment_failed`, `charge.refunded`) as a payment update. The ride comes
 * from `metadata.ride_id` (or a Checkout Session's `client_reference_id`).
 */
export function stripePaymentUpdate(event: Raw): PaymentUpdate | null {
  const object = ((event.data as Raw | undefined)?.object ?? {}) as Raw;
  const metadata = (object.metadata ?? {}) as Raw;
  const base = {
    provider: 'stripe' as const,
    rideId: rideOf(metadata.ride_id, object.client_reference_id),
    currency: currencyOf(object.currency),
    refundedCents: null,
    failureReason: null,
  };
  switch (event.type) {
    case 'checkout.session.completed': {
      const paymentId = str(object.payment_intent) ?? str(object.id);
      if (!paymentId) return null;
      return {
        ...base,
        paymentId,
        status: object.payment_status === 'paid' ? 'succeeded' : 'pending',
        amountCents: cents(object.amount_total),
      };
    }
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed': {
      const paymentId = str(object.id);
      if (!paymentId) return null;
      const failed = event.type === 'payment_intent.payment_failed';
      const error = (object.last_payment_error ?? {}) as Raw;
      return {
        ...base,
        paymentId,
        status: failed ? 'failed' : 'succeeded',
        amountCents: cents(failed ? object.amount : object.amount_received ?? object.amount),
        failureReason: failed ? (str(error.message) ?? str(error.code) ?? 'declined') : null,
      };
    }
    case 'charge.refunded': {
      const paymentId = str(object.payment_intent) ?? str(object.id);
      if (!paymentId) return null;
      return {
        ...base,
        paymentId,
        // A partial refund leaves the payment succeeded, with the amount refunded so far.
        status: object.refunded === true ? 'refunded' : 'succeeded',
        amountCents: cents(object.amount),
        refundedCents: cents(object.amount_refunded),
      };
    }
  }
  return null;
}

/**
 * A PayPal event (`PAYMENT.CAPTURE.COMPLETED`, `PAYMENT.CAPTURE.DENIED`,
 * `PAYMENT.CAPTURE.REFUNDED`) as a payment update. The ride comes from the capture's (or
 * refund's) `custom_id`; a refund names its capture in its `up` link.
 */
export function paypalPaymentUpdate(event: Raw): PaymentUpdate | null {
  const resource = (event.resource ?? {}) as Raw;
  const amount = (resource.amount ?? {}) as Raw;
  const base = {
    provider: 'paypal' as const,
    rideId: rideOf(resource.custom_id),
    currency: currencyOf(amount.currency_code),
    failureReason: null,
  };
  switch (event.event_type) {
    case 'PAYMENT.CAPTURE.COMPLETED':
    case 'PAYMENT.CAPTURE.DENIED': {
      const paymentId = str(resource.id);
      if (!paymentId) return null;
      const denied = event.event_type === 'PAYMENT.CAPTURE.DENIED';
      const details = (resource.status_details ?? {}) as Raw;
      return {
        ...base,
        paymentId,
        status: denied ? 'failed' : 'succeeded',
        amountCents: decimalCents(amount.value),
        refundedCents: null,
        failureReason: denied ? (str(details.reason) ?? 'denied') : null,
      };
    }
    case 'PAYMENT.CAPTURE.REFUNDED': {
      const links = Array.isArray(resource.links) ? resource.links as Raw[] : [];
      const up = links.find((link) =>
        link.rel === 'up' && /\/captures\/[^/]+$/.test(String(link.href))
      );
      const paymentId = up ? String(up.href).split('/').pop()! : null;
      if (!paymentId) return null;
      return {
        ...base,
        paymentId,
        status: 'refunded',
        amountCents: null,
        refundedCents: decimalCents(amount.value),
      };
    }
  }
  return null;
}
