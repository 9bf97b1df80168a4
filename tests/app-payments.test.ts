/**
 * The reference app's payments on a real database: Stripe and PayPal events move a ride's
 * payment through its state machine in the event's job, forward only, so any order of
 * events (a refund before its success) and any repetition end in the same state; a refund
 * leaves an audit row; the passenger is told on WhatsApp once per new state.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import { createWebhooksApp } from '../functions/webhooks/index.ts';
import { type GraphApiStub, startGraphApiStub } from '../cli/sandbox/graph-api.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { asRole, sqlState } from './support/rls.ts';
import { testRuntime } from './support/runtime.ts';
import { signStripe } from './support/webhooks/index.ts';

const database = useMigratedDatabase({
  reset: 'delete from ride_payments; delete from rides; delete from profiles; ' +
    'delete from whatsapp_logs; delete from jobs; delete from dead_jobs; ' +
    'delete from inbound_events; delete from outbound_events;',
});

const STRIPE_SECRET = 'whsec_app_payments';
const PASSENGER = 'aaaaaaaa-0000-4000-8000-0000000000a1';
const PHONE = '254711000001';
let graph: GraphApiStub;
let rideId: string;

beforeEach(async () => {
  graph = await startGraphApiStub();
  await database.db.query(
    `insert into profiles (id, display_name, wa_phone, wa_verified_at)
     values ($1, 'Ada', $2, now())`,
    [PASSENGER, `+${PHONE}`],
  );
  [{ id: rideId }] = await database.db.query<{ id: string }>(
    `insert into rides (passenger_user_id, pickup, dropoff) values ($1, 'Kencom', 'JKIA')
     returning id`,
    [PASSENGER],
  ) as [{ id: string }];
});
afterEach(async () => {
  await graph.close();
});

function runtime() {
  return testRuntime({
    config: parseConfig({
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      WHATSAPP_ACCESS_TOKEN: graph.token,
      WHATSAPP_PHONE_NUMBER_ID: 'PNID-PAY',
      WHATSAPP_GRAPH_URL: graph.url,
    }),
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
  });
}

let serial = 0;
function stripeEvent(type: string, object: Record<string, unknown>) {
  serial += 1;
  return {
    id: `evt_${serial}_${crypto.randomUUID().slice(0, 8)}`,
    object: 'event',
    type,
    data: { object },
  };
}

/** Stripe posts `events` (signed, through intake), then the worker runs their jobs. */
async function stripe(...events: Record<string, unknown>[]) {
  const rt = runtime();
  const intake = createWebhooksApp({ ...rt, background: () => {} });
  for (const event of events) {
    const body = JSON.stringify(event);
    const res = await intake.request('/webhooks/stripe', {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        ...signStripe(body, STRIPE_SECRET, Math.floor(Date.now() / 1000)),
      },
    });
    expect(res.status).toBe(200);
  }
  await createJobRunner(rt).pass({ queues: ['stripe', 'whatsapp'] });
}

/** PayPal events stored as intake stores them, then run by the worker. */
async function paypal(...events: Record<string, unknown>[]) {
  await database.db.query(
    `select * from ingest_events('paypal', $1::jsonb, '{}')`,
    [events.map((event, slot) => ({
      slot,
      key: event.id,
      type: event.event_type,
      kind: 'paypal.event',
      payload: event,
    }))],
  );
  await createJobRunner(runtime()).pass({ queues: ['paypal', 'whatsapp'] });
}

async function payment() {
  const [row] = await database.db.query<Record<string, unknown>>(
    `select p.status, p.ride_id, p.amount_cents::int as amount_cents,
            p.amount_refunded_cents::int as refunded, p.currency, r.payment_status as ride
       from ride_payments p left join rides r on r.id = p.ride_id`,
  );
  return row;
}

/** Outbound events the app emitted, oldest first. */
async function emitted() {
  return await database.db.query<{ type: string; ordering_key: string; previous: string }>(
    `select type, ordering_key, payload ->> 'previous_status' as previous
       from outbound_events order by id`,
  );
}

const told = () => graph.sent.map((s) => (s.body as { text: { body: string } }).text.body);

const succeeded = (pi: string) =>
  stripeEvent('payment_intent.succeeded', {
    id: pi,
    object: 'payment_intent',
    amount: 1250,
    amount_received: 1250,
    currency: 'kes',
    metadata: { ride_id: '' },
  });
const refunded = (pi: string) =>
  stripeEvent('charge.refunded', {
    id: 'ch_1',
    object: 'charge',
    payment_intent: pi,
    amount: 1250,
    amount_refunded: 1250,
    refunded: true,
    currency: 'kes',
  });

