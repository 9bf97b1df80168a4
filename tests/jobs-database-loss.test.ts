/**
 * The job engine when its database goes away (a Postgres restart, a network cut): worker
 * passes, the kick after an ack, the local scheduler and maintenance scheduling each log
 * what failed and carry on; none leaves a promise rejection unhandled (under Deno that
 * ends the server process), and a pass resolves with its report.
 */
import { postgresJobStore } from '../functions/_shared/queue/store.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createPostgresDb } from '../functions/_shared/db/postgres.ts';
import { DatabaseUnavailableError, type Db } from '../functions/_shared/db/types.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import {
  createKicker,
  enqueueJobs,
  JobRegistry,
  newWorkerId,
  runWorker,
} from '../functions/_shared/queue/index.ts';
import { startScheduler } from '../cli/scheduler.ts';
import { capturedLogger } from './support/logs.ts';
import { createMigratedDatabase } from './support/migrated.ts';
import { freePort } from './support/process.ts';
import { noUnhandledRejections } from './support/rejections.ts';
import type { TestDatabase } from './support/database.ts';

noUnhandledRejections();

/** Each test makes the database it is given unreachable, so each gets its own. */
const made: TestDatabase[] = [];
const opened: Db[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((database) => database.drop()));
  await Promise.all(opened.splice(0).map((db) => db.close(0)));
});
async function doomedDatabase(): Promise<TestDatabase> {
  const database = await createMigratedDatabase();
  made.push(database);
  return database;
}

/** A real pool on a port nothing listens on: every statement fails to connect. */
async function unreachableDb(): Promise<Db> {
  const db = createPostgresDb({
    url: `postgres://postgres@127.0.0.1:${await freePort()}/postgres`,
    max: 1,
    connectTimeoutSeconds: 1,
  });
  opened.push(db);
  return db;
}

/** Polls `check` until it holds; fails with `what` after `timeoutMs`. */
async function eventually(check: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function messages(logs: ReturnType<typeof capturedLogger>, kind?: string): string[] {
  return logs.entries()
    .filter((entry) => kind === undefined || entry.job_kind === kind)
    .map((entry) => String(entry.msg));
}

describe('a worker pass whose database goes away mid-pass', () => {
  it('resolves with its unfinished jobs counted lost and logs each failure', async () => {
    const database = await doomedDatabase();
    // Five start at once (priority 9-7); three wait for a slot.
    await enqueueJobs(database.db, [
      { kind: 'writes', priority: 9 },
      { kind: 'writes', priority: 9 },
      { kind: 'returns', priority: 8 },
      { kind: 'throws', priority: 8 },
      { kind: 'waits', priority: 7 },
      { kind: 'returns', priority: 0 },
      { kind: 'returns', priority: 0 },
      { kind: 'returns', priority: 0 },
    ]);
    let running = 0;
    let databaseGone!: () => void;
    const gone = new Promise<void>((resolve) => (databaseGone = resolve));
    const afterTheLoss = async () => {
      running += 1;
      await gone;
    };
    const registry = new JobRegistry()
      .register('writes', {
        // Its first statement comes after the loss: BEGIN fails.
        handler: async (_payload, ctx) => {
          await afterTheLoss();
          await ctx.tx.query('select 1');
        },
      })
      // Completed without a transaction: the batched completion fails.
      .register('returns', { handler: afterTheLoss })
      // Fails: recording the failure fails.
      .register('throws', {
        handler: async () => {
          await afterTheLoss();
          throw new Error('upstream failed');
        },
      })
      // Runs until its signal aborts: its lease cannot be renewed, so it runs out.
      .register('waits', {
        handler: (_payload, ctx) => {
          running += 1;
          return new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          });
        },
      });
    const logs = capturedLogger();
    const pass = runWorker({
      store: postgresJobStore,
      db: database.connect({ max: 3 }),
      registry,
      logger: logs.logger,
      clock: systemClock,
      workerId: newWorkerId('doomed'),
      budgetMs: 20_000,
      batchSize: 10,
      concurrency: 5,
      leaseSeconds: 2,
      slowJobMs: 60_000,
    });
    await eventually(() => running === 5, 'five handlers running');
    await database.drop();
    databaseGone();

    const report = await pass;
    expect(report).toEqual({ claimed: 8, completed: 0, retried: 0, dead: 0, slow: 0, lost: 8 });
    expect(messages(logs, 'writes')).toContain(
      'recording a job failure failed; the lease will expire',
    );
    expect(messages(logs, 'throws')).toContain(
      'recording a job failure failed; the lease will expire',
    );
    expect(messages(logs, 'returns')).toContain('completing a job failed; the lease will expire');
    expect(messages(logs, 'waits')).toContain(
      'job stopped: its lease was lost; writes rolled back',
    );
    expect(messages(logs)).toContain('renewing job leases failed; retrying at the next beat');
    expect(messages(logs)).toContain(
      'job lease ran out before it could be renewed (database unreachable?)',
    );
  });
});

describe('on a database that cannot be reached', () => {
  it('a pass with maintenance resolves with an empty report, logging both failures', async () => {
    const logs = capturedLogger();
    const runner = createJobRunner({
      config: parseConfig({}),
      db: await unreachableDb(),
      logger: logs.logger,
      clock: systemClock,
    });
    expect(await runner.pass({ maintenance: true })).toEqual({
      claimed: 0,
      completed: 0,
      retried: 0,
      dead: 0,
      slow: 0,
      lost: 0,
    });
    expect(messages(logs)).toEqual([
      'scheduling maintenance failed',
      'claiming jobs failed; this pass claims no more',
    ]);
  });

  it('kicks, dropped or awaited, settle and log; a pass that throws is logged too', async () => {
    const logs = capturedLogger();
    const runner = createJobRunner({
      config: parseConfig({}),
      db: await unreachableDb(),
      logger: logs.logger,
      clock: systemClock,
      registry: createJobRegistry({ retentionDays: 7 }),
    });
    void runner.kick();
    void runner.kick(); // coalesced into one pass after the first
    await runner.kick();
    expect(messages(logs).filter((msg) => msg.startsWith('claiming jobs failed'))).toHaveLength(2);

    const kick = createKicker(() => {
      throw new DatabaseUnavailableError('database unavailable');
    }, logs.logger);
    void kick();
    await kick();
    const failed = logs.entries().filter((entry) => entry.msg === 'worker pass failed');
    expect(failed).toHaveLength(2);
    expect(failed[0]!.error).toMatchObject({ name: 'DatabaseUnavailableError' });
  });

  it('the local scheduler keeps ticking, logs each failed pass, and stops', async () => {
    const logs = capturedLogger();
    const runner = createJobRunner({
      config: parseConfig({}),
      db: await unreachableDb(),
      logger: logs.logger,
      clock: systemClock,
    });
    const scheduler = startScheduler({ runner, intervalMs: 20, logger: logs.logger });
    await eventually(
      () => messages(logs).filter((msg) => msg === 'scheduling maintenance failed').length >= 2,
      'two passes',
    );
    await scheduler.stop();

    // A runner whose pass throws before it returns a promise.
    const broken = startScheduler({
      runner: {
        workerId: 'broken',
        pass: () => {
          throw new DatabaseUnavailableError('database unavailable');
        },
        kick: () => Promise.resolve(),
      },
      intervalMs: 20,
      logger: logs.logger,
    });
    await eventually(() => messages(logs).includes('worker pass failed'), 'a failed pass');
    await broken.stop();
  });
});
