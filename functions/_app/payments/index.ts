import type { AppContext } from '../../_shared/app.ts';
import { withAuditContext } from '../../_shared/audit/index.ts';
import { emitEvent } from '../../_shared/outbound/index.ts';
import { typed } from '../../_shared/db/types.ts';
import type { InboundEvent } from '../../_shared/jobs/inbound.ts';
import {
  type PaymentStatus,
  type PaymentUpdate,
  paypalPaymentUpdate,
  stripePaymentUpdate,
} from './events.ts';

export { type PaymentStatus, type PaymentUpdate, paypalPaymentUpdate, stripePaymentUpdate };

/** A ride's `payment_status` for each payment status. */
const RIDE_STATUS: Record<PaymentStatus, string> = {
  pending: 'pending',
  failed: 'failed',
  succeeded: 'paid',
  refunded: 'refunded',
};

interface PaymentRow extends Record<string, unknown> {
  id: string;
  status: PaymentStatus;
  ride_id: string | null;
  user_id: string | null;
  amount_cents: string | number | null;
  amount_refunded_cents: string | number;
  currency: string | null;
  failure_reason: string | null;
  notified_status: string | null;
}

/**
 * The app's processor for `stripe.event` and `paypal.event`: moves the ride's payment
 * through its state machine (forward only, so any order of events ends the same; see the
 * migration 20261206200000), sets the ride's `payment_status`, writes an audit row for a
 * refund, and tells the passenger on WhatsApp once per new state, all in the event's job
 * transaction. Events about anything else are left alone.
 */
export async function applyPaymentEvent(event: InboundEvent, ctx: AppContext): Promise<void> {
  const raw = (event.payload ?? {}) as Record<string, unknown>;
  const update = event.provider === 'stripe'
    ? stripePaymentUpdate(raw)
    : event.provider === 'paypal'
    ? paypalPaymentUpdate(raw)
    : null;
  if (!update) return;
  const tx = ctx.tx;
  const [before] = await tx.query<PaymentRow>(
    `select * from public.ride_payments where provider = $1 and provider_payment_id = $2
     for update`,
    [typed(update.provider, 'text'), typed(update.paymentId, 'text')],
  );
  const [after] = await tx.query<PaymentRow>(
    `insert into public.ride_payments as p
       (provider, provider_payment_id, ride_id, user_id, status, amount_cents,
        amount_refunded_cents, currency, failure_reason, events)
     select $1, $2, r.id, r.passenger_user_id, $4, $5, coalesce($6, 0), $7, $8, $9
       from (select 1) one left join public.rides r on r.id = $3
     on conflict (provider, provider_payment_id) do update set
       status = case when gatehouse.payment_status_rank(excluded.status)
                          > gatehouse.payment_status_rank(p.status)
                     then excluded.status else p.status end,
       ride_id = coalesce(p.ride_id, excluded.ride_id),
       user_id = coalesce(p.user_id, excluded.user_id),
       amount_cents = coalesce(p.amount_cents, excluded.amount_cents),
       amount_refunded_cents = greatest(p.amount_refunded_cents, excluded.amount_refunded_cents),
       currency = coalesce(p.currency, excluded.currency),
       failure_reason = coalesce(excluded.failure_reason, p.failure_reason),
       events = p.events || excluded.events,
       updated_at = now()
     returning *`,
    [
      typed(update.provider, 'text'),
      typed(update.paymentId, 'text'),
      typed(update.rideId, 'uuid'),
      typed(update.status, 'text'),
      typed(update.amountCents, 'int8'),
      typed(update.refundedCents, 'int8'),
      typed(update.currency, 'text'),
      typed(update.failureReason?.slice(0, 500) ?? null, 'text'),
      typed([{ event: event.eventKey, type: event.eventType, status: update.status }], 'jsonb'),
    ],
  );
  if (!after) throw new Error('the payment row was not written');
  if (after.ride_id) {
    await tx.query(
      `update public.rides set payment_status = $2
        where id = $1 and payment_status is distinct from $2`,
      [typed(after.ride_id, 'uuid'), typed(RIDE_STATUS[after.status], 'text')],
    );
  }
  if (after.status === 'refunded' && before?.status !== 'refunded') {
    await auditRefund(ctx, event, update, before ?? null, after);
  }
  if (after.status !== before?.status) {
    // Partners hear of each new state once, in order per ride, when this transaction commits.
    await emitEvent(tx, `payment.${after.status}`, {
      payment_id: after.id,
      provider: after.provider,
      provider_payment_id: after.provider_payment_id,
      ride_id: after.ride_id,
      status: after.status,
      previous_status: before?.status ?? null,
      amount_cents: after.amount_cents === null ? null : Number(after.amount_cents),
      amount_refunded_cents: Number(after.amount_refunded_cents ?? 0),
      currency: after.currency,
    }, { orderingKey: after.ride_id ? `ride:${after.ride_id}` : `payment:${after.id}` });
  }
  ctx.describe({
    payment: update.paymentId,
    payment_from: before?.status ?? null,
    payment_to: after.status,
  });
  await tellPassenger(ctx, after);
}

