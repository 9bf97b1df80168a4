/**
 * The series that count what the platform decided and waited for, as a scraper reads them
 * from GET /metrics after known traffic on a real database: rate-limit decisions (intake's
 * buckets, the per-address tier, the user API's tiers), flag evaluations, and how long calls
 * waited for a connection of a named pool and how busy it was.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { openPools } from '../functions/_shared/runtime/pools.ts';
import type { Runtime } from '../functions/_shared/runtime/index.ts';
import { DEFAULT_INTAKE_LIMITS } from '../functions/_shared/webhooks/limits.ts';
import { createWebhooksApp, type EdgeLimiter } from '../functions/webhooks/index.ts';
import { useApi } from './support/api.ts';
import { capturedLogger } from './support/logs.ts';
import { histogram, scrape, scrapeText, valueOf } from './support/metrics.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { testRuntime } from './support/runtime.ts';
import { signWhatsApp, whatsappNotification } from './support/webhooks/index.ts';

const TOKEN = 'metrics-token-0123456789abcdef0123';
const APP_SECRET = 'whatsapp-app-secret';
const DECISIONS = 'gatehouse_rate_limit_decisions_total';
const EVALUATIONS = 'gatehouse_flag_evaluations_total';
const POOL_WAIT = 'gatehouse_db_pool_wait_seconds';
const POOL_SATURATION = 'gatehouse_db_pool_saturation_ratio';

/** Flags an operator added, there before the API's first request reads the flags. */
const FLAG_ON = 'metrics.on';
const FLAG_OFF = 'metrics.off';

const database = useMigratedDatabase({
  setup: `insert into feature_flags (key, enabled, description)
          values ('${FLAG_ON}', true, 'on for everyone'), ('${FLAG_OFF}', false, 'switched off');`,
  reset: 'delete from system_metrics;',
});

/** One instance of Gatehouse: its own process metrics, the shared database. */
function instance(env: Record<string, string> = {}): Runtime {
  return testRuntime({
    config: parseConfig({ METRICS_TOKEN: TOKEN, WHATSAPP_APP_SECRET: APP_SECRET, ...env }),
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
  });
}

let apiRuntime: Runtime;
const api = useApi(database, (supabaseUrl) => {
  apiRuntime = instance({ SUPABASE_URL: supabaseUrl });
  return apiRuntime;
});

const unique = (prefix: string) => `${prefix}${crypto.randomUUID().slice(0, 8)}`;

/** The decisions of `scope` in /metrics: how many were allowed and how many limited. */
function decisions(families: Awaited<ReturnType<typeof scrape>>, scope: string) {
  return {
    allowed: valueOf(families, DECISIONS, { scope, decision: 'allowed' }),
    limited: valueOf(families, DECISIONS, { scope, decision: 'limited' }),
  };
}

describe('gatehouse_rate_limit_decisions_total', () => {
  it("counts intake's decisions: per number (429 when over), per sender, per address", async () => {
    const runtime = instance();
    // The per-address tier (Upstash, the outside world) allows three deliveries, then no more.
    let checks = 0;
    const edgeLimiter: EdgeLimiter = {
      check: () => Promise.resolve({ allowed: ++checks <= 3, retryAfterMs: 1_000 }),
    };
    const intake = createWebhooksApp({
      ...runtime,
      edgeLimiter,
      limits: {
        ...DEFAULT_INTAKE_LIMITS,
        // Three events a number and one a sender, with no refill to speak of during the test.
        whatsappPerNumber: { capacity: 3, refillPerSecond: 0.0001 },
        whatsappPerSender: { capacity: 1, refillPerSecond: 0.0001 },
      },
    });
    const number = unique('PNID-');
    const [ada, bo, cy] = [unique('1555'), unique('1666'), unique('1777')];
    const post = (messages: { id: string; from: string }[]) => {
      const body = whatsappNotification(messages, { phoneNumberId: number });
      return intake.request('/webhooks/whatsapp', {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...signWhatsApp(body, APP_SECRET) },
      });
    };
    // Two events from one sender: the second is over the sender's limit (stored, no job).
    const first = await post([{ id: unique('wamid.'), from: ada }, {
      id: unique('wamid.'),
      from: ada,
    }]);
    expect(first.status).toBe(200);
    // The number's third token.
    expect((await post([{ id: unique('wamid.'), from: bo }])).status).toBe(200);
    // None left for the number: 429, and no sender is asked.
    expect((await post([{ id: unique('wamid.'), from: cy }])).status).toBe(429);
    // The per-address tier refuses the fourth delivery before the database sees it.
    expect((await post([{ id: unique('wamid.'), from: cy }])).status).toBe(429);

    const families = await scrape(runtime, TOKEN);
    expect(decisions(families, 'intake_provider')).toEqual({ allowed: 2, limited: 1 });
    expect(decisions(families, 'intake_sender')).toEqual({ allowed: 2, limited: 1 });
    expect(decisions(families, 'edge')).toEqual({ allowed: 3, limited: 1 });
    // The scope names the limiter, never whose budget it was.
    const scopes = families.find((f) => f.name === DECISIONS)!.metrics.map((m) => m.labels?.scope);
    expect(new Set(scopes)).toEqual(new Set(['intake_provider', 'intake_sender', 'edge']));
  });

  it("counts the user API's decisions by tier", async () => {
    const user = crypto.randomUUID();
    expect((await api.call(user, '/flags')).status).toBe(200);
    expect((await api.call(user, '/flags')).status).toBe(200);
    // Another instance spent the user's writes (and no refill comes during the test).
    await database.db.query(
      `insert into rate_limits (key, tokens, updated_at)
       values ($1, 0, clock_timestamp() + interval '1 minute')`,
      [`api:moderate:${user}`],
    );
    const refused = await api.call(user, '/vehicles', { method: 'POST', body: '{}' });
    expect(refused.status).toBe(429);

    const families = await scrape(apiRuntime, TOKEN);
    expect(decisions(families, 'api_relaxed')).toEqual({ allowed: 2, limited: 0 });
    expect(decisions(families, 'api_moderate')).toEqual({ allowed: 0, limited: 1 });
  });
});

