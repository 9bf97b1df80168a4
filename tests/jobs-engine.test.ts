/**
 * The job engine against a real database: exactly-once completion under concurrent
 * workers, crash recovery through leases, retries with backoff, dead letters, replay,
 * throttles and the processing kill switch.
 */
import { postgresJobStore } from '../functions/_shared/queue/store.ts';
import { describe, expect, it } from 'vitest';
import type { Db } from '../functions/_shared/db/types.ts';
import { systemClock } from '../functions/_shared/clock.ts';
import {
  backoffCeiling,
  enqueueJobs,
  JobRegistry,
  listDeadJobs,
  newWorkerId,
  PermanentJobError,
  PRESSED_START_GAP_MS,
  replayDeadJobs,
  RetryJobError,
  runWorker,
  type WorkerOptions,
} from '../functions/_shared/queue/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({
  setup: `
    create table job_effects (job_id bigint primary key, worker text not null, note text);
  `,
  reset: `
    delete from jobs; delete from dead_jobs; delete from job_effects; delete from slow_jobs;
    delete from queue_settings; delete from rate_limits;
    update feature_flags set enabled = true;
  `,
});

/**
 * Another worker's pool. On Postgres a pool of its own; the embedded engine multiplexes
 * every wire connection onto one session, so there its workers share the one pool.
 */
function workerPool(max: number): { db: Db; close: () => Promise<void> } {
  if (database.kind === 'pglite') return { db: database.db, close: () => Promise.resolve() };
  const db = database.connect({ max });
  return { db, close: () => db.close() };
}

function worker(db: Db, registry: JobRegistry, overrides: Partial<WorkerOptions> = {}) {
  return runWorker({
    store: postgresJobStore,
    db,
    registry,
    logger: capturedLogger().logger,
    clock: systemClock,
    workerId: newWorkerId('test'),
    budgetMs: 20_000,
    batchSize: 10,
    concurrency: 4,
    leaseSeconds: 30,
    slowJobMs: 30_000,
    ...overrides,
  });
}

/** A registry whose `effect` kind records one row per job in the job's transaction. */
function effectRegistry(): JobRegistry {
  return new JobRegistry().register<{ note?: string }>('effect', {
    handler: async (payload, ctx) => {
      await ctx.tx.query('insert into job_effects (job_id, worker, note) values ($1, $2, $3)', [
        ctx.job.id,
        'handler',
        payload.note ?? null,
      ]);
    },
  });
}

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const [row] = await database.db.query<{ n: string }>(
    `select count(*) as n from (${sql}) s`,
    values,
  );
  return Number(row!.n);
}

