/**
 * Follow-ups and the passes of one runner, against a real database: the due jobs a job
 * enqueues through `ctx.tx` are claimed with its commit and run next, without another
 * claim, and only if the job's work committed; they keep every rule of an ordinary claim
 * (kill switch, throttles, their time) and retry and dead-letter like any job. A kick is
 * served by a pass still claiming, even one busy with a long job, and the passes of one
 * runner never run more jobs at once than its concurrency.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import type { Db, Row, Transaction } from '../functions/_shared/db/types.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import {
  enqueueJobs,
  JobRegistry,
  listDeadJobs,
  newWorkerId,
  PermanentJobError,
  RetryJobError,
  runWorker,
  type WorkerOptions,
} from '../functions/_shared/queue/index.ts';
import { postgresJobStore } from '../functions/_shared/queue/store.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({
  setup: `create table follow_effects (job_id bigint primary key, kind text not null)`,
  reset: `
    delete from jobs; delete from dead_jobs; delete from follow_effects; delete from slow_jobs;
    delete from queue_settings; delete from rate_limits;
    delete from feature_flags where key = 'processing.held';
  `,
});

/** The real database, keeping what each `claim_jobs` call returned. */
function counted(db: Db) {
  const claimed: number[][] = [];
  const wrapped: Db = {
    description: db.description,
    query: async <T extends Row = Row>(text: string, values?: readonly unknown[]) => {
      const rows = await db.query<T>(text, values);
      if (text.includes('public.claim_jobs(')) claimed.push(rows.map((row) => Number(row.id)));
      return rows;
    },
    exec: (text) => db.exec(text),
    batch: (batch, options) => db.batch(batch, options),
    transaction: <T>(fn: (tx: Transaction) => Promise<T>) => db.transaction(fn),
    close: (timeout) => db.close(timeout),
    probe: (timeoutMs) => db.probe(timeoutMs),
    stats: () => db.stats(),
  };
  return { db: wrapped, claimedByClaims: () => claimed.flat() };
}

function worker(db: Db, registry: JobRegistry, overrides: Partial<WorkerOptions> = {}) {
  return runWorker({
    store: postgresJobStore,
    db,
    registry,
    logger: capturedLogger().logger,
    clock: systemClock,
    workerId: newWorkerId('follow'),
    budgetMs: 20_000,
    batchSize: 10,
    concurrency: 4,
    leaseSeconds: 30,
    slowJobMs: 30_000,
    ...overrides,
  });
}

async function effect(tx: Transaction, id: number, kind: string): Promise<void> {
  await tx.query('insert into follow_effects (job_id, kind) values ($1, $2)', [id, kind]);
}

async function jobsOf(kind: string) {
  return await database.db.query<{ id: string; queue: string; status: string; attempts: number }>(
    'select id, queue, status, attempts from jobs where kind = $1 order by id',
    [kind],
  );
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((yes) => (resolve = yes));
  return { promise, resolve };
}

