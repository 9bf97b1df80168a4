/**
 * Alerts on a real database, delivered to a local Slack incoming-webhook stub: an alert
 * fires once, is not repeated while it keeps firing and resolves, with two instances
 * running the job engine at once; receivers that fail are retried or refused; each
 * built-in rule fires from what it watches.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AlertRule,
  ALERTS_EVALUATE_KIND,
  ALERTS_NOTIFY_KIND,
  evaluateAlerts,
  outboundEndpointsDisabled,
  paymentIntakeFailing,
  queueBacklog,
  sloFastBurn,
  slowJobs,
  webhookProcessingFailures,
} from '../functions/_shared/alerts/index.ts';
import { ConfigError, parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRunner, type JobRunner } from '../functions/_shared/jobs/index.ts';
import { CATALOG } from '../functions/_shared/metrics/catalog.ts';
import type { SeriesDelta } from '../functions/_shared/metrics/registry.ts';
import { writeDeltas } from '../functions/_shared/metrics/store.ts';
import {
  QUEUE_DEPTH_METRIC,
  QUEUE_OLDEST_METRIC,
  sampleQueues,
} from '../functions/_shared/queue/history.ts';
import { enqueueJobs } from '../functions/_shared/queue/store.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { type SlackReceiver, startSlackReceiver } from './support/slack-receiver.ts';

const database = useMigratedDatabase({
  reset: 'delete from alerts; delete from jobs; delete from dead_jobs; ' +
    'delete from system_metrics; delete from slow_jobs;',
});

let slack: SlackReceiver;
beforeEach(async () => {
  slack = await startSlackReceiver();
});
afterEach(async () => {
  await slack.close();
});

/** A clock the test moves: the minute decides which evaluation job is scheduled. */
function testClock(start = Date.parse('2026-12-06T10:00:05Z')) {
  let now = start;
  return {
    now: () => now,
    advanceMinutes(minutes: number) {
      now += minutes * 60_000;
    },
  };
}

/** One Gatehouse instance's job engine: its own worker id, the shared database. */
function instance(clock: { now(): number }, env: Record<string, string> = {}): JobRunner {
  return createJobRunner({
    config: parseConfig({ GATEHOUSE_ALERT_WEBHOOK_URL_P2: slack.url, ...env }),
    db: database.db,
    logger: capturedLogger().logger,
    clock,
  });
}

/** What the local scheduler and the worker function do: a pass with maintenance, here only
 * the platform's queue, so the backlog the test builds stays put. */
async function passOn(...runners: JobRunner[]) {
  return await Promise.all(
    runners.map((runner) => runner.pass({ queues: ['gatehouse'], maintenance: true })),
  );
}

async function alertRows() {
  return await database.db.query<{
    rule: string;
    severity: string;
    value: number;
    resolved_at: Date | null;
    fired_notified_at: Date | null;
    resolved_notified_at: Date | null;
  }>(
    `select rule, severity, value, resolved_at, fired_notified_at, resolved_notified_at
       from alerts order by id`,
  );
}

async function buildBacklog(jobs: number) {
  await enqueueJobs(
    database.db,
    Array.from({ length: jobs }, () => ({ queue: 'backlog', kind: 'never.runs' })),
  );
}

