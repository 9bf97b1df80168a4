/**
 * Outbound webhooks on a real database, delivered to local receivers that verify every
 * request with the `standardwebhooks` package: the transactional outbox (a rolled-back emit
 * is never delivered), signatures across a secret rotation, the retry schedule and
 * Retry-After, 410, events held while an endpoint is off and caught up in order, ordering
 * per key under failures, the breaker, flow control, and a dead endpoint beside healthy ones.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import {
  createSecretBox,
  emitEvent,
  outboundDelivery,
  RETRY_SCHEDULE_MS,
} from '../functions/_shared/outbound/index.ts';
import { purgeOutboundEvents } from '../functions/_shared/outbound/emit.ts';
import {
  createEndpoint,
  type EndpointSettings,
  endpointUrlProblem,
  pauseEndpoint,
  resumeEndpoint,
  rotateSecret,
} from '../functions/_shared/outbound/endpoints.ts';
import { gatehouseMetrics } from '../functions/_shared/metrics/catalog.ts';
import { createMetrics } from '../functions/_shared/metrics/registry.ts';
import { createMetricsFunction } from '../functions/metrics/index.ts';
import { capturedLogger } from './support/logs.ts';
import { asRole, sqlState } from './support/rls.ts';
import { testRuntime } from './support/runtime.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

const database = useMigratedDatabase({
  reset: 'delete from webhook_endpoints; delete from outbound_events; delete from jobs; ' +
    'delete from dead_jobs; delete from circuit_breakers; delete from rate_limits;',
});

const KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const config = parseConfig({ GATEHOUSE_ENCRYPTION_KEY: KEY });
const box = createSecretBox(config.outbound.encryptionKeys);
/** The published schedule, a thousand times faster. */
const FAST_SCHEDULE = RETRY_SCHEDULE_MS.map((ms) => ms / 1000);

const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

async function receiver(): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver();
  receivers.push(started);
  return started;
}

/** A receiver and its endpoint, the receiver verifying with the endpoint's secret. */
async function subscribed(settings: Partial<EndpointSettings> = {}) {
  const target = await receiver();
  const { endpoint, secret } = await createEndpoint(database.db, {
    url: target.url,
    eventTypes: ['*'],
    ...settings,
  }, box);
  target.secrets = [secret];
  return { target, id: endpoint.id as string, secret };
}

/** The job engine with delivery set up as the platform sets it (a faster schedule). */
function engine(
  options: {
    schedule?: readonly number[];
    disableAfterMs?: number;
    outbound?: typeof config.outbound;
    metrics?: ReturnType<typeof gatehouseMetrics>;
  } = {},
) {
  const delivery = {
    ...outboundDelivery({
      config: options.outbound ?? config.outbound,
      db: database.db,
      clock: systemClock,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    }),
    schedule: options.schedule ?? FAST_SCHEDULE,
    ...(options.disableAfterMs === undefined ? {} : { disableAfterMs: options.disableAfterMs }),
  };
  const registry = createJobRegistry({ retentionDays: 7, outbound: delivery });
  return createJobRunner({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    registry,
  });
}

