import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRegistry, createJobRunner } from '../functions/_shared/jobs/index.ts';
import { enqueueJobs } from '../functions/_shared/queue/index.ts';
import { capturedLogger } from '../tests/support/logs.ts';
import { useMigratedDatabase } from '../tests/support/migrated.ts';
import { startScheduler } from './scheduler.ts';

const database = useMigratedDatabase();

function runnerWith(handler: () => Promise<void>) {
  const registry = createJobRegistry({ retentionDays: 7 }).register('tick', { handler });
  return createJobRunner({
    config: parseConfig({}),
    db: database.db,
    logger: capturedLogger().logger,
    clock: systemClock,
    registry,
  });
}

async function statusOf(id: number) {
  const [row] = await database.db.query<{ status: string }>(
    'select status from jobs where id = $1',
    [
      id,
    ],
  );
  return row?.status;
}

describe('the local scheduler', () => {
  it('runs jobs enqueued after it started, on its own', async () => {
    const logs = capturedLogger();
    const scheduler = startScheduler({
      runner: runnerWith(() => Promise.resolve()),
      intervalMs: 50,
      logger: logs.logger,
    });
    const [id] = await enqueueJobs(database.db, [{ kind: 'tick' }]);
    const deadline = Date.now() + 10_000;
    while ((await statusOf(id!)) !== 'completed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await scheduler.stop();
    expect(await statusOf(id!)).toBe('completed');
    expect(logs.entries().some((entry) => entry.msg === 'worker pass')).toBe(true);
  });

  it('on stop, aborts the running handler, keeps its job for a retry, and runs nothing after', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const runner = runnerWith(() => {
      started();
      return new Promise<void>(() => {}); // only the abort ends it
    });
    const scheduler = startScheduler({ runner, intervalMs: 20, logger: capturedLogger().logger });
    const [first] = await enqueueJobs(database.db, [{ kind: 'tick' }]);
    await running;
    await scheduler.stop();
    const [job] = await database.db.query<{ status: string; attempts: number; last_error: string }>(
      'select status, attempts, last_error from jobs where id = $1',
      [first],
    );
    expect(job).toMatchObject({ status: 'pending', attempts: 1 });
    expect(job!.last_error).toMatch(/abort/i);
    const [second] = await enqueueJobs(database.db, [{ kind: 'tick' }]);
    // A pass would start within 20 ms; give it many periods.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await statusOf(second!)).toBe('pending');
    await database.db.query('delete from jobs where id = any($1::bigint[])', [[first, second]]);
  });

  it('is off when the interval is 0', async () => {
    const scheduler = startScheduler({
      runner: runnerWith(() => Promise.resolve()),
      intervalMs: 0,
      logger: capturedLogger().logger,
    });
    const [id] = await enqueueJobs(database.db, [{ kind: 'tick' }]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await statusOf(id!)).toBe('pending');
    await scheduler.stop();
    await database.db.query('delete from jobs where id = $1', [id]);
  });
});