describe('an alert, end to end with two instances', () => {
  it('fires once, is not repeated while it keeps firing, and resolves once', async () => {
    const clock = testClock();
    const [a, b] = [instance(clock), instance(clock)];
    await buildBacklog(1_001);

    await passOn(a, b);
    expect(slack.messages).toHaveLength(1);
    expect(slack.messages[0]).toContain('[P2] FIRING: queue_backlog (development)');
    expect(slack.messages[0]).toContain('1001 jobs due (threshold 1000)');

    // Later minutes: each evaluates again and finds it still firing; nothing is sent.
    for (let minute = 0; minute < 3; minute++) {
      clock.advanceMinutes(1);
      await passOn(a, b);
    }
    expect(slack.messages).toHaveLength(1);
    const evaluations = await database.db.query<{ n: string | number }>(
      `select count(*) as n from jobs where kind = $1 and status = 'completed'`,
      [ALERTS_EVALUATE_KIND],
    );
    expect(Number(evaluations[0]!.n)).toBe(4); // one a minute, however many instances ask

    await database.db.query(`delete from jobs where queue = 'backlog'`);
    clock.advanceMinutes(1);
    await passOn(a, b);
    clock.advanceMinutes(1);
    await passOn(a, b);
    expect(slack.messages).toHaveLength(2);
    expect(slack.messages[1]).toContain('[P2] RESOLVED: queue_backlog');
    expect(slack.messages[1]).toMatch(/Cleared after \d+ min/);

    const rows = await alertRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ rule: 'queue_backlog', severity: 'P2', value: 1001 });
    expect(rows[0]!.resolved_at).not.toBeNull();
    expect(rows[0]!.fired_notified_at).not.toBeNull();
    expect(rows[0]!.resolved_notified_at).not.toBeNull();
  });

  it('notifies once when evaluations run at the same moment on both instances', async () => {
    const clock = testClock();
    await buildBacklog(1_001);
    // Two evaluations due at once (as when a pass overlaps the next minute's), one per
    // instance, each in its own transaction.
    await enqueueJobs(database.db, [
      { queue: 'gatehouse', kind: ALERTS_EVALUATE_KIND, dedupeKey: 'eval-1' },
      { queue: 'gatehouse', kind: ALERTS_EVALUATE_KIND, dedupeKey: 'eval-2' },
    ]);
    const [a, b] = [instance(clock), instance(clock)];
    await Promise.all([a.pass({ queues: ['gatehouse'] }), b.pass({ queues: ['gatehouse'] })]);
    expect(slack.messages).toHaveLength(1);
    const notifications = await database.db.query(
      `select id from jobs where kind = $1`,
      [ALERTS_NOTIFY_KIND],
    );
    expect(notifications).toHaveLength(1);
  });

  it('opens a new incident when the condition comes back after resolving', async () => {
    const clock = testClock();
    const a = instance(clock);
    await buildBacklog(1_001);
    await passOn(a);
    await database.db.query(`delete from jobs where queue = 'backlog'`);
    clock.advanceMinutes(1);
    await passOn(a);
    await buildBacklog(1_500);
    clock.advanceMinutes(1);
    await passOn(a);
    expect(slack.messages.map((text) => text.split('\n')[0])).toEqual([
      '*[P2] FIRING: queue_backlog (development)*',
      '*[P2] RESOLVED: queue_backlog (development)*',
      '*[P2] FIRING: queue_backlog (development)*',
    ]);
    expect((await alertRows()).map((row) => row.resolved_at === null)).toEqual([false, true]);
  });
});

describe('the queue samples the evaluation takes', () => {
  const sampled = (name: string) =>
    database.db.query<{ queue: string | null; value: number; count: number }>(
      `select labels ->> 'queue' as queue, value, count::int as count from system_metrics
        where name = $1 and kind = 'gauge' and width = interval '1 minute'
          and (labels ->> 'queue') is distinct from 'gatehouse'
        order by queue nulls first`,
      [name],
    );

  it('records each minute the due jobs and the oldest one, by queue and in all', async () => {
    await buildBacklog(5);
    await database.db.query(`update jobs set run_at = now() - interval '90 seconds'`);
    await passOn(instance(testClock()));
    expect(await sampled(QUEUE_DEPTH_METRIC)).toEqual([
      { queue: null, value: 5, count: 1 },
      { queue: 'backlog', value: 5, count: 1 },
    ]);
    const oldest = await sampled(QUEUE_OLDEST_METRIC);
    expect(oldest.map((row) => row.queue)).toEqual([null, 'backlog']);
    for (const row of oldest) expect(row.value).toBeGreaterThanOrEqual(90);
  });

  it('keeps the higher of two samples in a minute, and writes 0 when the queues are empty', async () => {
    const at = new Date('2026-12-06T10:00:05Z');
    expect(await sampleQueues(database.db, { at })).toBe(2); // all queues: depth and oldest
    expect(await sampled(QUEUE_DEPTH_METRIC)).toEqual([{ queue: null, value: 0, count: 1 }]);
    await buildBacklog(3);
    await sampleQueues(database.db, { at: new Date('2026-12-06T10:00:30Z') });
    await database.db.query(`delete from jobs where queue = 'backlog'`);
    await sampleQueues(database.db, { at: new Date('2026-12-06T10:00:59Z') });
    const rows = await sampled(QUEUE_DEPTH_METRIC);
    expect(rows.find((row) => row.queue === null)).toEqual({ queue: null, value: 3, count: 3 });
    expect(rows.find((row) => row.queue === 'backlog')).toEqual({
      queue: 'backlog',
      value: 3,
      count: 1,
    });
  });
});