/** Runs the webhooks queue until `done` says so (or 15 s pass). */
async function runUntil(
  runner: ReturnType<typeof engine>,
  done: () => boolean | Promise<boolean>,
  withinMs = 15_000,
) {
  const deadline = Date.now() + withinMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not done within ${withinMs} ms`);
    await runner.pass({ queues: ['webhooks'] });
    await new Promise((next) => setTimeout(next, 5));
  }
}

async function emit(type: string, data: unknown, orderingKey?: string) {
  return await database.db.transaction((tx) => emitEvent(tx, type, data, { orderingKey }));
}

async function messages(endpoint: string) {
  return await database.db.query<{ status: string; attempts: number; type: string }>(
    `select m.status, m.attempts, ev.type from outbound_messages m
       join outbound_events ev on ev.id = m.event_id where m.endpoint_id = $1 order by m.id`,
    [endpoint],
  );
}

async function attempts(endpoint: string) {
  return await database.db.query<{ outcome: string; status_code: number | null; error: string }>(
    `select outcome, status_code, error from webhook_deliveries where endpoint_id = $1
      order by id`,
    [endpoint],
  );
}

describe('delivery', () => {
  it('delivers an emitted event, signed, to every subscribed endpoint only', async () => {
    const rides = await subscribed({ eventTypes: ['ride.*'] });
    const payments = await subscribed({ eventTypes: ['payment.succeeded'] });
    const id = await emit('ride.requested', { ride_id: 'r1' });
    const runner = engine();
    await runUntil(runner, () => rides.target.received.length === 1);
    const [event] = await database.db.query<{ message_id: string }>(
      'select message_id from outbound_events where id = $1',
      [id],
    );
    expect(rides.target.received[0]).toMatchObject({
      id: event!.message_id,
      type: 'ride.requested',
      data: { ride_id: 'r1' },
      signatures: 1,
      verifiedBy: [0],
    });
    expect(rides.target.rejected).toEqual([]);
    expect(payments.target.received).toEqual([]);
    expect(await attempts(rides.id)).toMatchObject([{ outcome: 'succeeded', status_code: 200 }]);
    expect(await messages(rides.id)).toMatchObject([{ status: 'succeeded', attempts: 1 }]);
  });

  it('never delivers an event whose transaction rolled back', async () => {
    const { target } = await subscribed();
    await expect(database.db.transaction(async (tx) => {
      await emitEvent(tx, 'ride.cancelled', { ride_id: 'gone' });
      throw new Error('the business write failed');
    })).rejects.toThrow('the business write failed');
    await emit('ride.requested', { ride_id: 'kept' });
    await runUntil(engine(), () => target.received.length >= 1);
    expect(target.received.map((r) => r.data.ride_id)).toEqual(['kept']);
    const [{ n }] = await database.db.query<{ n: number }>(
      `select count(*)::int as n from outbound_events where type = 'ride.cancelled'`,
    ) as [{ n: number }];
    expect(n).toBe(0);
  });

  it('signs with the old and the new secret during a rotation, then the new one only', async () => {
    const { target, id, secret: old } = await subscribed();
    const rotated = await rotateSecret(database.db, id, box, 60_000);
    target.secrets = [old, rotated!.secret];
    await emit('ride.requested', { n: 1 });
    const runner = engine();
    await runUntil(runner, () => target.received.length === 1);
    expect(target.received[0]).toMatchObject({ signatures: 2, verifiedBy: [0, 1] });

    // A receiver that has only the new secret, after the overlap ended.
    await database.db.query(
      `update webhook_endpoint_secrets set expires_at = now() where endpoint_id = $1
          and expires_at is not null`,
      [id],
    );
    target.secrets = [rotated!.secret];
    await emit('ride.requested', { n: 2 });
    await runUntil(runner, () => target.received.length === 2);
    expect(target.received[1]).toMatchObject({ signatures: 1, verifiedBy: [0] });
    const audit = await database.db.query<{ action: string; after: { hint?: string } | null }>(
      `select action, after from audit_logs where entity_id = $1 order by id`,
      [id],
    );
    expect(audit.map((row) => row.action)).toEqual([
      'webhook_endpoint.insert',
      'webhook_endpoint.secret_added',
      'webhook_endpoint.secret_changed',
      'webhook_endpoint.secret_added',
      'webhook_endpoint.secret_changed',
    ]);
    expect(JSON.stringify(audit)).not.toContain(rotated!.secret.slice(6, 20));
  });
});

describe('retries', () => {
  it('retries on the published schedule with the same webhook-id, then succeeds', async () => {
    const { target, id } = await subscribed();
    target.script.push({ status: 500 }, { status: 502 }, { status: 503 });
    await emit('payment.succeeded', { payment: 'p1' });
    await runUntil(engine(), () => target.received.length === 4);
    const times = target.received.map((r) => r.at);
    const gaps = times.slice(1).map((at, i) => at - times[i]!);
    // After failed attempt n the next waits at least schedule[n-1].
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(FAST_SCHEDULE[i]!));
    expect(new Set(target.received.map((r) => r.id)).size).toBe(1);
    expect((await attempts(id)).map((a) => a.status_code)).toEqual([500, 502, 503, 200]);
    expect(await messages(id)).toMatchObject([{ status: 'succeeded', attempts: 4 }]);
  });

  it('gives up after eight attempts and keeps the message as failed', async () => {
    const { target, id } = await subscribed();
    // A 400 is a failed attempt that does not count against the endpoint's breaker.
    target.always = { status: 400 };
    await emit('payment.failed', {});
    const runner = engine({ schedule: FAST_SCHEDULE.map(() => 1) });
    await runUntil(runner, async () => (await messages(id))[0]?.status === 'failed');
    expect(target.received).toHaveLength(8);
    expect(await messages(id)).toMatchObject([{ status: 'failed', attempts: 8 }]);
    await runner.pass({ queues: ['webhooks'] });
    expect(target.received).toHaveLength(8);
  });

  it("waits as long as a 429's Retry-After asks", async () => {
    const { target } = await subscribed();
    target.script.push({ status: 429, headers: { 'retry-after': '1' } });
    await emit('ride.requested', {});
    await runUntil(engine(), () => target.received.length === 2);
    expect(target.received[1]!.at - target.received[0]!.at).toBeGreaterThanOrEqual(1_000);
  });
});

describe('endpoints that go away', () => {
  it('disables an endpoint that answers 410, holds its events, and catches up in order once re-enabled', async () => {
    const { target, id } = await subscribed();
    target.script.push({ status: 410 });
    const runner = engine();
    await emit('ride.requested', { n: 1 }, 'ride-1');
    await runUntil(runner, async () => (await messages(id))[0]?.status === 'held');
    const [endpoint] = await database.db.query<{ status: string; status_reason: string }>(
      'select status, status_reason from webhook_endpoints where id = $1',
      [id],
    );
    expect(endpoint).toEqual({
      status: 'disabled',
      status_reason: 'the endpoint answered 410 Gone',
    });
    for (const n of [2, 3, 4]) await emit('ride.updated', { n }, 'ride-1');
    await runner.pass({ queues: ['webhooks'] });
    expect((await messages(id)).map((m) => m.status)).toEqual(['held', 'held', 'held', 'held']);
    expect(target.received).toHaveLength(1);

    const resumed = await resumeEndpoint(database.db, id);
    expect(resumed?.released).toBe(4);
    await runUntil(runner, () => target.received.length === 5);
    expect(target.received.slice(1).map((r) => r.data.n)).toEqual([1, 2, 3, 4]);
  });

  it('disables an endpoint failing for longer than the limit, holding its events', async () => {
    const { target, id } = await subscribed();
    target.always = { status: 500 };
    await emit('ride.requested', {});
    const runner = engine({ disableAfterMs: 300, schedule: FAST_SCHEDULE.map(() => 100) });
    await runUntil(runner, async () => (await messages(id))[0]?.status === 'held');
    const [endpoint] = await database.db.query<{ status: string; status_reason: string }>(
      'select status, status_reason from webhook_endpoints where id = $1',
      [id],
    );
    expect(endpoint!.status).toBe('disabled');
    expect(endpoint!.status_reason).toMatch(/^failing since \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  });

  it('holds events while paused and sends them on resume', async () => {
    const { target, id } = await subscribed({ maxInFlight: 1 });
    await pauseEndpoint(database.db, id, 'partner maintenance');
    for (const n of [1, 2, 3]) await emit('ride.updated', { n }, 'ride-7');
    const runner = engine();
    await runner.pass({ queues: ['webhooks'] });
    expect(target.received).toEqual([]);
    await resumeEndpoint(database.db, id);
    await runUntil(runner, () => target.received.length === 3);
    expect(target.received.map((r) => r.data.n)).toEqual([1, 2, 3]);
  });
});

describe('recovery', () => {
  it("lets a job whose attempt's transaction failed try again at once, and anyone else wait for the lease", async () => {
    const { target } = await subscribed();
    await emit('ride.requested', {});
    const [job] = await database.db.query<{ id: number; message: number }>(
      `select id, (payload ->> 'message_id')::int8 as message from jobs where queue = 'webhooks'`,
    );
    // The attempt began, then its transaction was lost before it recorded anything.
    await database.db.query('select * from webhook_message_begin($1, 30000, $2)', [
      job!.message,
      job!.id,
    ]);
    const [other] = await database.db.query<{ outcome: string; retry_in_ms: number }>(
      'select outcome, retry_in_ms from webhook_message_begin($1, 30000, $2)',
      [job!.message, job!.id + 1000],
    );
    expect(other!.outcome).toBe('busy');
    expect(other!.retry_in_ms).toBeGreaterThan(25_000);
    await runUntil(engine(), () => target.received.length === 1);
    expect(
      await messages(
        (await database.db.query<{ endpoint_id: string }>(
          'select endpoint_id from outbound_messages',
        ))[0]!.endpoint_id,
      ),
    ).toMatchObject([{ status: 'succeeded', attempts: 2 }]);
  });
});

describe('a job run again after its completion was lost', () => {
  it('leaves a settled message alone, and a failed one to its scheduled retry', async () => {
    const { target, id } = await subscribed();
    target.script.push({ status: 500 });
    await emit('ride.requested', { ride: 'r1' });
    await emit('ride.cancelled', { ride: 'r1' });
    const runner = engine({ schedule: [60_000] });
    await runUntil(runner, () => target.received.length === 2);
    await runUntil(
      runner,
      async () =>
        (await database.db.query(`select 1 from jobs where status <> 'completed'`)).length === 1,
    );
    // Both attempts were recorded; then, as if their jobs' completions had been lost, the
    // jobs run again.
    await database.db.query(
      `update jobs set status = 'pending', run_at = now(), locked_by = null
        where queue = 'webhooks' and status = 'completed'`,
    );
    await runUntil(
      runner,
      async () =>
        (await database.db.query(`select 1 from jobs where status = 'completed'`)).length === 2,
    );
    expect(target.received).toHaveLength(2);
    // Whichever arrived first got the 500.
    expect((await messages(id)).map((m) => `${m.status} after ${m.attempts}`).sort()).toEqual([
      'pending after 1',
      'succeeded after 1',
    ]);
    expect((await attempts(id)).map((a) => a.status_code).sort()).toEqual([200, 500]);
  });
});

describe('flow control', () => {
  it('keeps events with one ordering key in order through failures, without holding other keys', async () => {
    const { target } = await subscribed();
    // The first event of ride-1 fails twice: the rest of ride-1 waits, ride-2 does not.
    let failures = 0;
    target.decide = (request) =>
      request.data.key === 'ride-1' && request.data.n === 1 && failures++ < 2
        ? { status: 500 }
        : null;
    await emit('ride.requested', { key: 'ride-1', n: 1 }, 'ride-1');
    for (const n of [2, 3]) await emit('ride.updated', { key: 'ride-1', n }, 'ride-1');
    await emit('ride.requested', { key: 'ride-2', n: 1 }, 'ride-2');
    await runUntil(engine(), () => target.received.length === 6);
    const ride1 = target.received.filter((r) => r.data.key === 'ride-1').map((r) => r.data.n);
    expect(ride1).toEqual([1, 1, 1, 2, 3]);
    const firstRide2 = target.received.findIndex((r) => r.data.key === 'ride-2');
    const lastFirstOfRide1 = target.received.findLastIndex((r) =>
      r.data.key === 'ride-1' && r.data.n === 1
    );
    expect(firstRide2).toBeLessThan(lastFirstOfRide1);
  });

  it('opens the endpoint breaker after repeated failures: later attempts are not sent or counted', async () => {
    const { target, id } = await subscribed();
    target.always = { status: 503 };
    for (let n = 0; n < 16; n += 1) await emit('ride.updated', { n });
    const runner = engine({ schedule: FAST_SCHEDULE.map(() => 60_000) });
    await runUntil(runner, async () => {
      const [row] = await database.db.query<{ state: string }>(
        `select state from circuit_breakers where name = $1`,
        [`webhook:${id}`],
      );
      return row?.state === 'open';
    });
    // Attempts already out when it opened still land; none start after.
    const sent = target.received.length;
    expect(sent).toBeGreaterThanOrEqual(5);
    expect(sent).toBeLessThan(16);
    await runner.pass({ queues: ['webhooks'] });
    expect(target.received).toHaveLength(sent);
    const counted = (await messages(id)).reduce((sum, m) => sum + m.attempts, 0);
    expect(counted).toBe(sent);
    expect((await attempts(id)).every((a) => a.status_code === 503)).toBe(true);
  });

  it('keeps at most max_in_flight attempts out at once', async () => {
    const { target } = await subscribed({ maxInFlight: 2 });
    target.always = { status: 200, delayMs: 50 };
    for (let n = 0; n < 10; n += 1) await emit('ride.updated', { n });
    await runUntil(engine(), () => target.received.length === 10);
    expect(target.maxInFlight()).toBe(2);
  });

  it('spends the endpoint rate limit, then waits for it', async () => {
    const { target } = await subscribed({ rateLimitPerSecond: 5 });
    for (let n = 0; n < 8; n += 1) await emit('ride.updated', { n });
    const started = Date.now();
    await runUntil(engine(), () => target.received.length === 8);
    // Five at once, then one every 200 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    const times = target.received.map((r) => r.at).sort((a, b) => a - b);
    expect(times[7]! - times[0]!).toBeGreaterThanOrEqual(500);
  });

  it('delivers to four healthy endpoints while a fifth never answers', async () => {
    const healthy = await Promise.all([1, 2, 3, 4].map(() => subscribed()));
    const dead = await subscribed();
    dead.target.always = { hang: true };
    for (let n = 0; n < 20; n += 1) await emit('ride.updated', { n });
    const started = Date.now();
    const runner = engine();
    // One pass runs until its jobs end; the dead endpoint's attempts hang for 15 s.
    const pass = runner.pass({ queues: ['webhooks'] });
    const deadline = Date.now() + 10_000;
    while (healthy.some((h) => h.target.received.length < 20) && Date.now() < deadline) {
      await new Promise((next) => setTimeout(next, 20));
    }
    const tookMs = Date.now() - started;
    expect(healthy.map((h) => h.target.received.length)).toEqual([20, 20, 20, 20]);
    expect(tookMs).toBeLessThan(10_000);
    // The dead one holds no more than its own slots.
    expect(dead.target.inFlight()).toBeGreaterThan(0);
    expect(dead.target.maxInFlight()).toBeLessThanOrEqual(4);
    await dead.target.close();
    await pass;
  }, 30_000);
});

describe('targets', () => {
  it('refuses loopback and private targets in production, at registration and at delivery', async () => {
    const production = parseConfig({
      GATEHOUSE_ENV: 'production',
      GATEHOUSE_ENCRYPTION_KEY: KEY,
      GATEHOUSE_SERVICE_KEY: 'x'.repeat(40),
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
    }).outbound;
    for (
      const url of [
        'http://127.0.0.1:9/hook',
        'https://127.0.0.1/hook',
        'https://10.1.2.3/x',
        'https://[::ffff:169.254.169.254]/x',
        'https://localhost/x',
      ]
    ) {
      expect(endpointUrlProblem(url, production), url).not.toBeNull();
    }
    expect(endpointUrlProblem('https://hooks.example.com/in', production)).toBeNull();

    // An endpoint stored anyway (SQL, or a name that resolves privately later) is refused
    // when its delivery is attempted.
    const { target, id } = await subscribed();
    const runner = engine({ outbound: production });
    await emit('ride.requested', {});
    await runUntil(runner, async () => (await attempts(id)).length >= 1);
    expect(target.received).toEqual([]);
    expect((await attempts(id))[0]).toMatchObject({ outcome: 'failed', status_code: null });
    expect((await attempts(id))[0]!.error).toMatch(/^blocked_address: 127\.0\.0\.1 /);
  });
});

describe('metrics', () => {
  it('counts attempts by endpoint and outcome, times event → 2xx, and shows backlog and breakers', async () => {
    const { target, id } = await subscribed();
    target.script.push({ status: 500 });
    const registry = createMetrics();
    const runner = engine({ metrics: gatehouseMetrics(registry) });
    await emit('ride.requested', {});
    await runUntil(runner, () => target.received.length === 2);
    const deltas = registry.drain();
    const count = (outcome: string) =>
      deltas.find((d) =>
        d.name === 'gatehouse_outbound_deliveries_total' && d.labels.endpoint === id &&
        d.labels.outcome === outcome
      )?.value;
    expect(count('failed')).toBe(1);
    expect(count('succeeded')).toBe(1);
    const latency = deltas.find((d) => d.name === 'gatehouse_outbound_event_to_success_seconds');
    expect(latency?.count).toBe(1);

    // Live: a paused endpoint's held backlog and its age.
    await pauseEndpoint(database.db, id, null);
    await emit('ride.updated', {});
    const app = createMetricsFunction(
      testRuntime({
        config: parseConfig({ METRICS_TOKEN: 'm'.repeat(32) }),
        db: database.db,
        logger: capturedLogger().logger,
        clock: systemClock,
      }),
    );
    const text = await (await app.request('/metrics', {
      headers: { authorization: `Bearer ${'m'.repeat(32)}` },
    })).text();
    expect(text).toContain(`gatehouse_outbound_backlog{endpoint="${id}",status="held"} 1`);
    expect(text).toMatch(
      new RegExp(`gatehouse_outbound_backlog_age_seconds\\{endpoint="${id}"\\} \\d`),
    );
    expect(text).toContain(`gatehouse_outbound_breaker_open{endpoint="${id}"} 0`);
  });
});

describe('who may emit and deliver', () => {
  it('refuses the outbox functions to anon and signed-in users', async () => {
    const calls = [
      `select emit_event('ride.requested', '{}')`,
      `select * from webhook_message_begin(1, 1000, 1)`,
      `select webhook_message_finish(1, 1, 'succeeded', 200, 1, null, null, null, '1 hour')`,
      `select webhook_endpoint_release_held(gen_random_uuid())`,
      `select * from webhook_messages_replay(gen_random_uuid(), now(), now(), true, null, 10)`,
    ];
    for (const role of ['anon', 'authenticated'] as const) {
      for (const sql of calls) {
        const refused = await sqlState(() => asRole(database.db, role, (tx) => tx.query(sql)));
        expect(refused, `${role}: ${sql}`).toBe('42501');
      }
    }
  });
});

describe('retention', () => {
  it('purges old events once every delivery finished, and keeps undelivered ones however old', async () => {
    const { target, id } = await subscribed();
    await emit('ride.requested', { n: 1 });
    await runUntil(engine(), () => target.received.length === 1);
    await pauseEndpoint(database.db, id, null);
    await emit('ride.requested', { n: 2 });
    await database.db.query(`update outbound_events set created_at = now() - interval '40 days'`);
    expect(await purgeOutboundEvents(database.db, 30, 100)).toBe(1);
    const left = await database.db.query<{ payload: { n: number } }>(
      'select payload from outbound_events',
    );
    expect(left.map((row) => row.payload.n)).toEqual([2]);
    expect(await attempts(id)).toEqual([]);
  });
});
