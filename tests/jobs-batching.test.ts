/**
 * How the worker saves round trips against a real database: a handler that never touches
 * `ctx.tx` opens no transaction and its completion is batched with others'; the next batch
 * is claimed ahead and handed back if the worker stops; leases are still checked at every
 * completion, and the heartbeat renews the leases of claimed jobs waiting for a slot.
 */
import { postgresJobStore } from '../functions/_shared/queue/store.ts';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import type { Db, Transaction } from '../functions/_shared/db/types.ts';
import {
  enqueueJobs,
  JobRegistry,
  newWorkerId,
  runWorker,
  type WorkerOptions,
} from '../functions/_shared/queue/index.ts';
import { asRole, sqlState } from './support/rls.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';

const database = useMigratedDatabase({
  setup: `create table batch_effects (job_id bigint primary key)`,
  reset: `
    delete from jobs; delete from dead_jobs; delete from batch_effects; delete from slow_jobs;
  `,
});

/** The real database, counting the statements and transactions the worker sends. */
function counted(db: Db) {
  const statements: string[] = [];
  let transactions = 0;
  const wrapped: Db = {
    description: db.description,
    query: (text, values) => {
      statements.push(text);
      return db.query(text, values);
    },
    exec: (text) => db.exec(text),
    batch: (batch, options) => {
      transactions += 1;
      statements.push(...batch.map((statement) => statement.text));
      return db.batch(batch, options);
    },
    transaction: <T>(fn: (tx: Transaction) => Promise<T>) => {
      transactions += 1;
      return db.transaction(fn);
    },
    close: (timeout) => db.close(timeout),
    probe: (timeoutMs) => db.probe(timeoutMs),
    stats: () => db.stats(),
  };
  return {
    db: wrapped,
    calls: (fn: string) => statements.filter((text) => text.includes(`public.${fn}(`)).length,
    transactions: () => transactions,
  };
}

function worker(db: Db, registry: JobRegistry, overrides: Partial<WorkerOptions> = {}) {
  return runWorker({
    store: postgresJobStore,
    db,
    registry,
    logger: capturedLogger().logger,
    clock: systemClock,
    workerId: newWorkerId('batch'),
    budgetMs: 20_000,
    batchSize: 10,
    concurrency: 10,
    leaseSeconds: 30,
    slowJobMs: 30_000,
    ...overrides,
  });
}

