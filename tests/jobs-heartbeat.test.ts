/**
 * The worker's lease heartbeat against a real database, with short leases so the tests
 * are quick: one statement per beat renews every job the pass holds, a job runs for many
 * leases without being taken over, and a job whose lease is lost is stopped with its
 * writes rolled back. (Claimed jobs waiting for a slot: jobs-batching.test.ts.)
 */
import { postgresJobStore } from '../functions/_shared/queue/store.ts';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import type { Db } from '../functions/_shared/db/types.ts';
import {
  enqueueJobs,
  JobRegistry,
  LeaseLostError,
  newWorkerId,
  runWorker,
  type WorkerOptions,
} from '../functions/_shared/queue/index.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { noUnhandledRejections } from './support/rejections.ts';

noUnhandledRejections();

const database = useMigratedDatabase({
  setup: 'create table heartbeat_effects (job_id bigint primary key)',
  reset: 'delete from jobs; delete from dead_jobs; delete from heartbeat_effects;',
});

/** The real database, noting every statement sent through it. */
function observed(db: Db): { db: Db; calls: (fn: string) => number } {
  const statements: string[] = [];
  return {
    db: {
      ...db,
      query: (text, values, ...options) => {
        statements.push(text);
        return db.query(text, values, ...options);
      },
    },
    calls: (fn) => statements.filter((text) => text.includes(`public.${fn}(`)).length,
  };
}

function worker(db: Db, registry: JobRegistry, overrides: Partial<WorkerOptions> = {}) {
  const logs = capturedLogger();
  const report = runWorker({
    store: postgresJobStore,
    db,
    registry,
    logger: logs.logger,
    clock: systemClock,
    workerId: newWorkerId('beat'),
    budgetMs: 20_000,
    batchSize: 10,
    concurrency: 10,
    leaseSeconds: 2,
    slowJobMs: 60_000,
    ...overrides,
  });
  return { report, logs };
}

/** What another worker's claim leaves on a job row (after this worker's lease ran out). */
const takeover = `update jobs set locked_by = 'someone-else',
                                  lease_expires_at = now() + interval '1 hour'
                   where id = $1`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function jobRows() {
  return await database.db.query<{ id: string; status: string; attempts: number }>(
    'select id, status, attempts from jobs order by id',
  );
}

describe('the lease heartbeat', () => {
  it(
    'keeps jobs running for several leases, in one statement per beat, while nobody else may take them',
    async () => {
      // Five jobs that each run 3.5 leases (2 s each), then write through their transaction.
      const ids = await enqueueJobs(
        database.db,
        Array.from({ length: 5 }, () => ({ kind: 'long' })),
      );
      const runMs = 7_000;
      const registry = new JobRegistry().register('long', {
        handler: async (_payload, ctx) => {
          await sleep(runMs);
          await ctx.tx.query('insert into heartbeat_effects (job_id) values ($1)', [ctx.job.id]);
        },
      });
      const probe = observed(database.db);
      const began = Date.now();
      const holder = worker(probe.db, registry);

      // Another worker keeps trying to claim while they run; it must find nothing.
      const other = new JobRegistry().register('long', { handler: () => Promise.resolve() });
      let othersClaimed = 0;
      while (Date.now() - began < runMs - 500) {
        othersClaimed += (await worker(database.db, other).report).claimed;
        await sleep(200);
      }
      const report = await holder.report;
      const elapsed = Date.now() - began;

      expect(othersClaimed).toBe(0);
      expect(report).toMatchObject({ claimed: 5, completed: 5, lost: 0 });
      expect(await jobRows()).toEqual(
        ids.map((id) => ({ id: String(id), status: 'completed', attempts: 1 })),
      );
      expect(await database.db.query('select count(*)::int as n from heartbeat_effects')).toEqual([
        { n: 5 },
      ]);
      // A beat every third of the lease for the whole pass, whatever the number of jobs.
      const beats = elapsed / (2_000 / 3);
      expect(probe.calls('extend_job_leases')).toBeGreaterThanOrEqual(Math.floor(beats) - 2);
      expect(probe.calls('extend_job_leases')).toBeLessThanOrEqual(Math.ceil(beats));
      expect(probe.calls('extend_job_lease')).toBe(0);
    },
    20_000,
  );

  it('stops a running job whose lease another worker took, and the pass reports it lost', async () => {
    const [id] = await enqueueJobs(database.db, [{ kind: 'patient' }]);
    let stoppedWith: unknown = null;
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    const registry = new JobRegistry().register('patient', {
      handler: (_payload, ctx) =>
        new Promise((_resolve, reject) => {
          running();
          ctx.signal.addEventListener('abort', () => {
            stoppedWith = ctx.signal.reason;
            reject(ctx.signal.reason);
          });
        }),
    });
    const { report, logs } = worker(database.db, registry);
    await started;
    await database.db.query(takeover, [id]);

    expect(await report).toMatchObject({ claimed: 1, completed: 0, retried: 0, lost: 1 });
    expect(stoppedWith).toBeInstanceOf(LeaseLostError);
    expect(logs.entries().map((entry) => entry.msg)).toContain(
      'job lease lost: another worker owns the job now',
    );
    // Nothing was written over the other worker's claim.
    expect(await database.db.query('select status, locked_by, attempts from jobs')).toEqual([
      { status: 'running', locked_by: 'someone-else', attempts: 1 },
    ]);
  });

  it('rolls back what a stopped job wrote through its transaction', async () => {
    const [id] = await enqueueJobs(database.db, [{ kind: 'overtaken' }]);
    // The takeover comes from a second connection on Postgres. The embedded engine runs one
    // session, which the job's open transaction holds: there the takeover is written inside
    // it, and the heartbeat, queued behind it, cannot renew the lease before it runs out.
    const other = database.kind === 'postgres' ? database.connect({ max: 1 }) : null;
    const registry = new JobRegistry().register('overtaken', {
      handler: async (_payload, ctx) => {
        await ctx.tx.query('insert into heartbeat_effects (job_id) values ($1)', [ctx.job.id]);
        await (other ?? ctx.tx).query(takeover, [ctx.job.id]);
        await new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        });
      },
    });
    try {
      const { report } = worker(database.db, registry);
      expect(await report).toMatchObject({ claimed: 1, completed: 0, lost: 1 });
    } finally {
      await other?.close();
    }
    expect(await database.db.query('select * from heartbeat_effects')).toEqual([]);
    const [job] = await database.db.query<{ status: string; locked_by: string }>(
      'select status, locked_by from jobs where id = $1',
      [id],
    );
    expect(job!.status).toBe('running');
    if (other) expect(job!.locked_by).toBe('someone-else');
  });
});