describe('follow-ups: due jobs a job enqueues through ctx.tx', () => {
  it('run in the same pass, claimed with the commit rather than by another claim', async () => {
    const registry = new JobRegistry()
      .register('parent', {
        handler: async (_payload, ctx) => {
          await effect(ctx.tx, ctx.job.id, 'parent');
          await enqueueJobs(ctx.tx, [{ kind: 'child', queue: 'replies' }]);
        },
      })
      .register('child', { handler: (_payload, ctx) => effect(ctx.tx, ctx.job.id, 'child') });
    const [parent] = await enqueueJobs(database.db, [{ kind: 'parent' }]);
    const probe = counted(database.db);

    expect(await worker(probe.db, registry)).toMatchObject({ claimed: 2, completed: 2, lost: 0 });
    const [child] = await jobsOf('child');
    expect(child).toMatchObject({ queue: 'replies', status: 'completed', attempts: 1 });
    // Only the parent came from a claim: the child was claimed as the parent committed.
    expect(probe.claimedByClaims()).toEqual([parent]);
    const effects = await database.db.query('select kind from follow_effects order by job_id');
    expect(effects).toEqual([{ kind: 'parent' }, { kind: 'child' }]);
  });

  it('exist only once the work that queued them commits; a retry queues them once', async () => {
    let attempts = 0;
    const registry = new JobRegistry()
      .register('parent', {
        handler: async (_payload, ctx) => {
          attempts += 1;
          await effect(ctx.tx, ctx.job.id, 'parent');
          await enqueueJobs(ctx.tx, [{ kind: 'child' }]);
          if (attempts === 1) {
            throw new RetryJobError('the work failed after queuing its reply', 60_000);
          }
        },
      })
      .register('child', { handler: (_payload, ctx) => effect(ctx.tx, ctx.job.id, 'child') });
    await enqueueJobs(database.db, [{ kind: 'parent' }]);

    expect(await worker(database.db, registry)).toMatchObject({ completed: 0, retried: 1 });
    expect(await jobsOf('child')).toEqual([]);
    expect(await database.db.query('select * from follow_effects')).toEqual([]);

    await database.db.query(`update jobs set run_at = now() where kind = 'parent'`);
    expect(await worker(database.db, registry)).toMatchObject({ claimed: 2, completed: 2 });
    expect(await jobsOf('child')).toMatchObject([{ status: 'completed', attempts: 1 }]);
  });

  it('are never claimed when the job lost its lease: its writes roll back, with them', async () => {
    const registry = new JobRegistry()
      .register('parent', {
        handler: async (_payload, ctx) => {
          // Another worker takes the job over before its transaction is opened.
          await database.db.query(`update jobs set locked_by = 'someone-else' where id = $1`, [
            ctx.job.id,
          ]);
          await effect(ctx.tx, ctx.job.id, 'parent');
          await enqueueJobs(ctx.tx, [{ kind: 'child' }]);
        },
      })
      .register('child', { handler: (_payload, ctx) => effect(ctx.tx, ctx.job.id, 'child') });
    const [parent] = await enqueueJobs(database.db, [{ kind: 'parent' }]);
    const logs = capturedLogger();

    expect(await worker(database.db, registry, { logger: logs.logger })).toMatchObject({
      completed: 0,
      lost: 1,
    });
    // Told as a lost lease, not as a failure of the job's own.
    expect(logs.entries().map((entry) => entry.msg)).toContain(
      'job stopped: its lease was lost; writes rolled back',
    );
    expect(await jobsOf('child')).toEqual([]);
    expect(await database.db.query('select * from follow_effects')).toEqual([]);
    const [job] = await database.db.query('select status, locked_by from jobs where id = $1', [
      parent,
    ]);
    expect(job).toEqual({ status: 'running', locked_by: 'someone-else' });
  });

  it('keep the kill switch, queue caps, the pass’s queues and their time', async () => {
    await database.db.exec(`
      insert into feature_flags (key, enabled) values ('processing.held', false);
      insert into queue_settings (queue, concurrency) values ('capped', 1);
    `);
    const registry = new JobRegistry()
      .register('parent', {
        handler: async (_payload, ctx) => {
          await enqueueJobs(ctx.tx, [
            { kind: 'child', queue: 'held' },
            { kind: 'child', queue: 'capped' },
            { kind: 'child', queue: 'elsewhere' },
            { kind: 'child', queue: 'later', runAt: new Date(Date.now() + 3_600_000) },
            { kind: 'child', queue: 'now' },
          ]);
        },
      })
      .register('child', { handler: (_payload, ctx) => effect(ctx.tx, ctx.job.id, 'child') });
    await enqueueJobs(database.db, [{ kind: 'parent', queue: 'now' }]);
    const probe = counted(database.db);

    await worker(probe.db, registry, { queues: ['now', 'capped', 'held', 'later'] });
    const children = Object.fromEntries(
      (await jobsOf('child')).map((job) => [job.queue, [job.status, job.attempts]]),
    );
    expect(children).toEqual({
      held: ['pending', 0],
      // Run, but through an ordinary claim, which counts the queue's cap.
      capped: ['completed', 1],
      elsewhere: ['pending', 0],
      later: ['pending', 0],
      now: ['completed', 1],
    });
    const [capped] = await database.db.query<{ id: string }>(
      `select id from jobs where queue = 'capped'`,
    );
    expect(probe.claimedByClaims()).toContain(Number(capped!.id));
  });

  it('retry and dead-letter like any job', async () => {
    const registry = new JobRegistry()
      .register('parent', {
        handler: async (_payload, ctx) => {
          await enqueueJobs(ctx.tx, [{ kind: 'flaky' }, { kind: 'doomed' }]);
        },
      })
      .register('flaky', {
        handler: () => Promise.reject(new Error('upstream hiccup')),
        policy: { backoff: { baseMs: 60_000, capMs: 60_000 } },
      })
      .register('doomed', {
        handler: () => Promise.reject(new PermanentJobError('cannot ever work')),
      });
    await enqueueJobs(database.db, [{ kind: 'parent' }]);

    expect(await worker(database.db, registry)).toMatchObject({
      claimed: 3,
      completed: 1,
      retried: 1,
      dead: 1,
    });
    const [flaky] = await database.db.query<{ status: string; attempts: number; late: boolean }>(
      `select status, attempts, run_at > now() as late from jobs where kind = 'flaky'`,
    );
    expect(flaky).toEqual({ status: 'pending', attempts: 1, late: true });
    const dead = await listDeadJobs(database.db, { since: '1 hour' });
    expect(dead).toMatchObject([
      { kind: 'doomed', attempts: 1, lastError: 'PermanentJobError: cannot ever work' },
    ]);
  });

  it('start side by side when a job queues several', async () => {
    const started: number[] = [];
    const allStarted = deferred();
    const registry = new JobRegistry()
      .register('parent', {
        handler: async (_payload, ctx) => {
          await enqueueJobs(ctx.tx, [{ kind: 'child' }, { kind: 'child' }, { kind: 'child' }]);
        },
      })
      .register('child', {
        // Each waits for all three: they finish only if they run at the same time.
        handler: async (_payload, ctx) => {
          started.push(ctx.job.id);
          if (started.length === 3) allStarted.resolve();
          await allStarted.promise;
        },
        policy: { timeoutMs: 10_000, maxAttempts: 1 },
      });
    await enqueueJobs(database.db, [{ kind: 'parent' }]);
    expect(await worker(database.db, registry)).toMatchObject({ claimed: 4, completed: 4 });
  });
});

