/**
 * A worker killed mid-job (kill -9, a lost machine), with the default settings: its jobs
 * run again on another worker once their lease runs out, within 30 s of their claim.
 */
import { expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import { enqueueJobs, JobRegistry } from '../functions/_shared/queue/index.ts';
import { startScheduler } from '../cli/scheduler.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { noUnhandledRejections } from './support/rejections.ts';

noUnhandledRejections();

const database = useMigratedDatabase();

/** Polls `check` until it holds; fails with `what` once `deadline` (ms since epoch) passes. */
async function until(check: () => boolean, what: string, deadline: number) {
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

it('runs a killed worker’s jobs on another worker within 30 s of their claim', async () => {
  const config = parseConfig({});
  expect(config.queue.leaseSeconds).toBe(15);
  const ids = await enqueueJobs(database.db, [{ kind: 'work' }, { kind: 'work' }, {
    kind: 'work',
  }]);

  // The worker that dies: it claims the jobs, starts them, and then its process is gone
  // (its connections close; nothing of it reaches the database again).
  const doomedPool = database.connect({ max: 2 });
  let started = 0;
  const doomed = createJobRunner({
    config,
    db: doomedPool,
    logger: capturedLogger().logger,
    clock: systemClock,
    registry: new JobRegistry().register('work', {
      handler: () => {
        started += 1;
        return new Promise(() => {}); // never ends, and ignores its signal
      },
    }),
  });
  const claimedBy = Date.now();
  const dying = doomed.pass();
  await until(() => started === 3, 'the doomed worker to start its jobs', claimedBy + 5_000);
  await doomedPool.close(0);

  // Another worker: the local server's scheduler, with the default settings.
  const ran = new Map<number, number>();
  const survivor = createJobRunner({
    config,
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    registry: createJobRegistry({ retentionDays: 7 }).register('work', {
      handler: (_payload, ctx) => {
        ran.set(ctx.job.id, Date.now());
        return Promise.resolve();
      },
    }),
  });
  const scheduler = startScheduler({
    runner: survivor,
    intervalMs: config.queue.schedulerIntervalMs,
    logger: capturedLogger().logger,
  });
  try {
    await until(() => ran.size === 3, 'the jobs to run again', claimedBy + 30_000);
  } finally {
    await scheduler.stop();
  }

  for (const id of ids) {
    // Not before the lease ran out (nobody may take a job while it is held), and well
    // within 30 s of the claim.
    expect(ran.get(id)! - claimedBy).toBeGreaterThanOrEqual(15_000);
    expect(ran.get(id)! - claimedBy).toBeLessThan(30_000);
  }
  const rows = await database.db.query<
    { status: string; attempts: number; errors: { error: string }[] }
  >(`select status, attempts, errors from jobs where kind = 'work' order by id`);
  expect(rows.map((row) => [row.status, row.attempts, row.errors[0]?.error])).toEqual(
    ids.map(() => ['completed', 2, 'lease expired: the worker stopped before finishing']),
  );
  // What is left of the dead worker gave its jobs up when it could no longer renew them.
  expect(await dying).toMatchObject({ claimed: 3, completed: 0, lost: 3 });
}, 40_000);
