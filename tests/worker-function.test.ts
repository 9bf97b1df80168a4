/**
 * The worker function over HTTP with a real database: service-key auth, the bounded time
 * budget, the JSON report; and the queue's thresholds in /health.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import {
  createJobRegistry,
  createJobRunner,
  RETENTION_KIND,
} from '../functions/_shared/jobs/index.ts';
import { enqueueJobs, type JobRegistry } from '../functions/_shared/queue/index.ts';
import { createHealthFunction } from '../functions/health/index.ts';
import { createWorkerApp, createWorkerFunction } from '../functions/worker/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { testRuntime } from './support/runtime.ts';

const KEY = 'current-service-key-0123456789abcdef';
const OLD_KEY = 'previous-service-key-0123456789abcdef';

const database = useMigratedDatabase({ reset: 'delete from jobs; delete from dead_jobs;' });

/** The platform's kinds (maintenance included), plus the test's own. */
function platformRegistry(): JobRegistry {
  return createJobRegistry({ retentionDays: 7 });
}

function workerApp(env: Record<string, string> = {}, registry?: JobRegistry) {
  const config = parseConfig({ GATEHOUSE_SERVICE_KEY: `${KEY},${OLD_KEY}`, ...env });
  const logs = capturedLogger();
  const deps = { config, db: database.db, logger: logs.logger, clock: systemClock };
  const runner = createJobRunner({ ...deps, registry });
  return { app: createWorkerApp({ ...deps, runner }), logs };
}

function post(
  app: ReturnType<typeof workerApp>['app'],
  headers: { authorization?: string; apikey?: string },
  body?: string,
) {
  const sent = Object.fromEntries(
    Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  return app.request('/worker', { method: 'POST', headers: sent, body });
}

describe('POST /worker: auth', () => {
  it('refuses a request without a key, with a wrong key, or with a malformed header', async () => {
    const { app, logs } = workerApp();
    for (
      const headers of [
        {},
        { authorization: 'Bearer wrong-key' },
        { authorization: `Basic ${KEY}` },
        { apikey: 'nope' },
      ]
    ) {
      const res = await post(app, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    }
    expect(logs.lines.join('\n')).not.toContain(KEY);
    expect(await database.db.query('select 1 from jobs')).toEqual([]);
  });

  it('accepts the current and the previous key, as Bearer or apikey', async () => {
    const { app } = workerApp();
    for (
      const headers of [
        { authorization: `Bearer ${KEY}` },
        { authorization: `bearer ${OLD_KEY}` },
        { apikey: KEY },
      ]
    ) {
      const res = await post(app, headers);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        claimed: expect.any(Number),
        completed: expect.any(Number),
        retried: 0,
        dead: 0,
        slow: 0,
      });
    }
  });

  it('fails closed when no service key is configured', async () => {
    const config = parseConfig({});
    const app = createWorkerApp({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
    });
    expect((await post(app, { authorization: 'Bearer anything' })).status).toBe(401);
  });

  it('answers 405 to other methods and 400 to a bad body', async () => {
    const { app } = workerApp();
    expect((await app.request('/worker', { headers: { apikey: KEY } })).status).toBe(405);
    expect((await post(app, { apikey: KEY }, '{not json')).status).toBe(400);
    const res = await post(app, { apikey: KEY }, JSON.stringify({ budget_ms: 'soon' }));
    expect(res.status).toBe(400);
    expect((await res.json()).detail).toMatch(/budget_ms/);
  });
});