/** Polls `check` until it holds; fails with `what` after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('claiming and completing', () => {
  it('commits the handler’s writes and the completion together', async () => {
    const [id] = await enqueueJobs(database.db, [{ kind: 'effect', payload: { note: 'hi' } }]);
    const report = await worker(database.db, effectRegistry());
    expect(report).toMatchObject({ claimed: 1, completed: 1, retried: 0, dead: 0 });
    const [job] = await database.db.query<{ status: string; attempts: number }>(
      'select status, attempts from jobs where id = $1',
      [id],
    );
    expect(job).toEqual({ status: 'completed', attempts: 1 });
    expect(await count('select * from job_effects where job_id = $1 and note = $2', [id, 'hi']))
      .toBe(1);
  });

  it('runs higher priority first', async () => {
    const order: string[] = [];
    const registry = new JobRegistry().register<{ name: string }>('ordered', {
      handler: (payload) => {
        order.push(payload.name);
        return Promise.resolve();
      },
    });
    await enqueueJobs(database.db, [
      { kind: 'ordered', payload: { name: 'low' }, priority: 0 },
      { kind: 'ordered', payload: { name: 'high' }, priority: 10 },
      { kind: 'ordered', payload: { name: 'mid' }, priority: 5 },
    ]);
    await worker(database.db, registry, { concurrency: 1, batchSize: 1 });
    expect(order).toEqual(['high', 'mid', 'low']);
  });

  it('does not run jobs before their time', async () => {
    await enqueueJobs(database.db, [
      { kind: 'effect', runAt: new Date(Date.now() + 60_000) },
    ]);
    expect((await worker(database.db, effectRegistry())).claimed).toBe(0);
  });

  it('skips a second job with the same dedupe key', async () => {
    const first = await enqueueJobs(database.db, [{ kind: 'effect', dedupeKey: 'once' }]);
    const second = await enqueueJobs(database.db, [{ kind: 'effect', dedupeKey: 'once' }]);
    expect(first).toHaveLength(1);
    expect(second).toEqual([]);
  });

  it('completes 10,000 jobs exactly once across 8 concurrent workers', async () => {
    const total = 10_000;
    await database.db.query(
      `insert into jobs (queue, kind, payload)
       select 'bulk', 'effect', '{}'::jsonb from generate_series(1, $1)`,
      [total],
    );
    const pools = Array.from({ length: 8 }, () => workerPool(2));
    const registry = effectRegistry();
    const reports = await Promise.all(
      pools.map((pool) =>
        worker(pool.db, registry, { batchSize: 25, concurrency: 8, budgetMs: 110_000 })
      ),
    );
    const completed = reports.reduce((sum, report) => sum + report.completed, 0);
    expect(completed).toBe(total);
    expect(reports.reduce((sum, report) => sum + report.claimed, 0)).toBe(total);
    expect(await count(`select * from jobs where status = 'completed' and attempts = 1`)).toBe(
      total,
    );
    expect(await count('select * from job_effects')).toBe(total);
    await Promise.all(pools.map((pool) => pool.close()));
  }, 120_000);
});

describe('a worker that dies mid-job', () => {
  it('gives the job to another worker after the lease; its effect is applied once', async () => {
    const [id] = await enqueueJobs(database.db, [{ kind: 'crashy' }]);
    const doomed = database.connect({ max: 1 });
    let inHandler!: () => void;
    const started = new Promise<void>((resolve) => (inHandler = resolve));
    const crashing = new JobRegistry().register('crashy', {
      handler: async (_payload, ctx) => {
        await ctx.tx.query('insert into job_effects (job_id, worker) values ($1, $2)', [
          ctx.job.id,
          'first',
        ]);
        inHandler();
        await new Promise(() => {}); // hangs until its connection is cut
      },
    });
    const dying = worker(doomed, crashing, { leaseSeconds: 5 }).catch(() => null);
    await started;
    // The process dies: its connection goes away before the commit.
    await doomed.close(0);
    await dying;

    const healthy = new JobRegistry().register('crashy', {
      handler: async (_payload, ctx) => {
        await ctx.tx.query('insert into job_effects (job_id, worker) values ($1, $2)', [
          ctx.job.id,
          'second',
        ]);
      },
    });
    // Before the lease runs out nobody else may take the job.
    expect((await worker(database.db, healthy)).claimed).toBe(0);
    await eventually(async () => (await worker(database.db, healthy)).completed === 1, 'reclaim');

    expect(await database.db.query('select worker from job_effects where job_id = $1', [id]))
      .toEqual([{ worker: 'second' }]);
    const [job] = await database.db.query<{ attempts: number; errors: { error: string }[] }>(
      'select attempts, errors from jobs where id = $1',
      [id],
    );
    expect(job!.attempts).toBe(2);
    expect(job!.errors[0]!.error).toMatch(/lease expired/);
  }, 30_000);

  it('dead-letters a job whose every attempt killed its worker', async () => {
    await database.db.query(
      `insert into jobs (queue, kind, status, attempts, max_attempts, locked_by, lease_expires_at)
       values ('q', 'poison', 'running', 3, 3, 'gone', now() - interval '1 second')`,
    );
    expect((await worker(database.db, effectRegistry())).claimed).toBe(0);
    const dead = await listDeadJobs(database.db, { since: '1 hour' });
    expect(dead).toHaveLength(1);
    expect(dead[0]!.kind).toBe('poison');
    expect(dead[0]!.lastError).toMatch(/lease expired/);
  });
});

describe('retries and dead letters', () => {
  it('retries a transient failure with a backoff delay within its bound', async () => {
    const registry = new JobRegistry().register('flaky', {
      handler: () => Promise.reject(new Error('upstream 502')),
      policy: { maxAttempts: 3, backoff: { baseMs: 60_000, capMs: 3_600_000 } },
    });
    const [id] = await enqueueJobs(database.db, [{ kind: 'flaky' }]);
    const before = Date.now();
    const report = await worker(database.db, registry);
    const after = Date.now();
    expect(report).toMatchObject({ claimed: 1, retried: 1, dead: 0 });
    const [job] = await database.db.query<
      { status: string; run_at: Date; last_error: string; errors: { attempt: number }[] }
    >('select status, run_at, last_error, errors from jobs where id = $1', [id]);
    expect(job!.status).toBe('pending');
    expect(job!.last_error).toBe('Error: upstream 502');
    expect(job!.errors.map((e) => e.attempt)).toEqual([1]);
    const delay = new Date(job!.run_at).getTime();
    expect(delay).toBeGreaterThanOrEqual(before - 1_000);
    expect(delay).toBeLessThanOrEqual(
      after + backoffCeiling(1, registry.get('flaky')!.policy.backoff) + 1_000,
    );
  });

  it('follows the full-jitter schedule over attempts (base 10 s, cap 40 s)', async () => {
    // random() = 0.999 puts each delay at the top of its window: 9.99, 19.98, 39.96, 39.96 s.
    // Delays this long keep the retry out of the pass that failed it.
    const registry = new JobRegistry().register('always-fails', {
      handler: () => Promise.reject(new Error('nope')),
      policy: { maxAttempts: 5, backoff: { baseMs: 10_000, capMs: 40_000 } },
    });
    const [id] = await enqueueJobs(database.db, [{ kind: 'always-fails' }]);
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      await database.db.query(`update jobs set run_at = now() where id = $1`, [id]);
      const [{ now }] = (await database.db.query<{ now: Date }>('select now()')) as [{ now: Date }];
      await worker(database.db, registry, { random: () => 0.999 });
      const [job] = await database.db.query<{ run_at: Date }>(
        'select run_at from jobs where id = $1',
        [id],
      );
      delays.push(new Date(job!.run_at).getTime() - new Date(now).getTime());
    }
    const ceilings = [10_000, 20_000, 40_000, 40_000];
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(ceilings[i]! * 0.999 - 1);
      expect(delay).toBeLessThan(ceilings[i]! + 2_000);
    });
  });

  it('dead-letters after the last attempt, keeping every error', async () => {
    const registry = new JobRegistry().register('doomed', {
      handler: (_payload, ctx) => Promise.reject(new Error(`failure ${ctx.attempt}`)),
      policy: { maxAttempts: 3, backoff: { baseMs: 1, capMs: 1 } },
    });
    const [id] = await enqueueJobs(database.db, [{ kind: 'doomed', queue: 'stripe' }]);
    // Each retry is due within a millisecond; passes run until the job is gone.
    const totals = { claimed: 0, retried: 0, dead: 0 };
    for (let pass = 0; pass < 20 && totals.dead === 0; pass += 1) {
      const report = await worker(database.db, registry);
      totals.claimed += report.claimed;
      totals.retried += report.retried;
      totals.dead += report.dead;
    }
    expect(totals).toEqual({ claimed: 3, retried: 2, dead: 1 });
    expect(await count('select * from jobs where id = $1', [id])).toBe(0);
    const [dead] = await listDeadJobs(database.db, { since: '1 hour', provider: 'stripe' });
    expect(dead!.id).toBe(id);
    expect(dead!.attempts).toBe(3);
    expect(dead!.errors.map((e) => e.error)).toEqual([
      'Error: failure 1',
      'Error: failure 2',
      'Error: failure 3',
    ]);
  });

  it('sends a permanent error straight to the dead letters', async () => {
    const registry = new JobRegistry().register('bad-payload', {
      handler: () => Promise.reject(new PermanentJobError('order 42 does not exist')),
    });
    await enqueueJobs(database.db, [{ kind: 'bad-payload' }]);
    expect(await worker(database.db, registry)).toMatchObject({ claimed: 1, retried: 0, dead: 1 });
    const [dead] = await listDeadJobs(database.db, { since: '1 hour' });
    expect(dead!.attempts).toBe(1);
    expect(dead!.errors[0]).toMatchObject({ permanent: true });
  });

  it('dead-letters a job of a kind nobody handles', async () => {
    await enqueueJobs(database.db, [{ kind: 'unknown.kind' }]);
    expect(await worker(database.db, effectRegistry())).toMatchObject({ dead: 1 });
    const [dead] = await listDeadJobs(database.db, { since: '1 hour' });
    expect(dead!.lastError).toMatch(/no handler is registered for job kind unknown\.kind/);
  });

  it('honours the delay a handler asks for', async () => {
    const registry = new JobRegistry().register('rate-limited-upstream', {
      handler: () => Promise.reject(new RetryJobError('429 from upstream', 120_000)),
    });
    const [id] = await enqueueJobs(database.db, [{ kind: 'rate-limited-upstream' }]);
    await worker(database.db, registry);
    const [row] = await database.db.query<{ wait_ms: number }>(
      `select extract(epoch from run_at - now()) * 1000 as wait_ms from jobs where id = $1`,
      [id],
    );
    expect(Number(row!.wait_ms)).toBeGreaterThan(110_000);
    expect(Number(row!.wait_ms)).toBeLessThanOrEqual(120_000);
  });

  it('aborts a handler that outlives its timeout and retries it', async () => {
    let aborted = false;
    const registry = new JobRegistry().register('stuck', {
      handler: (_payload, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            reject(ctx.signal.reason);
          });
        }),
      // The retry waits a minute, so this pass does not run it again.
      policy: { timeoutMs: 100, backoff: { baseMs: 60_000, capMs: 60_000 } },
    });
    await enqueueJobs(database.db, [{ kind: 'stuck' }]);
    expect(await worker(database.db, registry)).toMatchObject({ claimed: 1, retried: 1 });
    expect(aborted).toBe(true);
    const [job] = await database.db.query<{ last_error: string }>('select last_error from jobs');
    expect(job!.last_error).toMatch(/timed out after 100 ms/);
  });

  it('records a run over the slow threshold', async () => {
    const registry = new JobRegistry().register('sluggish', {
      handler: () => new Promise((resolve) => setTimeout(resolve, 60)),
    });
    await enqueueJobs(database.db, [{ kind: 'sluggish', queue: 'reports' }]);
    expect(await worker(database.db, registry, { slowJobMs: 50 })).toMatchObject({
      completed: 1,
      slow: 1,
    });
    const rows = await database.db.query<{ kind: string; outcome: string; duration_ms: number }>(
      'select kind, outcome, duration_ms from slow_jobs',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'sluggish', outcome: 'completed' });
    expect(rows[0]!.duration_ms).toBeGreaterThanOrEqual(50);
  });
});

describe('replay', () => {
  async function bury(queue: string, kind: string, deadAgo: string) {
    const [row] = await database.db.query<{ id: string }>(
      `insert into jobs (queue, kind) values ($1, $2) returning id`,
      [queue, kind],
    );
    await database.db.query(
      `with gone as (delete from jobs where id = $1 returning *)
       insert into dead_jobs (id, queue, kind, payload, priority, attempts, max_attempts, errors,
                              last_error, created_at, dead_at)
       select id, queue, kind, payload, priority, 5, 5,
              '[{"attempt": 5, "error": "boom"}]'::jsonb, 'boom', created_at,
              now() - $2::interval
         from gone`,
      [row!.id, deadAgo],
    );
    return Number(row!.id);
  }

  it('replays by filter, keeps the error history and audits each job', async () => {
    const recentStripe = await bury('stripe', 'stripe.event', '10 minutes');
    const oldStripe = await bury('stripe', 'stripe.event', '3 hours');
    const recentPaypal = await bury('paypal', 'paypal.event', '10 minutes');
    const recentStandard = await bury('standard:github', 'standard.event', '5 minutes');

    const [row] = await database.db.query<{ replayed: number }>(
      `select replay_dead_jobs(since => interval '1 hour', provider => 'stripe') as replayed`,
    );
    expect(row!.replayed).toBe(1);
    const live = await database.db.query<{ id: string; attempts: number; errors: unknown[] }>(
      `select id, attempts, errors from jobs where status = 'pending'`,
    );
    expect(live.map((job) => Number(job.id))).toEqual([recentStripe]);
    expect(live[0]!.attempts).toBe(0);
    expect(live[0]!.errors).toHaveLength(1);

    // A family name matches its sources; a kind filter narrows.
    expect(
      await replayDeadJobs(database.db, { since: '1 hour', provider: 'standard' }, 'ops@example'),
    ).toBe(1);
    expect(await replayDeadJobs(database.db, { since: '1 hour', kind: 'nope' }, 'ops')).toBe(0);

    const audit = await database.db.query<{ actor: string; entity_id: string; action: string }>(
      // Flags switched by earlier tests are audited too; these are the replays.
      `select actor, entity_id, action from audit_logs where entity_type <> 'feature_flag' order by id`,
    );
    expect(audit.map((entry) => [entry.action, Number(entry.entity_id)])).toEqual([
      ['job.replay', recentStripe],
      ['job.replay', recentStandard],
    ]);
    expect(audit[1]!.actor).toBe('ops@example');
    expect((await listDeadJobs(database.db, { since: '1 day' })).map((job) => job.id).sort())
      .toEqual([oldStripe, recentPaypal].sort());

    // The replayed job runs again.
    const registry = new JobRegistry().register('stripe.event', {
      handler: () => Promise.resolve(),
    })
      .register('standard.event', { handler: () => Promise.resolve() });
    expect(await worker(database.db, registry)).toMatchObject({ completed: 2 });
  });
});

describe('flow control', () => {
  it('holds a queue while its processing flag is off, and runs it when back on', async () => {
    await enqueueJobs(database.db, [
      { kind: 'effect', queue: 'stripe' },
      { kind: 'effect', queue: 'standard:github' },
      { kind: 'effect', queue: 'paypal' },
    ]);
    await database.db.exec(`
      update feature_flags set enabled = false
       where key in ('processing.stripe', 'processing.standard');
    `);
    expect(await worker(database.db, effectRegistry())).toMatchObject({ claimed: 1 });
    expect(await count(`select * from jobs where status = 'pending'`)).toBe(2);
    await database.db.exec(`update feature_flags set enabled = true`);
    expect(await worker(database.db, effectRegistry())).toMatchObject({ claimed: 2 });
  });

  it('claims only the queues a worker names, in claim order, held ones skipped', async () => {
    // A backlog of higher priority in a queue the claim does not name, and a named queue
    // whose processing flag is off.
    await enqueueJobs(
      database.db,
      Array.from({ length: 50 }, () => ({ kind: 'effect', queue: 'whatsapp', priority: 9 })),
    );
    const [low, high, mid] = await enqueueJobs(database.db, [
      { kind: 'effect', queue: 'stripe', priority: 0 },
      { kind: 'effect', queue: 'paypal', priority: 7 },
      { kind: 'effect', queue: 'stripe', priority: 3 },
      { kind: 'effect', queue: 'standard:github', priority: 8 },
    ]);
    await database.db.exec(
      `update feature_flags set enabled = false where key = 'processing.standard'`,
    );
    const claimed = await postgresJobStore.claim(database.db, {
      worker: 'named-queues',
      limit: 10,
      leaseSeconds: 30,
      queues: ['stripe', 'paypal', 'standard:github'],
    });
    expect(claimed.map((job) => job.id)).toEqual([high, mid, low]);
    expect(await count(`select * from jobs where status = 'running'`)).toBe(3);
    // The same claim for every queue takes the backlog's first, as ordered.
    const all = await postgresJobStore.claim(database.db, {
      worker: 'every-queue',
      limit: 5,
      leaseSeconds: 30,
    });
    expect(all.map((job) => [job.queue, job.priority])).toEqual(
      Array.from({ length: 5 }, () => ['whatsapp', 9]),
    );
  });

  it('caps how many jobs of a queue run at once across workers', async () => {
    await database.db.exec(`insert into queue_settings (queue, concurrency) values ('capped', 2)`);
    await database.db.query(
      `insert into jobs (queue, kind) select 'capped', 'tracked' from generate_series(1, 12)`,
    );
    let runningNow = 0;
    let peak = 0;
    const registry = new JobRegistry().register('tracked', {
      handler: async () => {
        runningNow += 1;
        peak = Math.max(peak, runningNow);
        await new Promise((resolve) => setTimeout(resolve, 20));
        runningNow -= 1;
      },
    });
    const pools = [workerPool(3), workerPool(3)];
    let done = 0;
    const deadline = Date.now() + 20_000;
    while (done < 12 && Date.now() < deadline) {
      const reports = await Promise.all(pools.map((pool) => worker(pool.db, registry)));
      done += reports.reduce((sum, r) => sum + r.completed, 0);
    }
    await Promise.all(pools.map((pool) => pool.close()));
    expect(done).toBe(12);
    expect(peak).toBeLessThanOrEqual(2);
  });

  it('runs one job at a time while requests come first, and all of them once that ends', async () => {
    await database.db.query(
      `insert into jobs (queue, kind) select 'default', 'tracked' from generate_series(1, 12)`,
    );
    let runningNow = 0;
    const peaks: number[] = [];
    const startedAt: number[] = [];
    let started = 0;
    let pressed = true;
    const registry = new JobRegistry().register('tracked', {
      handler: async () => {
        runningNow += 1;
        started += 1;
        peaks.push(runningNow);
        startedAt.push(performance.now());
        // The admission stops being pressed once four jobs have started.
        if (started === 4) pressed = false;
        await new Promise((resolve) => setTimeout(resolve, 20));
        runningNow -= 1;
      },
    });
    const report = await worker(database.db, registry, {
      concurrency: 4,
      batchSize: 4,
      yieldTo: () => pressed,
    });
    expect(report).toMatchObject({ claimed: 12, completed: 12 });
    // The first four ran alone, started at least the gap apart; after that up to four ran
    // side by side.
    expect(peaks.slice(0, 4)).toEqual([1, 1, 1, 1]);
    const gaps = startedAt.slice(1, 4).map((at, i) => at - startedAt[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(PRESSED_START_GAP_MS);
    expect(Math.max(...peaks.slice(4))).toBeGreaterThan(1);
    expect(Math.max(...peaks)).toBeLessThanOrEqual(4);
  });

  it('starts no more jobs than the throttle allows, across two workers', async () => {
    // 120 jobs/minute = 2/s with a burst of 2: in t seconds at most 2 + 2t may start.
    await database.db.exec(
      `insert into queue_settings (queue, throttle_per_minute, throttle_burst)
       values ('orders', 120, 2)`,
    );
    await database.db.query(
      `insert into jobs (queue, kind) select 'orders', 'stamp' from generate_series(1, 50)`,
    );
    const starts: number[] = [];
    const registry = new JobRegistry().register('stamp', {
      handler: () => {
        starts.push(Date.now());
        return Promise.resolve();
      },
    });
    const pools = [workerPool(2), workerPool(2)];
    const began = Date.now();
    const windowMs = 2_500;
    while (Date.now() - began < windowMs) {
      await Promise.all(pools.map((pool) => worker(pool.db, registry, { budgetMs: 200 })));
    }
    const elapsed = (Date.now() - began) / 1000;
    await Promise.all(pools.map((pool) => pool.close()));
    expect(starts.length).toBeLessThanOrEqual(2 + Math.ceil(2 * elapsed));
    // And the throttle is a rate, not a stop: most of the allowance was used.
    expect(starts.length).toBeGreaterThanOrEqual(Math.floor(2 * elapsed) - 1);
  }, 30_000);
});