describe('ride payments', () => {
  it('pays a ride from a Stripe checkout, and tells the passenger once', async () => {
    const completed = stripeEvent('checkout.session.completed', {
      id: 'cs_1',
      object: 'checkout.session',
      payment_intent: 'pi_A',
      payment_status: 'paid',
      amount_total: 1250,
      currency: 'kes',
      client_reference_id: rideId,
    });
    const intent = succeeded('pi_A');
    (intent.data.object as { metadata: { ride_id: string } }).metadata.ride_id = rideId;
    await stripe(completed, intent);
    expect(await payment()).toEqual({
      status: 'succeeded',
      ride_id: rideId,
      amount_cents: 1250,
      refunded: 0,
      currency: 'KES',
      ride: 'paid',
    });
    expect(told()).toEqual(['Payment received: 12.50 KES for your ride Kencom → JKIA. Thank you!']);
    expect(graph.sent[0]!.body).toMatchObject({ to: PHONE });
  });

  it('ends refunded whatever the order: a refund before its success', async () => {
    await stripe(refunded('pi_B'));
    // The refund names no ride: the payment waits for the event that does.
    expect(await payment()).toMatchObject({ status: 'refunded', ride_id: null });
    const success = succeeded('pi_B');
    (success.data.object as { metadata: { ride_id: string } }).metadata.ride_id = rideId;
    await stripe(success);
    expect(await payment()).toMatchObject({
      status: 'refunded',
      ride_id: rideId,
      refunded: 1250,
      ride: 'refunded',
    });
    expect(told()).toEqual(['Your payment of 12.50 KES for the ride Kencom → JKIA was refunded.']);
    expect((await emitted()).map((event) => event.type)).toEqual(['payment.refunded']);
  });

  it('never moves back: a failure after a success, a repeated event, a late pending', async () => {
    const success = succeeded('pi_C');
    (success.data.object as { metadata: { ride_id: string } }).metadata.ride_id = rideId;
    await stripe(success);
    await stripe(
      stripeEvent('payment_intent.payment_failed', {
        id: 'pi_C',
        amount: 1250,
        metadata: { ride_id: rideId },
        last_payment_error: { message: 'Your card was declined.' },
      }),
      stripeEvent('checkout.session.completed', {
        id: 'cs_C',
        payment_intent: 'pi_C',
        payment_status: 'unpaid',
        client_reference_id: rideId,
      }),
    );
    expect(await payment()).toMatchObject({ status: 'succeeded', ride: 'paid' });
    expect(told()).toHaveLength(1);
    // Partners are told of the new state once, keyed by the ride so they arrive in order.
    expect(await emitted()).toEqual([
      { type: 'payment.succeeded', ordering_key: `ride:${rideId}`, previous: null },
    ]);
    // The same delivery again is a duplicate at intake: nothing runs twice.
    const res = await createWebhooksApp({ ...runtime(), background: () => {} }).request(
      '/webhooks/stripe',
      {
        method: 'POST',
        body: JSON.stringify(success),
        headers: {
          'content-type': 'application/json',
          ...signStripe(JSON.stringify(success), STRIPE_SECRET, Math.floor(Date.now() / 1000)),
        },
      },
    );
    expect(await res.json()).toEqual({ status: 'duplicate' });
  });

  it('lets a failed payment succeed on a retry, telling the passenger each time', async () => {
    await stripe(stripeEvent('payment_intent.payment_failed', {
      id: 'pi_D',
      amount: 900,
      currency: 'kes',
      metadata: { ride_id: rideId },
      last_payment_error: { message: 'Insufficient funds' },
    }));
    expect(await payment()).toMatchObject({ status: 'failed', ride: 'failed' });
    const retry = succeeded('pi_D');
    (retry.data.object as { metadata: { ride_id: string } }).metadata.ride_id = rideId;
    await stripe(retry);
    expect(await payment()).toMatchObject({ status: 'succeeded', ride: 'paid' });
    expect(told()).toEqual([
      'Your payment for the ride Kencom → JKIA did not go through (Insufficient funds). You can try again in the app.',
      'Payment received: 9.00 KES for your ride Kencom → JKIA. Thank you!',
    ]);
  });

  it('moves PayPal captures the same way, a refund naming its capture by link', async () => {
    await paypal({
      id: 'WH-REFUND-1',
      event_type: 'PAYMENT.CAPTURE.REFUNDED',
      resource: {
        id: 'REFUND-1',
        amount: { value: '15.00', currency_code: 'USD' },
        links: [{ rel: 'up', href: 'https://api.paypal.com/v2/payments/captures/CAP-1' }],
      },
    }, {
      id: 'WH-DONE-1',
      event_type: 'PAYMENT.CAPTURE.COMPLETED',
      resource: {
        id: 'CAP-1',
        amount: { value: '15.00', currency_code: 'USD' },
        custom_id: rideId,
      },
    });
    expect(await payment()).toEqual({
      status: 'refunded',
      ride_id: rideId,
      amount_cents: 1500,
      refunded: 1500,
      currency: 'USD',
      ride: 'refunded',
    });
  });

  it('audits each refund with the provider as the actor, once', async () => {
    const success = succeeded('pi_E');
    (success.data.object as { metadata: { ride_id: string } }).metadata.ride_id = rideId;
    await stripe(success);
    await stripe(refunded('pi_E'));
    await stripe(refunded('pi_E')); // another delivery saying the same: no second row
    // audit_logs is append-only: earlier tests' rows stay, so this payment's are picked out.
    const audits = await database.db.query<Record<string, unknown>>(
      `select actor, action, entity_type, before->>'status' as before, after->>'status' as after,
              request_id is not null as has_request
         from audit_logs where action = 'payment.refund' and context->>'payment' = 'pi_E'`,
    );
    expect(audits).toEqual([{
      actor: 'stripe webhook',
      action: 'payment.refund',
      entity_type: 'ride_payment',
      before: 'succeeded',
      after: 'refunded',
      has_request: true,
    }]);
  });

  it('lets passengers read their payments and no one else', async () => {
    const success = succeeded('pi_F');
    (success.data.object as { metadata: { ride_id: string } }).metadata.ride_id = rideId;
    await stripe(success);
    const asUser = (user: string) =>
      asRole(
        database.db,
        'authenticated',
        async (tx) => (await tx.query('select status from ride_payments')).length,
        { sub: user, role: 'authenticated' },
      );
    expect(await asUser(PASSENGER)).toBe(1);
    expect(await asUser('bbbbbbbb-0000-4000-8000-0000000000b2')).toBe(0);
  });
});