describe('the passes of one runner', () => {
  const runnerWith = (registry: JobRegistry, env: Record<string, string> = {}) =>
    createJobRunner({
      config: parseConfig(env),
      db: database.db,
      logger: capturedLogger().logger,
      clock: systemClock,
      registry,
    });

  it('serve a kick at once, even while a long job runs', async () => {
    const longStarted = deferred();
    const release = deferred();
    const quickRan = deferred();
    const registry = new JobRegistry()
      .register('long', {
        handler: async () => {
          longStarted.resolve();
          await release.promise;
        },
      })
      .register('quick', {
        handler: () => {
          quickRan.resolve();
          return Promise.resolve();
        },
      });
    const runner = runnerWith(registry);
    await enqueueJobs(database.db, [{ kind: 'long' }]);
    const first = runner.kick();
    await longStarted.promise;

    await enqueueJobs(database.db, [{ kind: 'quick' }]);
    const kickedAt = performance.now();
    const second = runner.kick();
    await quickRan.promise;
    // Claimed by the pass already running: no waiting for the long job or a 2 s poll.
    expect(performance.now() - kickedAt).toBeLessThan(1_000);
    release.resolve();
    await Promise.all([first, second]);
    expect(await database.db.query(`select kind, status from jobs order by id`)).toEqual([
      { kind: 'long', status: 'completed' },
      { kind: 'quick', status: 'completed' },
    ]);
  });

  it('run no more jobs at once between them than the runner’s concurrency', async () => {
    let running = 0;
    let peak = 0;
    const registry = new JobRegistry().register('tracked', {
      handler: async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 10));
        running -= 1;
      },
    });
    const runner = runnerWith(registry, { GATEHOUSE_WORKER_CONCURRENCY: '2' });
    await database.db.query(
      `insert into jobs (kind) select 'tracked' from generate_series(1, 40)`,
    );
    // A sweep, a kick and the worker function's pass, side by side.
    const reports = await Promise.all([runner.pass(), runner.kick(), runner.pass()]);
    const [sweep, , other] = reports as [{ completed: number }, void, { completed: number }];
    expect(await jobsOf('tracked')).toHaveLength(40);
    expect((await jobsOf('tracked')).every((job) => job.status === 'completed')).toBe(true);
    expect(sweep.completed + other.completed).toBeLessThanOrEqual(40);
    expect(peak).toBeLessThanOrEqual(2);
  });
});