async function auditRefund(
  ctx: AppContext,
  event: InboundEvent,
  update: PaymentUpdate,
  before: PaymentRow | null,
  after: PaymentRow,
): Promise<void> {
  await withAuditContext(ctx.tx, {
    actor: `${update.provider} webhook`,
    requestId: event.requestId,
  });
  const view = (row: PaymentRow | null) =>
    row && {
      status: row.status,
      ride_id: row.ride_id,
      amount_cents: row.amount_cents === null ? null : Number(row.amount_cents),
      amount_refunded_cents: Number(row.amount_refunded_cents),
      currency: row.currency,
    };
  await ctx.tx.query(
    `insert into public.audit_logs (actor, action, entity_type, entity_id, before, after, context)
     values (gatehouse.audit_actor(), 'payment.refund', 'ride_payment', $1, $2, $3, $4)`,
    [
      typed(after.id, 'text'),
      typed(view(before), 'jsonb'),
      typed(view(after), 'jsonb'),
      typed(
        { provider: update.provider, payment: update.paymentId, event: event.eventKey },
        'jsonb',
      ),
    ],
  );
}

function money(cents: string | number | null, currency: string | null): string {
  if (cents === null) return 'your payment';
  return `${(Number(cents) / 100).toFixed(2)}${currency ? ` ${currency}` : ''}`;
}

/** Tells the passenger about a state they have not been told about yet (once per state). */
async function tellPassenger(ctx: AppContext, payment: PaymentRow): Promise<void> {
  if (!payment.user_id || payment.status === 'pending') return;
  if (payment.notified_status === payment.status || !ctx.whatsapp) return;
  const [passenger] = await ctx.tx.query<{ wa_phone: string; pickup: string; dropoff: string }>(
    `select p.wa_phone, r.pickup, r.dropoff
       from public.profiles p join public.rides r on r.id = $2
      where p.id = $1 and p.wa_verified_at is not null`,
    [typed(payment.user_id, 'uuid'), typed(payment.ride_id, 'uuid')],
  );
  if (!passenger) return;
  const ride = `${passenger.pickup} → ${passenger.dropoff}`;
  const amount = money(payment.amount_cents, payment.currency);
  const text = payment.status === 'succeeded'
    ? `Payment received: ${amount} for your ride ${ride}. Thank you!`
    : payment.status === 'failed'
    ? `Your payment for the ride ${ride} did not go through${
      payment.failure_reason ? ` (${payment.failure_reason})` : ''
    }. You can try again in the app.`
    : `Your payment of ${
      money(payment.amount_refunded_cents || payment.amount_cents, payment.currency)
    } for the ride ${ride} was refunded.`;
  await ctx.whatsapp.send(ctx.tx, passenger.wa_phone.replace(/^\+/, ''), { type: 'text', text }, {
    requestId: ctx.job.requestId,
  });
  await ctx.tx.query(
    `update public.ride_payments set notified_status = status where id = $1`,
    [typed(payment.id, 'uuid')],
  );
}
