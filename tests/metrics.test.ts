/**
 * Metrics end to end on a real database: traffic through the deployed functions is counted
 * in-process, flushed to system_metrics and served by GET /metrics in the Prometheus text
 * format (parsed here by a real parser); counters add up across instances and never
 * decrease across a restart; the roll-up keeps every total.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createHealthFunction } from '../functions/health/index.ts';
import { createMetricsFunction } from '../functions/metrics/index.ts';
import { createWebhooksFunction } from '../functions/webhooks/index.ts';
import { enqueueJobs } from '../functions/_shared/queue/index.ts';
import type { Runtime } from '../functions/_shared/runtime/index.ts';
import { signStripe } from './support/webhooks/index.ts';
import { capturedLogger } from './support/logs.ts';
import {
  histogram,
  scrape as scrapeMetrics,
  scrapeText as scrapeMetricsText,
  valueOf,
} from './support/metrics.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { testRuntime } from './support/runtime.ts';

const TOKEN = 'metrics-token-0123456789abcdef0123';
const SERVICE_KEY = 'service-key-0123456789abcdef012345';
const STRIPE_SECRET = 'whsec_stripe_metrics_secret';

const database = useMigratedDatabase({
  reset: 'delete from system_metrics; delete from jobs; delete from dead_jobs;',
});

/** Work started after an answer (the kick of the job worker), awaited before asserting. */
const afterAck: Promise<unknown>[] = [];
const settled = () => Promise.allSettled(afterAck.splice(0));

/** One instance of Gatehouse: its own process metrics, the shared database. */
function instance(env: Record<string, string> = {}): Runtime {
  const config = parseConfig({
    METRICS_TOKEN: TOKEN,
    GATEHOUSE_SERVICE_KEY: SERVICE_KEY,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ...env,
  });
  return testRuntime({
    config,
    db: database.db,
    background: (task) => void afterAck.push(task),
    logger: capturedLogger().logger,
    clock: systemClock,
  });
}

/** GET /metrics with the metrics token, parsed; and the exposition text. */
const scrapeText = (runtime: Runtime) => scrapeMetricsText(runtime, TOKEN);
const scrape = (runtime: Runtime) => scrapeMetrics(runtime, TOKEN);

async function stripeDelivery(runtime: Runtime, id: string, signed = true) {
  const body = JSON.stringify({ id, object: 'event', type: 'charge.succeeded', data: {} });
  return await createWebhooksFunction(runtime).request('/webhooks/stripe', {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      ...(signed
        ? signStripe(body, STRIPE_SECRET, Math.floor(Date.now() / 1000))
        : { 'stripe-signature': 't=1,v1=00' }),
    },
  });
}