describe('delivery to the receiver', () => {
  it('retries a receiver that answers 5xx or 429, and sends the message once it takes it', async () => {
    const clock = testClock();
    const a = instance(clock);
    await buildBacklog(1_001);
    slack.failNext.push(503, 429);
    await passOn(a);
    // Each retry's backoff passes (made due here) until the receiver takes the message.
    for (let round = 0; round < 5 && slack.messages.length === 0; round++) {
      await database.db.query(
        `update jobs set run_at = now() where kind = $1 and status = 'pending'`,
        [ALERTS_NOTIFY_KIND],
      );
      await a.pass({ queues: ['gatehouse'] });
    }
    expect(slack.answered).toEqual([503, 429, 200]);
    expect(slack.messages).toHaveLength(1);
    const [job] = await database.db.query<{ status: string; errors: { error: string }[] }>(
      `select status, errors from jobs where kind = $1`,
      [ALERTS_NOTIFY_KIND],
    );
    expect(job!.status).toBe('completed');
    expect(job!.errors.map((entry) => entry.error)).toEqual([
      'Error: alert receiver answered 503',
      'RetryJobError: alert receiver rate-limited us (429)',
    ]);
    expect((await alertRows())[0]!.fired_notified_at).not.toBeNull();
  });

  it('waits for the Retry-After of a 429 before trying again', async () => {
    const a = instance(testClock());
    await buildBacklog(1_001);
    slack.failNext.push(429); // Retry-After: 1
    await passOn(a);
    const [job] = await database.db.query<{ status: string; wait_s: number }>(
      `select status,
              extract(epoch from run_at - (errors->-1->>'at')::timestamptz)::float8 as wait_s
         from jobs where kind = $1`,
      [ALERTS_NOTIFY_KIND],
    );
    expect(job!.status).toBe('pending');
    expect(job!.wait_s).toBeGreaterThanOrEqual(0.99);
  });

  it('dead-letters a message the receiver refuses (a wrong URL), never logging the URL', async () => {
    const clock = testClock();
    const logs = capturedLogger();
    const a = createJobRunner({
      config: parseConfig({ GATEHOUSE_ALERT_WEBHOOK_URL_P2: `${slack.url}-revoked` }),
      db: database.db,
      logger: logs.logger,
      clock,
    });
    await buildBacklog(1_001);
    await passOn(a);
    const [dead] = await database.db.query<{ last_error: string }>(
      `select last_error from dead_jobs where kind = $1`,
      [ALERTS_NOTIFY_KIND],
    );
    expect(dead!.last_error).toBe('PermanentJobError: alert receiver refused the message (404)');
    expect(JSON.stringify(logs.lines)).not.toContain(slack.url.split('/').pop());
    expect((await alertRows())[0]!.fired_notified_at).toBeNull();
  });

  it('records an alert whose severity has no receiver without sending anything', async () => {
    const clock = testClock();
    const a = instance(clock, { GATEHOUSE_ALERT_WEBHOOK_URL_P2: '' });
    await buildBacklog(1_001);
    await passOn(a);
    expect(slack.messages).toHaveLength(0);
    expect(await alertRows()).toMatchObject([{ rule: 'queue_backlog', fired_notified_at: null }]);
    const [job] = await database.db.query<{ status: string }>(
      `select status from jobs where kind = $1`,
      [ALERTS_NOTIFY_KIND],
    );
    expect(job!.status).toBe('completed');
  });

  it('fires nothing when GATEHOUSE_ALERTS=false, and still samples the queues each minute', async () => {
    const a = instance(testClock(), { GATEHOUSE_ALERTS: 'false' });
    await buildBacklog(1_001);
    await passOn(a);
    expect(await alertRows()).toHaveLength(0);
    expect(slack.messages).toHaveLength(0);
    // The console's queue chart still gets its point.
    const samples = await database.db.query<{ labels: Record<string, string> }>(
      `select labels from system_metrics where name = 'gatehouse_queue_depth'`,
    );
    expect(samples.length).toBeGreaterThan(0);
  });
});