describe('POST /worker: running jobs', () => {
  it('runs due jobs and reports what happened', async () => {
    const registry = platformRegistry()
      .register('ok', { handler: () => Promise.resolve() })
      .register('broken', {
        handler: () => Promise.reject(new Error('down')),
        // Its retry waits a minute, so this call runs it once.
        policy: { backoff: { baseMs: 60_000, capMs: 60_000 } },
      });
    await enqueueJobs(database.db, [{ kind: 'ok' }, { kind: 'ok' }, { kind: 'broken' }]);
    const { app } = workerApp({}, registry);
    const res = await post(app, { authorization: `Bearer ${KEY}` });
    expect(res.status).toBe(200);
    const body = await res.json();
    // The two jobs, the failing one, and this hour's retention run and this minute's alert
    // evaluation the call scheduled.
    expect(body).toMatchObject({ claimed: 5, completed: 4, retried: 1, dead: 0, slow: 0 });
    expect(body.worker).toMatch(/^worker-/);
  });

  it('stops claiming when its time budget is spent, leaving the rest for the next call', async () => {
    const registry = platformRegistry().register('slow', {
      handler: () => new Promise((resolve) => setTimeout(resolve, 100)),
    });
    await database.db.query(
      `insert into jobs (kind) select 'slow' from generate_series(1, 40)`,
    );
    const { app } = workerApp({
      GATEHOUSE_WORKER_CONCURRENCY: '1',
      GATEHOUSE_WORKER_BATCH_SIZE: '1',
    }, registry);
    const started = Date.now();
    const res = await post(app, { apikey: KEY }, JSON.stringify({ budget_ms: 500 }));
    const elapsed = Date.now() - started;
    const body = await res.json();
    // 40 jobs of 100 ms would take 4 s; the budget stops claiming after 0.5 s and the
    // last claimed job finishes.
    expect(body.claimed).toBeGreaterThanOrEqual(3);
    expect(body.claimed).toBeLessThanOrEqual(7);
    expect(body.completed).toBe(body.claimed);
    expect(elapsed).toBeLessThan(2_000);
    const [left] = await database.db.query<{ n: string }>(
      `select count(*) as n from jobs where kind = 'slow' and status = 'pending'`,
    );
    const [ran] = await database.db.query<{ n: string }>(
      `select count(*) as n from jobs where kind = 'slow' and status = 'completed'`,
    );
    expect(Number(left!.n) + Number(ran!.n)).toBe(40);
    expect(Number(left!.n)).toBeGreaterThan(30);
  });

  it('never runs longer than the configured budget even when asked to', async () => {
    const registry = platformRegistry().register('slow', {
      handler: () => new Promise((resolve) => setTimeout(resolve, 100)),
    });
    await database.db.query(`insert into jobs (kind) select 'slow' from generate_series(1, 40)`);
    const { app } = workerApp({
      GATEHOUSE_WORKER_BUDGET_MS: '300',
      GATEHOUSE_WORKER_CONCURRENCY: '1',
    }, registry);
    const res = await post(app, { apikey: KEY }, JSON.stringify({ budget_ms: 60_000 }));
    expect((await res.json()).claimed).toBeLessThanOrEqual(5);
  });

  it('schedules the hourly retention job once, however many workers run', async () => {
    const { app } = workerApp();
    await Promise.all([post(app, { apikey: KEY }), post(app, { apikey: KEY })]);
    const rows = await database.db.query<{ kind: string; status: string }>(
      'select kind, status from jobs where kind = $1',
      [RETENTION_KIND],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('completed');
  });
});

describe('GET /health: queue thresholds', () => {
  function health(warning: string, critical: string) {
    const config = parseConfig({
      GATEHOUSE_QUEUE_DEPTH_WARNING: warning,
      GATEHOUSE_QUEUE_DEPTH_CRITICAL: critical,
    });
    return createHealthFunction(testRuntime({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
    }));
  }

  async function fill(queue: string, n: number) {
    await database.db.query(
      `insert into jobs (queue, kind) select $1, 'noop' from generate_series(1, $2)`,
      [queue, n],
    );
  }

  it('is ok below the warning depth', async () => {
    await fill('stripe', 2);
    const res = await health('3', '5').request('/health');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe('ok');
    expect(body.checks.queue).toMatchObject({
      status: 'ok',
      totals: { depth: 2 },
      thresholds: { depthWarning: 3, depthCritical: 5 },
      queues: [{ queue: 'stripe', depth: 2, level: 'ok' }],
    });
  });

  it('is degraded at the warning depth of any queue', async () => {
    await fill('stripe', 3);
    await fill('paypal', 1);
    const res = await health('3', '5').request('/health');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe('degraded');
    expect(body.checks.queue.status).toBe('degraded');
  });

  it('is down (503) at the critical depth, while /health/ready stays ready', async () => {
    await fill('whatsapp', 5);
    const app = health('3', '5');
    const res = await app.request('/health');
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.status).toBe('down');
    expect(body.checks.queue.queues[0]).toMatchObject({ queue: 'whatsapp', level: 'critical' });
    expect(body.checks.queue.queues[0].oldestDueMs).toBeGreaterThanOrEqual(0);
    expect((await app.request('/health/ready')).status).toBe(200);
  });

  it('does not count jobs scheduled for later as depth', async () => {
    await database.db.query(
      `insert into jobs (queue, kind, run_at)
       select 'later', 'noop', now() + interval '1 hour' from generate_series(1, 10)`,
    );
    const body = await (await health('3', '5').request('/health')).json();
    expect(body.checks.queue.queues[0]).toMatchObject({ depth: 0, scheduled: 10, level: 'ok' });
  });
});

describe('POST /worker in a process that shares its job engine', () => {
  it("runs its pass on the runtime's engine, as the local server mounts it", async () => {
    const config = parseConfig({ GATEHOUSE_SERVICE_KEY: KEY });
    const base = testRuntime({
      config,
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
    });
    const jobs = createJobRunner(base);
    const shared = createWorkerFunction({ ...base, jobs });
    const res = await post(shared, { authorization: `Bearer ${KEY}` });
    expect(res.status).toBe(200);
    expect((await res.json()).worker).toBe(jobs.workerId);

    // Without one, the function makes its own, as deployed.
    const alone = await post(createWorkerFunction(base), { authorization: `Bearer ${KEY}` });
    expect((await alone.json()).worker).not.toBe(jobs.workerId);
  });
});