describe('manual adjustments', () => {
  async function paidRide() {
    const success = succeeded('pi_ADJ');
    (success.data.object as { metadata: { ride_id: string } }).metadata.ride_id = rideId;
    await stripe(success);
    const [{ id }] = await database.db.query<{ id: string }>(
      `select id from ride_payments where provider_payment_id = 'pi_ADJ'`,
    ) as [{ id: string }];
    return id;
  }

  it('sets a payment by hand with a reason, moves the ride and audits who did it', async () => {
    const id = await paidRide();
    await database.db.transaction(async (tx) => {
      await tx.query(`select set_config('gatehouse.actor', 'ops:amina', true)`);
      await tx.query(
        `select ride_payment_adjust($1, 'refunded', 'refunded in cash at the office')`,
        [
          id,
        ],
      );
    });
    expect(await payment()).toMatchObject({ status: 'refunded', ride: 'refunded' });
    const [audit] = await database.db.query<Record<string, unknown>>(
      `select actor, before->>'status' as before, after->>'status' as after,
              context->>'reason' as reason
         from audit_logs where action = 'payment.adjust' and entity_id = $1`,
      [id],
    );
    expect(audit).toEqual({
      actor: 'ops:amina',
      before: 'succeeded',
      after: 'refunded',
      reason: 'refunded in cash at the office',
    });
  });

  it('refuses a bad status, no reason, an unknown payment, and anyone but the service role', async () => {
    const id = await paidRide();
    const state = (sql: string, values: unknown[]) =>
      sqlState(() => database.db.query(sql, values));
    expect(await state(`select ride_payment_adjust($1, 'paid', 'x')`, [id])).toBe('22023');
    expect(await state(`select ride_payment_adjust($1, 'failed', ' ')`, [id])).toBe('22023');
    expect(
      await state(`select ride_payment_adjust($1, 'failed', 'x')`, [
        'cccccccc-0000-4000-8000-0000000000c9',
      ]),
    ).toBe('P0002');
    const asUser = await asRole(
      database.db,
      'authenticated',
      (tx) => sqlState(() => tx.query(`select ride_payment_adjust($1, 'refunded', 'mine')`, [id])),
      { sub: PASSENGER, role: 'authenticated' },
    );
    expect(asUser).toBe('42501');
    expect(await payment()).toMatchObject({ status: 'succeeded' });
  });
});

describe("the app's flags", () => {
  it('are seeded by migration, so every deployment lists them', async () => {
    const flags = await database.db.query<{ key: string; enabled: boolean }>(
      `select key, enabled from feature_flags where key like 'app.%' order by key`,
    );
    expect(flags).toEqual([
      { key: 'app.ocr', enabled: true },
      { key: 'app.payments', enabled: true },
      { key: 'app.rides', enabled: true },
      { key: 'app.vehicles', enabled: true },
    ]);
  });
});