function series(name: string, labels: Record<string, string>, value: number): SeriesDelta {
  return { name, kind: 'counter', labels, value, count: 0, bounds: null, counts: null };
}

/** Evaluates `rules` once now, in a transaction, and says which fired. */
async function evaluate(rules: readonly AlertRule[]) {
  return await database.db.transaction((tx) =>
    evaluateAlerts(tx, rules, { now: Date.now(), logger: capturedLogger().logger })
  );
}

describe('the built-in rules', () => {
  it('payment intake failing (P0): payment deliveries answered 5xx or payment jobs dead', async () => {
    const stripe = { function: 'webhooks', route: '/webhooks/stripe', method: 'POST' };
    await writeDeltas(database.db, [
      series(CATALOG.httpRequests.name, { ...stripe, status: '503' }, 2),
      series(CATALOG.httpRequests.name, { ...stripe, status: '401' }, 500), // forgeries
      series(
        CATALOG.httpRequests.name,
        { ...stripe, route: '/webhooks/whatsapp', status: '503' },
        9,
      ),
    ], Date.now());
    expect((await evaluate([paymentIntakeFailing])).fired).toEqual([]);
    await writeDeltas(database.db, [
      series(CATALOG.jobs.name, { kind: 'paypal.event', outcome: 'dead' }, 1),
    ], Date.now());
    expect((await evaluate([paymentIntakeFailing])).fired).toEqual(['payment_intake_failing']);
    const [row] = await database.db.query<{ severity: string; summary: string }>(
      'select severity, summary from alerts',
    );
    expect(row).toEqual({
      severity: 'P0',
      summary:
        '2 payment deliveries answered 5xx and 1 payment jobs dead-lettered in the last 10 minutes (threshold 3)',
    });
  });

  it('webhook processing failures (P1): more than 10 failed runs in the hour', async () => {
    const now = Date.now();
    await writeDeltas(database.db, [
      series(CATALOG.jobs.name, { kind: 'whatsapp.message', outcome: 'retried' }, 6),
      series(CATALOG.jobs.name, { kind: 'stripe.event', outcome: 'dead' }, 4),
      series(CATALOG.jobs.name, { kind: 'gatehouse.retention', outcome: 'dead' }, 50),
    ], now);
    await writeDeltas(database.db, [
      series(CATALOG.jobs.name, { kind: 'stripe.event', outcome: 'retried' }, 100),
    ], now - 2 * 3_600_000);
    expect((await evaluate([webhookProcessingFailures])).firing).toEqual([]);
    await writeDeltas(database.db, [
      series(CATALOG.jobs.name, { kind: 'whatsapp.message', outcome: 'lost' }, 1),
    ], now);
    expect((await evaluate([webhookProcessingFailures])).fired).toEqual([
      'webhook_processing_failures',
    ]);
  });

  it('queue backlog (P2): more than 1,000 jobs due', async () => {
    await buildBacklog(1_000);
    expect((await evaluate([queueBacklog])).firing).toEqual([]);
    await buildBacklog(1);
    expect((await evaluate([queueBacklog])).fired).toEqual(['queue_backlog']);
  });

  it('outbound endpoints disabled (P2): names the host, reason, held events and owner', async () => {
    await database.db.query('delete from webhook_endpoints');
    const [endpoint] = await database.db.query<{ id: string }>(
      `insert into webhook_endpoints (url, event_types, created_by)
       values ('https://erp.example.com/hooks?token=s3cret', '{ride.*}', 'ops:amina') returning id`,
    );
    expect((await evaluate([outboundEndpointsDisabled])).firing).toEqual([]);
    await database.db.query(
      `update webhook_endpoints set status = 'disabled', status_reason = 'the endpoint answered 410 Gone'
        where id = $1`,
      [endpoint!.id],
    );
    const [event] = await database.db.query<{ id: number }>(
      `insert into outbound_events (type, payload) values ('ride.updated', '{}') returning id`,
    );
    await database.db.query(
      `insert into outbound_messages (event_id, endpoint_id, status) values ($1, $2, 'held')`,
      [event!.id, endpoint!.id],
    );
    expect((await evaluate([outboundEndpointsDisabled])).fired).toEqual([
      'outbound_endpoints_disabled',
    ]);
    const [alert] = await database.db.query<{ summary: string }>(
      `select summary from alerts where rule = 'outbound_endpoints_disabled'`,
    );
    expect(alert!.summary).toBe(
      '1 outbound endpoint(s) disabled: erp.example.com (the endpoint answered 410 Gone; ' +
        '1 event(s) held; owner ops:amina)',
    );
    expect(alert!.summary).not.toContain('s3cret');
  });

  it('slow jobs (P3): a job over the slow threshold in the last 15 minutes', async () => {
    await database.db.query(
      `insert into slow_jobs (job_id, queue, kind, attempt, duration_ms, threshold_ms, outcome, recorded_at)
       values (1, 'default', 'ocr.scan', 1, 95000, 30000, 'completed', now() - interval '20 minutes')`,
    );
    expect((await evaluate([slowJobs])).firing).toEqual([]);
    await database.db.query(
      `insert into slow_jobs (job_id, queue, kind, attempt, duration_ms, threshold_ms, outcome)
       values (2, 'default', 'ocr.scan', 1, 45000, 30000, 'completed')`,
    );
    expect((await evaluate([slowJobs])).fired).toEqual(['slow_jobs']);
    const [row] = await database.db.query<{ severity: string; summary: string }>(
      'select severity, summary from alerts',
    );
    expect(row).toEqual({
      severity: 'P3',
      summary: '1 slow job runs in the last 15 minutes: ocr.scan ×1 (up to 45000 ms)',
    });
  });

  it('SLO fast burn (P1): an SLO burning 14.4× over both 1 h and 5 m, and it clears', async () => {
    const route = { function: 'api', route: '/api/rides', method: 'GET' };
    await writeDeltas(database.db, [
      series(CATALOG.httpRequests.name, { ...route, status: '200' }, 980),
      series(CATALOG.httpRequests.name, { ...route, status: '500' }, 20),
    ], Date.now());
    const first = await evaluate(sloFastBurn);
    expect(first.fired.sort()).toEqual(['slo_fast_burn:availability', 'slo_fast_burn:errors']);
    // The failures stop and good traffic dilutes them below 14.4× in both windows.
    await writeDeltas(database.db, [
      series(CATALOG.httpRequests.name, { ...route, status: '200' }, 1_000),
    ], Date.now());
    const second = await evaluate(sloFastBurn);
    expect(second.resolved.sort()).toEqual([
      'slo_fast_burn:availability',
      'slo_fast_burn:errors',
    ]);
  });

  it('leaves an incident open when its rule fails to evaluate, and evaluates the rest', async () => {
    await buildBacklog(1_001);
    expect((await evaluate([queueBacklog])).fired).toEqual(['queue_backlog']);
    const broken: AlertRule = {
      ...queueBacklog,
      evaluate: async ({ db }) => {
        await db.query('select * from no_such_table');
        return null;
      },
    };
    const report = await evaluate([broken, slowJobs]);
    expect(report).toEqual({ firing: [], fired: [], resolved: [], failed: ['queue_backlog'] });
    expect((await alertRows())[0]!.resolved_at).toBeNull();
  });
});

describe('alert configuration', () => {
  it('reads a receiver per severity and wants https in production', () => {
    const config = parseConfig({
      GATEHOUSE_ALERT_WEBHOOK_URL_P0: 'https://hooks.slack.com/services/T/B/x',
      GATEHOUSE_ALERT_WEBHOOK_URL_P3: 'http://127.0.0.1:9/hook',
    });
    expect(config.alerts).toEqual({
      enabled: true,
      receivers: {
        P0: 'https://hooks.slack.com/services/T/B/x',
        P3: 'http://127.0.0.1:9/hook',
      },
    });
    let error: unknown;
    try {
      parseConfig({
        GATEHOUSE_ENV: 'production',
        GATEHOUSE_SERVICE_KEY: 'k'.repeat(40),
        DATABASE_URL: 'postgres://db/app',
        GATEHOUSE_ALERT_WEBHOOK_URL_P1: 'http://hooks.example/secret-path',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'GATEHOUSE_ALERT_WEBHOOK_URL_P1: must be https in production (the URL is a secret)',
    ]);
    expect((error as ConfigError).message).not.toContain('secret-path');
  });
});