async function statuses(): Promise<Record<string, number>> {
  const rows = await database.db.query<{ status: string; n: number }>(
    `select status, count(*)::int as n from jobs group by status`,
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('handlers that never touch ctx.tx', () => {
  it('open no transaction; completions go many to a statement, each job once', async () => {
    const total = 300;
    await database.db.query(
      `insert into jobs (kind, payload)
       select 'noop', jsonb_build_object('n', g) from generate_series(1, $1) g`,
      [total],
    );
    const seen: number[] = [];
    const registry = new JobRegistry().register<{ n: number }>('noop', {
      handler: (payload) => {
        seen.push(payload.n);
        return Promise.resolve();
      },
    });
    const probe = counted(database.db);
    const report = await worker(probe.db, registry);
    expect(report).toMatchObject({ claimed: total, completed: total, lost: 0, retried: 0 });
    expect(new Set(seen).size).toBe(total);
    expect(await statuses()).toEqual({ completed: total });
    const [attempts] = await database.db.query<{ max: number }>(
      'select max(attempts) as max from jobs',
    );
    expect(attempts!.max).toBe(1);
    expect(probe.transactions()).toBe(0);
    expect(probe.calls('complete_job')).toBe(0);
    expect(probe.calls('complete_jobs')).toBeGreaterThan(0);
    expect(probe.calls('complete_jobs')).toBeLessThanOrEqual(total / 5);
  });

  it('reports a job whose lease another worker took as lost, and leaves it theirs', async () => {
    const [id] = await enqueueJobs(database.db, [{ kind: 'stolen' }]);
    const registry = new JobRegistry().register('stolen', {
      handler: async (_payload, ctx) => {
        // Another worker takes the job over while this handler runs.
        await database.db.query(`update jobs set locked_by = 'someone-else' where id = $1`, [
          ctx.job.id,
        ]);
      },
    });
    expect(await worker(database.db, registry)).toMatchObject({ completed: 0, lost: 1 });
    const [job] = await database.db.query<{ status: string; locked_by: string }>(
      'select status, locked_by from jobs where id = $1',
      [id],
    );
    expect(job).toEqual({ status: 'running', locked_by: 'someone-else' });
  });
});

describe('handlers that write through ctx.tx', () => {
  it('commit their writes with the completion, one transaction per job', async () => {
    const ids = await enqueueJobs(
      database.db,
      Array.from({ length: 20 }, () => ({ kind: 'writer' })),
    );
    const registry = new JobRegistry().register('writer', {
      handler: async (_payload, ctx) => {
        await ctx.tx.query('insert into batch_effects (job_id) values ($1)', [ctx.job.id]);
      },
    });
    const probe = counted(database.db);
    expect(await worker(probe.db, registry)).toMatchObject({ completed: 20 });
    expect(probe.transactions()).toBe(20);
    expect(probe.calls('complete_jobs')).toBe(0);
    const effects = await database.db.query<{ job_id: string }>(
      'select job_id from batch_effects order by job_id',
    );
    expect(effects.map((row) => Number(row.job_id))).toEqual(ids);
  });

  it('roll their writes back when the handler fails after writing', async () => {
    const [id] = await enqueueJobs(database.db, [{ kind: 'half-done' }]);
    const registry = new JobRegistry().register('half-done', {
      handler: async (_payload, ctx) => {
        await ctx.tx.query('insert into batch_effects (job_id) values ($1)', [ctx.job.id]);
        throw new Error('upstream went away');
      },
      policy: { backoff: { baseMs: 60_000, capMs: 60_000 } },
    });
    expect(await worker(database.db, registry)).toMatchObject({ retried: 1, completed: 0 });
    expect(await database.db.query('select * from batch_effects')).toEqual([]);
    const [job] = await database.db.query<{ status: string; last_error: string }>(
      'select status, last_error from jobs where id = $1',
      [id],
    );
    expect(job).toEqual({ status: 'pending', last_error: 'Error: upstream went away' });
  });

  it('roll their writes back when the lease was lost before the commit', async () => {
    const [id] = await enqueueJobs(database.db, [{ kind: 'overtaken' }]);
    // Another worker takes the lease while the handler runs: from a second connection on
    // Postgres; the embedded engine runs one session, so there the takeover is written
    // through the job's own transaction (complete_job sees the same foreign owner).
    const other = database.kind === 'postgres' ? database.connect({ max: 1 }) : null;
    const registry = new JobRegistry().register('overtaken', {
      handler: async (_payload, ctx) => {
        await ctx.tx.query('insert into batch_effects (job_id) values ($1)', [ctx.job.id]);
        await (other ?? ctx.tx).query(`update jobs set locked_by = 'someone-else' where id = $1`, [
          ctx.job.id,
        ]);
      },
    });
    try {
      expect(await worker(database.db, registry)).toMatchObject({ completed: 0, lost: 1 });
    } finally {
      await other?.close();
    }
    expect(await database.db.query('select * from batch_effects')).toEqual([]);
    const [job] = await database.db.query<{ status: string; locked_by: string }>(
      'select status, locked_by from jobs where id = $1',
      [id],
    );
    expect(job!.status).toBe('running');
    // On Postgres the other worker's takeover stands; its lease decides what happens next.
    if (other) expect(job!.locked_by).toBe('someone-else');
  });
});

describe('claiming ahead', () => {
  it('hands jobs claimed ahead back, attempt uncounted, when the worker stops', async () => {
    await database.db.query(
      `insert into jobs (kind) select 'interrupted' from generate_series(1, 6)`,
    );
    const controller = new AbortController();
    const registry = new JobRegistry().register('interrupted', {
      handler: async () => {
        // The stop comes while this job runs: it is aborted (and retried later).
        controller.abort(new Error('shutting down'));
        await sleep(50);
      },
    });
    // One slot, batches of 6: one job runs, five wait for the slot when the stop comes.
    const report = await worker(database.db, registry, {
      concurrency: 1,
      batchSize: 6,
      signal: controller.signal,
    });
    // The five handed back do not count as claimed by this worker.
    expect(report).toMatchObject({ claimed: 1, completed: 0, retried: 1 });
    const jobs = await database.db.query<{ attempts: number; locked_by: string | null }>(
      `select attempts, locked_by from jobs where status = 'pending' order by attempts`,
    );
    expect(jobs).toEqual([
      ...Array.from({ length: 5 }, () => ({ attempts: 0, locked_by: null })),
      { attempts: 1, locked_by: null },
    ]);
  });

  it('hands jobs claimed ahead back when the budget runs out, instead of overrunning', async () => {
    await database.db.query(`insert into jobs (kind) select 'slow' from generate_series(1, 20)`);
    const registry = new JobRegistry().register('slow', {
      handler: async () => {
        await sleep(100);
      },
    });
    const began = Date.now();
    const report = await worker(database.db, registry, {
      concurrency: 1,
      batchSize: 10,
      budgetMs: 300,
    });
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(report.claimed).toBeLessThanOrEqual(4);
    expect(report.completed).toBe(report.claimed);
    const [row] = await database.db.query<{ n: number }>(
      `select count(*)::int as n from jobs where status = 'pending' and attempts = 0`,
    );
    expect(row!.n).toBe(20 - report.claimed);
  });

  it('does not start a job that lost its lease while it waited for a slot', async () => {
    const [first, second] = await enqueueJobs(database.db, [
      { kind: 'slow', priority: 1 },
      { kind: 'slow', priority: 0 },
    ]);
    const ran: number[] = [];
    const registry = new JobRegistry().register('slow', {
      handler: async (_payload, ctx) => {
        ran.push(ctx.job.id);
        if (ctx.job.id === first) {
          // The waiting job passes to another worker meanwhile.
          await database.db.query(`update jobs set locked_by = 'someone-else' where id = $1`, [
            second,
          ]);
          await sleep(1_600);
        }
      },
    });
    // A 3 s lease: the heartbeat renews every second, the waiting job's included, and hears
    // that this one is lost before the first job ends.
    const report = await worker(database.db, registry, {
      concurrency: 1,
      batchSize: 2,
      leaseSeconds: 3,
    });
    expect(ran).toEqual([first]);
    expect(report).toMatchObject({ claimed: 2, completed: 1, lost: 1 });
  });

  it('renews the lease of a job that waited long for a slot, then runs it', async () => {
    const [first, second] = await enqueueJobs(database.db, [
      { kind: 'slow', priority: 1 },
      { kind: 'slow', priority: 0 },
    ]);
    let leaseAtStart: Date | null = null;
    const registry = new JobRegistry().register('slow', {
      handler: async (_payload, ctx) => {
        if (ctx.job.id === first) await sleep(1_600);
        else {
          const [row] = await database.db.query<{ lease_expires_at: Date }>(
            'select lease_expires_at from jobs where id = $1',
            [second],
          );
          leaseAtStart = new Date(row!.lease_expires_at);
        }
      },
    });
    const claimedBy = Date.now();
    const report = await worker(database.db, registry, {
      concurrency: 1,
      batchSize: 2,
      leaseSeconds: 3,
    });
    expect(report).toMatchObject({ claimed: 2, completed: 2, lost: 0 });
    // Claimed with a 3 s lease at the start; renewed by the heartbeat about 1 s later.
    expect(leaseAtStart!.getTime()).toBeGreaterThan(claimedBy + 3_000 + 800);
  });
});

describe('claim_jobs', () => {
  it('releases a dead worker’s expired lease at the next claim of a pass busy with a long job', async () => {
    // A job some worker claimed with a 2 s lease, then died without renewing it.
    await database.db.query(
      `insert into jobs (kind, status, attempts, locked_by, lease_expires_at, started_at)
       values ('orphan', 'running', 1, 'gone', now() + interval '2 seconds', now())`,
    );
    let finishLong!: () => void;
    const long = new Promise<void>((resolve) => (finishLong = resolve));
    const registry = new JobRegistry()
      .register('long', { handler: () => long })
      .register('orphan', {
        handler: () => {
          finishLong();
          return Promise.resolve();
        },
      });
    await enqueueJobs(database.db, [{ kind: 'long' }]);
    // The pass claims the long job and finds nothing else due; it claims again every few
    // seconds while the long job runs, and so picks the orphan up once its lease is out.
    const began = Date.now();
    expect(await worker(database.db, registry)).toMatchObject({
      claimed: 2,
      completed: 2,
      lost: 0,
    });
    expect(Date.now() - began).toBeLessThan(6_000);
    const [orphan] = await database.db.query<{ attempts: number; errors: { error: string }[] }>(
      `select attempts, errors from jobs where kind = 'orphan'`,
    );
    expect(orphan!.attempts).toBe(2);
    expect(orphan!.errors[0]!.error).toMatch(/lease expired/);
  });

  it('releases expired leases unless told not to', async () => {
    await database.db.query(
      `insert into jobs (kind, status, attempts, locked_by, lease_expires_at)
       values ('orphan', 'running', 1, 'gone', now() - interval '1 second')`,
    );
    await database.db.query(`select id from claim_jobs('w', 1, 30, null, false)`);
    expect(await statuses()).toEqual({ running: 1 });
    const claimed = await database.db.query<{ kind: string }>(
      `select kind from claim_jobs('w', 1, 30, null)`,
    );
    expect(claimed.map((job) => job.kind)).toEqual(['orphan']);
  });

  it('refuses the batch functions to anon and authenticated', async () => {
    for (const role of ['anon', 'authenticated'] as const) {
      for (
        const call of [
          `select complete_jobs('{1}', 'w')`,
          `select release_jobs('{1}', 'w')`,
          `select extend_job_leases('{1}', 'w', 30)`,
        ]
      ) {
        const state = await asRole(
          database.db,
          role,
          (tx) => sqlState(() => tx.query(call)),
          role === 'anon' ? { role } : { role, sub: '00000000-0000-4000-8000-000000000001' },
        );
        expect({ role, call, state }).toEqual({ role, call, state: '42501' });
      }
    }
  });
});