describe('gatehouse_flag_evaluations_total', () => {
  it('counts each flag GET /api/flags evaluates, by result', async () => {
    const [on, off] = [FLAG_ON, FLAG_OFF];
    const user = crypto.randomUUID();
    const answers: Record<string, boolean>[] = [];
    for (let i = 0; i < 2; i += 1) {
      const res = await api.call(user, '/flags');
      expect(res.status).toBe(200);
      answers.push(((await res.json()) as { flags: Record<string, boolean> }).flags);
    }
    expect(answers[0]).toMatchObject({ [on]: true, [off]: false });

    const families = await scrape(apiRuntime, TOKEN);
    expect(valueOf(families, EVALUATIONS, { flag: on, result: 'on' })).toBe(2);
    expect(valueOf(families, EVALUATIONS, { flag: off, result: 'off' })).toBe(2);
    expect(valueOf(families, EVALUATIONS, { flag: on, result: 'off' })).toBe(0);
    // Every flag of both answers, counted once each under the result it was given.
    const counted = families.find((f) => f.name === EVALUATIONS)!.metrics;
    const expected = new Map<string, number>();
    for (const answer of answers) {
      for (const [flag, value] of Object.entries(answer)) {
        const key = `${flag} ${value ? 'on' : 'off'}`;
        expected.set(key, (expected.get(key) ?? 0) + 1);
      }
    }
    expect(new Map(counted.map((m) => [`${m.labels!.flag} ${m.labels!.result}`, Number(m.value)])))
      .toEqual(expected);
  });
});

describe('gatehouse_db_pool_wait_seconds and _saturation_ratio', () => {
  it("records each call's wait for a connection of the runtime's pools, and how busy they were", async () => {
    const runtime = instance({ GATEHOUSE_DB_POOL_SIZE: '1', GATEHOUSE_DB_JOB_POOL_SIZE: '2' });
    const pools = openPools(database.url, runtime.config.database, {
      metrics: runtime.metrics.record,
    });
    try {
      // The requests' one connection is held by a transaction for at least 200 ms; a
      // statement made meanwhile waits for it, and one made after finds it free.
      const holding = pools.db.transaction((tx) => tx.query('select pg_sleep(0.2)'));
      const waiting = pools.db.query('select 1');
      await Promise.all([holding, waiting]);
      await pools.db.query('select 1');
      // The jobs' pool has two connections: one call keeps half of it busy.
      await pools.jobsDb.query('select 1');
    } finally {
      await pools.close();
    }

    const { families, text } = await scrapeText(runtime, TOKEN);
    const requests = histogram(text, POOL_WAIT, { pool: 'requests' });
    expect(requests.count).toBe(3);
    expect(requests.buckets.find((b) => b.le === '0.1')?.value).toBe(2);
    expect(requests.buckets.at(-1)).toEqual({ le: '+Inf', value: 3 });
    expect(requests.sum).toBeGreaterThanOrEqual(0.2);
    const jobs = histogram(text, POOL_WAIT, { pool: 'jobs' });
    expect([jobs.count, jobs.sum]).toEqual([1, 0]);
    expect(families.find((f) => f.name === POOL_WAIT)?.type).toBe('HISTOGRAM');

    expect(families.find((f) => f.name === POOL_SATURATION)?.type).toBe('GAUGE');
    expect(valueOf(families, POOL_SATURATION, { pool: 'requests' })).toBe(1);
    expect(valueOf(families, POOL_SATURATION, { pool: 'jobs' })).toBe(0.5);
  });
});