describe('GET /metrics', () => {
  it('refuses anon and wrong tokens with 401, takes the metrics token or the service key', async () => {
    const app = createMetricsFunction(instance());
    expect((await app.request('/metrics')).status).toBe(401);
    const wrong = await app.request('/metrics', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toContain('application/problem+json');
    const byKey = await app.request('/metrics', { headers: { apikey: SERVICE_KEY } });
    expect(byKey.status).toBe(200);
  });

  it('counts known traffic: requests by route and status, webhook outcomes and rejections', async () => {
    const runtime = instance();
    const health = createHealthFunction(runtime);
    for (let i = 0; i < 3; i++) expect((await health.request('/health/live')).status).toBe(200);
    const id = `evt_metrics_${crypto.randomUUID()}`;
    expect((await stripeDelivery(runtime, id)).status).toBe(200);
    expect((await stripeDelivery(runtime, id)).status).toBe(200); // duplicate
    expect((await stripeDelivery(runtime, id, false)).status).toBe(401);
    // The kick after the ack runs the event's job; these two are enqueued once it is done.
    await settled();
    await enqueueJobs(database.db, [{ kind: 'metrics.test' }, { kind: 'metrics.test' }]);

    const { families, text } = await scrapeText(runtime);
    const live = { function: 'health', route: '/health/live', method: 'GET', status: '200' };
    expect(valueOf(families, 'gatehouse_http_requests_total', live)).toBe(3);
    expect(
      valueOf(families, 'gatehouse_http_requests_total', {
        function: 'webhooks',
        route: '/webhooks/stripe',
        status: '401',
      }),
    ).toBe(1);
    expect(valueOf(families, 'gatehouse_webhook_requests_total', { provider: 'stripe' })).toBe(3);
    for (const outcome of ['accepted', 'duplicate']) {
      expect(
        valueOf(families, 'gatehouse_webhook_events_total', { provider: 'stripe', outcome }),
      ).toBe(1);
    }
    const rejected = families.find((f) => f.name === 'gatehouse_webhook_rejected_total');
    expect(rejected?.metrics.map((m) => m.labels?.provider)).toEqual(['stripe']);

    // The histogram: HELP and TYPE, cumulative buckets ending at +Inf, and a count that
    // matches the requests.
    const duration = families.find((f) => f.name === 'gatehouse_http_request_duration_seconds')!;
    expect(duration.type).toBe('HISTOGRAM');
    expect(duration.help).toMatch(/request/);
    const liveDuration = histogram(text, duration.name, { route: '/health/live' });
    expect(liveDuration.count).toBe(3);
    expect(liveDuration.buckets.at(-1)).toEqual({ le: '+Inf', value: 3 });
    expect(liveDuration.buckets.map((b) => b.le).slice(0, 3)).toEqual(['0.005', '0.01', '0.025']);
    const cumulative = liveDuration.buckets.map((b) => b.value);
    expect(cumulative).toEqual([...cumulative].sort((a, b) => a - b));
    expect(liveDuration.sum).toBeGreaterThanOrEqual(0);

    // The queue, read live: two due jobs on the default queue (enqueued above).
    expect(valueOf(families, 'gatehouse_queue_jobs', { queue: 'default', state: 'due' })).toBe(2);
    expect(valueOf(families, 'gatehouse_queue_jobs', { queue: 'default', state: 'dead' })).toBe(0);
    expect(families.find((f) => f.name === 'gatehouse_queue_oldest_age_seconds')?.type).toBe(
      'GAUGE',
    );
  });

  it('adds up counters across instances, and they never decrease across a restart', async () => {
    const first = instance();
    const second = instance();
    const route = { function: 'health', route: '/health/live', status: '200' };
    await createHealthFunction(first).request('/health/live');
    await createHealthFunction(second).request('/health/live');
    await createHealthFunction(second).request('/health/live');
    await first.metrics.flusher.flush();
    const before = valueOf(await scrape(second), 'gatehouse_http_requests_total', route);
    expect(before).toBe(3);

    // A restart: a new process starts from zero in memory; the total carries on.
    const restarted = instance();
    expect(valueOf(await scrape(restarted), 'gatehouse_http_requests_total', route)).toBe(3);
    await createHealthFunction(restarted).request('/health/live');
    expect(valueOf(await scrape(restarted), 'gatehouse_http_requests_total', route)).toBe(4);
  });

  it('rolls old minutes up into hours, keeping their sums; /metrics reads the totals', async () => {
    const runtime = instance();
    for (let i = 0; i < 2; i++) await createHealthFunction(runtime).request('/health/live');
    await runtime.metrics.flusher.flush();
    // Age the minute rows as if written three hours ago, then roll them up.
    await database.db.query(
      "update system_metrics set bucket = bucket - interval '3 hours' where width > interval '0'",
    );
    /** The history (every row but the totals), summed per series. */
    const history = () =>
      database.db.query(
        `select name, labels::text, sum(value) as value, sum(count)::text as count,
                system_metrics_sum_counts(counts)::text as counts,
                array_agg(distinct width::text) as widths
           from system_metrics where width > interval '0'
          group by name, labels order by name, labels::text`,
      );
    const before = await history();
    expect(before.map((row) => row.widths)).toEqual(before.map(() => ['00:01:00']));
    const scraped = await scrapeText(runtime);

    const [rolled] = await database.db.query<{ moved: string }>(
      "select system_metrics_rollup('1 hour') as moved",
    );
    expect(Number(rolled!.moved)).toBe(before.length);
    const after = await history();
    expect(after.map((row) => row.widths)).toEqual(before.map(() => ['01:00:00']));
    const sums = (rows: typeof before) => rows.map(({ widths: _, ...sum }) => sum);
    expect(sums(after)).toEqual(sums(before));

    // The totals /metrics serves are untouched.
    const duration = (text: string) =>
      histogram(text, 'gatehouse_http_request_duration_seconds', { route: '/health/live' });
    const rescraped = await scrapeText(runtime);
    expect(duration(rescraped.text)).toEqual(duration(scraped.text));
    expect(duration(rescraped.text).count).toBe(2);
  });

  it('deletes hour rows past their retention, never minutes or totals', async () => {
    const runtime = instance();
    await createHealthFunction(runtime).request('/health/live');
    await runtime.metrics.flusher.flush();
    await database.db.query(
      "update system_metrics set bucket = bucket - interval '3 hours' where width > interval '0'",
    );
    await database.db.query("select system_metrics_rollup('1 hour')");
    const rows = async () =>
      (await database.db.query<{ width: string; n: string }>(
        `select width::text, count(*)::text as n from system_metrics group by 1 order by 1`,
      )).map((r) => `${r.width}: ${r.n}`);
    const widths = (list: string[]) => list.map((row) => row.split(': ')[0]);
    expect(widths(await rows())).toEqual(['00:00:00', '01:00:00']);
    // Fresh minute rows beside hour rows aged past retention.
    await createHealthFunction(runtime).request('/health/live');
    await runtime.metrics.flusher.flush();
    await database.db.query(
      "update system_metrics set bucket = bucket - interval '401 days' where width = interval '1 hour'",
    );
    const before = await rows();
    const purge = (batch: number) =>
      database.db.query<{ purged: string }>(
        `select system_metrics_purge_hours('400 days', $1) as purged`,
        [batch],
      );
    const hours = Number(before.find((r) => r.startsWith('01:00:00'))!.split(': ')[1]);
    expect(hours).toBeGreaterThan(1);
    expect(Number((await purge(1))[0]!.purged)).toBe(1);
    expect(Number((await purge(10_000))[0]!.purged)).toBe(hours - 1);
    const after = await rows();
    expect(after.filter((r) => r.startsWith('01:00:00'))).toEqual([]);
    expect(after.filter((r) => !r.startsWith('01:00:00'))).toEqual(
      before.filter((r) => !r.startsWith('01:00:00')),
    );
    await expect(database.db.query("select system_metrics_purge_hours('1 day')")).rejects
      .toMatchObject({ code: '22023' });
  });

  it('refuses a roll-up that would leave less than an hour of minutes', async () => {
    await expect(database.db.query("select system_metrics_rollup('5 minutes')")).rejects
      .toMatchObject({ code: '22023' });
  });

  it('records nothing when switched off', async () => {
    const runtime = instance({ GATEHOUSE_METRICS: 'false' });
    await createHealthFunction(runtime).request('/health/live');
    await runtime.metrics.flusher.flush();
    const rows = await database.db.query('select 1 from system_metrics');
    expect(rows).toHaveLength(0);
  });
});

describe("GET /health's webhooks check", () => {
  interface ProviderIntake {
    provider: string;
    configured: boolean;
    missing?: string;
    received: number;
    stored: number;
    refused: Record<string, number>;
    problem?: string;
  }
  async function webhooksHealth(runtime: Runtime) {
    await settled();
    await runtime.metrics!.flusher.flush();
    const res = await createHealthFunction(runtime).request('/health');
    const { checks } = await res.json() as {
      checks: {
        webhooks: {
          status: string;
          reason?: string;
          counts: string;
          window_minutes: number;
          providers: ProviderIntake[];
        };
      };
    };
    const byProvider = Object.fromEntries(checks.webhooks.providers.map((p) => [p.provider, p]));
    return { ...checks.webhooks, byProvider };
  }
  const total = (counts: Record<string, number>) =>
    Object.values(counts).reduce((a, b) => a + b, 0);

  it('reports each route and what reached it; deliveries refused for their signature degrade it', async () => {
    const runtime = instance({ WHATSAPP_APP_SECRET: 'whatsapp-secret-for-health' });
    const before = await webhooksHealth(runtime);
    expect(before).toMatchObject({ status: 'ok', counts: 'recorded', window_minutes: 15 });
    expect(before.byProvider.paypal).toMatchObject({
      configured: false,
      missing: 'PAYPAL_WEBHOOK_ID',
      received: 0,
    });
    expect(before.byProvider.whatsapp).toMatchObject({ configured: true, received: 0 });

    // One good delivery, then five that fail their signature: a secret that no longer matches.
    expect((await stripeDelivery(runtime, `evt_health_${crypto.randomUUID()}`)).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      expect((await stripeDelivery(runtime, `evt_forged_${i}`, false)).status).toBe(401);
    }
    const refused = await webhooksHealth(runtime);
    expect(refused.status).toBe('degraded');
    expect(refused.reason).toBe(
      'stripe: 5 of 6 deliveries refused for their signature: check the secret',
    );
    expect(refused.byProvider.stripe).toMatchObject({ configured: true, received: 6, stored: 1 });
    expect(total(refused.byProvider.stripe!.refused)).toBe(5);
    // /health itself stays 200: intake is not down, one provider's secret is wrong.
    expect((await createHealthFunction(runtime).request('/health')).status).toBe(200);

    // Good deliveries outnumbering the forged ones: a stray forgery is no outage.
    for (let i = 0; i < 6; i++) {
      expect((await stripeDelivery(runtime, `evt_health_${crypto.randomUUID()}`)).status).toBe(
        200,
      );
    }
    const recovered = await webhooksHealth(runtime);
    expect(recovered.status).toBe('ok');
    expect(recovered.byProvider.stripe).toMatchObject({ received: 12, stored: 7 });
    expect(recovered.byProvider.stripe!.problem).toBeUndefined();
  });

  it('reports the routes without counts when metrics are off', async () => {
    const runtime = instance({ GATEHOUSE_METRICS: 'false' });
    await settled();
    const res = await createHealthFunction(runtime).request('/health');
    const { checks } = await res.json() as {
      checks: { webhooks: { status: string; counts: string; providers: ProviderIntake[] } };
    };
    expect(checks.webhooks).toMatchObject({ status: 'ok', counts: 'metrics off' });
    expect(checks.webhooks.providers.find((p) => p.provider === 'stripe')).toMatchObject({
      configured: true,
      received: 0,
    });
  });
});
