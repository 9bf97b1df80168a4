/**
 * The admin API's jobs and dead letters through the real router on a migrated database:
 * listing with each filter and cursor pages, one job with its error history, and replays
 * of one dead job or a selection, each audited with its actor, after which the worker runs
 * the jobs again.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import { createJobRunner } from '../functions/_shared/jobs/index.ts';
import { claimJobs, enqueueJobs, failJob, JobRegistry } from '../functions/_shared/queue/index.ts';
import { send, useAdmin, USER_IDS } from './support/admin.ts';
import { capturedLogger } from './support/logs.ts';
import { useMigratedDatabase } from './support/migrated.ts';
import { problemOf } from './support/test-app.ts';

const database = useMigratedDatabase({ reset: 'delete from jobs; delete from dead_jobs;' });
const admin = useAdmin(database);
const OPERATOR = { role: 'operator' } as const;
const SUPPORT = { role: 'support' } as const;

type Page<T = Record<string, unknown>> = { items: T[]; next_cursor: string | null };

/** What the test kind's handler did: the ids it ran, in order. */
const runs: number[] = [];
const registry = new JobRegistry().register('test.order', {
  handler: (_payload, ctx) => {
    runs.push(ctx.job.id);
    return Promise.resolve();
  },
});

/** One worker pass, as the worker function runs it, over `queues` (default: all). */
async function work(queues?: string[]) {
  const { logger } = capturedLogger();
  const runner = createJobRunner({
    config: parseConfig({}),
    db: database.db,
    logger,
    clock: systemClock,
    registry,
  });
  return await runner.pass({ queues });
}

/** A job that failed once per error and ended in the dead letters; returns its id. */
async function bury(queue: string, errors: string[], kind = 'test.order') {
  const [id] = await enqueueJobs(database.db, [{
    queue,
    kind,
    payload: { order: `${queue}-${errors.length}` },
    maxAttempts: errors.length,
    requestId: `req-${queue}`,
  }]);
  for (const error of errors) {
    const [job] = await claimJobs(database.db, {
      worker: 'worker-test',
      limit: 1,
      leaseSeconds: 60,
      queues: [queue],
    });
    expect(job!.id).toBe(id);
    await failJob(database.db, {
      id: id!,
      worker: 'worker-test',
      error,
      retryInMs: 0,
      permanent: false,
      maxAttempts: null,
    });
  }
  return id!;
}

const ids = (page: Page<{ id: number }>) => page.items.map((item) => item.id);

describe('GET /jobs', () => {
  it('filters by status, queue (with its sub-queues), kind and time, newest first', async () => {
    const [old, github, shop, orders] = await enqueueJobs(database.db, [
      { queue: 'stripe', kind: 'stripe.event' },
      { queue: 'standard:github', kind: 'standard.event' },
      { queue: 'standard:shop', kind: 'standard.event' },
      { queue: 'orders', kind: 'test.order' },
    ]);
    await database.db.query(
      `update jobs set created_at = now() - interval '2 hours' where id = $1`,
      [old],
    );
    await work(['orders']); // runs the test.order job: completed
    const list = async (query: string) =>
      ids(await admin.json<Page<{ id: number }>>(SUPPORT, `/jobs${query}`));
    expect(await list('')).toEqual([orders, shop, github, old]);
    expect(await list('?status=completed')).toEqual([orders]);
    expect(await list('?status=pending')).toEqual([shop, github, old]);
    expect(await list('?queue=standard')).toEqual([shop, github]);
    expect(await list('?queue=standard:shop')).toEqual([shop]);
    expect(await list('?kind=stripe.event')).toEqual([old]);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    expect(await list(`?since=${hourAgo}`)).toEqual([orders, shop, github]);
    expect(await list(`?until=${hourAgo}`)).toEqual([old]);
    const [completed] = (await admin.json<Page>(SUPPORT, '/jobs?status=completed')).items;
    expect(completed).toMatchObject({
      id: orders,
      queue: 'orders',
      kind: 'test.order',
      status: 'completed',
      attempts: 1,
      max_attempts: 5,
      at: expect.stringMatching(/^\d{4}-/),
    });
  });

  it('pages with a cursor and refuses a bad one', async () => {
    const made = await enqueueJobs(
      database.db,
      Array.from({ length: 5 }, (_, i) => ({ queue: 'paged', kind: `k${i}` })),
    );
    const first = await admin.json<Page<{ id: number }>>(SUPPORT, '/jobs?limit=2');
    const second = await admin.json<Page<{ id: number }>>(
      SUPPORT,
      `/jobs?limit=2&cursor=${first.next_cursor}`,
    );
    const third = await admin.json<Page<{ id: number }>>(
      SUPPORT,
      `/jobs?limit=2&cursor=${second.next_cursor}`,
    );
    expect(third.next_cursor).toBeNull();
    expect([...ids(first), ...ids(second), ...ids(third)]).toEqual([...made].reverse());
    const bad = await admin.call(SUPPORT, '/jobs?cursor=1.2.3');
    expect(bad.status).toBe(400);
    expect((await problemOf(bad)).detail).toBe('cursor is not one this API gave out');
  });
});

describe('dead letters', () => {
  it('lists them with their error history, filtered and paged', async () => {
    const stripe = await bury('stripe', ['Error: connect ETIMEDOUT', 'Error: upstream said 502']);
    const github = await bury('standard:github', ['Error: 500'], 'standard.event');
    const older = await bury('stripe', ['Error: gone']);
    await database.db.query(
      `update dead_jobs set dead_at = now() - interval '3 hours' where id = $1`,
      [older],
    );
    const list = async (query: string) =>
      ids(await admin.json<Page<{ id: number }>>(SUPPORT, `/dead-jobs${query}`));
    expect(await list('')).toEqual([github, stripe, older]);
    expect(await list('?queue=stripe')).toEqual([stripe, older]);
    expect(await list('?queue=standard')).toEqual([github]);
    expect(await list('?kind=standard.event')).toEqual([github]);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    expect(await list(`?since=${hourAgo}`)).toEqual([github, stripe]);
    expect(await list(`?until=${hourAgo}`)).toEqual([older]);
    const first = await admin.json<Page<{ id: number }>>(SUPPORT, '/dead-jobs?limit=2');
    const rest = await admin.json<Page<{ id: number }>>(
      SUPPORT,
      `/dead-jobs?limit=2&cursor=${first.next_cursor}`,
    );
    expect([...ids(first), ...ids(rest)]).toEqual([github, stripe, older]);
    expect(rest.next_cursor).toBeNull();

    const [dead] = (await admin.json<Page>(SUPPORT, '/dead-jobs?queue=stripe&limit=1')).items;
    expect(dead).toMatchObject({
      id: stripe,
      kind: 'test.order',
      payload: { order: 'stripe-2' },
      attempts: 2,
      max_attempts: 2,
      last_error: 'Error: upstream said 502',
      request_id: 'req-stripe',
      errors: [
        { attempt: 1, error: 'Error: connect ETIMEDOUT' },
        { attempt: 2, error: 'Error: upstream said 502' },
      ],
    });
    expect(await admin.json(SUPPORT, `/jobs/${stripe}`)).toMatchObject({
      id: stripe,
      status: 'dead',
      errors: [{ attempt: 1 }, { attempt: 2 }],
      payload: { order: 'stripe-2' },
    });
    expect((await admin.call(SUPPORT, '/jobs/987654321')).status).toBe(404);
  });

  it('replays one dead job, audited with its actor; the worker runs it again', async () => {
    const id = await bury('stripe', ['Error: upstream said 502']);
    const headers = {
      'x-request-id': 'req-replay-one',
      'x-forwarded-for': '203.0.113.9',
      'user-agent': 'console/2.0',
    };
    const res = await admin.call(OPERATOR, `/dead-jobs/${id}/replay`, { method: 'POST', headers });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ replayed: 1, ids: [id] });
    expect(
      await database.db.query(
        `select actor, action, before ->> 'status' as before, after ->> 'status' as after,
                request_id, host(ip) as ip, user_agent
           from audit_logs where entity_type = 'job' and entity_id = $1`,
        [String(id)],
      ),
    ).toEqual([{
      actor: USER_IDS.operator,
      action: 'job.replay',
      before: 'dead',
      after: 'pending',
      request_id: 'req-replay-one',
      ip: '203.0.113.9',
      user_agent: 'console/2.0',
    }]);
    runs.length = 0;
    expect(await work()).toMatchObject({ claimed: 1, completed: 1 });
    expect(runs).toEqual([id]);
    expect(await admin.json(SUPPORT, `/jobs/${id}`)).toMatchObject({
      status: 'completed',
      attempts: 1,
    });
    // It is no longer dead: a second replay names nothing.
    const again = await admin.call(OPERATOR, `/dead-jobs/${id}/replay`, { method: 'POST' });
    expect(again.status).toBe(404);
  });

  it('replays a selection, all or none, each audited; the worker runs them again', async () => {
    const first = await bury('stripe', ['Error: a']);
    const second = await bury('whatsapp', ['Error: b']);
    const untouched = await bury('paypal', ['Error: c']);

    const missing = await admin.call(
      'service',
      '/dead-jobs/replay',
      send('POST', { ids: [first, 987654321] }),
    );
    expect(missing.status).toBe(404);
    expect(await problemOf(missing)).toMatchObject({ missing: [987654321] });
    expect((await database.db.query('select id from dead_jobs')).length).toBe(3);

    const res = await admin.call(
      'service',
      '/dead-jobs/replay',
      send('POST', { ids: [first, second] }, { 'x-request-id': 'req-replay-many' }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ replayed: 2, ids: [first, second] });
    expect(
      await database.db.query(
        `select entity_id, actor, request_id from audit_logs
          where action = 'job.replay' and request_id = 'req-replay-many' order by entity_id`,
      ),
    ).toEqual(
      [first, second].map((id) => ({
        entity_id: String(id),
        actor: 'service key',
        request_id: 'req-replay-many',
      })).sort((a, b) => a.entity_id.localeCompare(b.entity_id)),
    );
    runs.length = 0;
    expect(await work()).toMatchObject({ claimed: 2, completed: 2 });
    expect(runs.sort()).toEqual([first, second].sort());
    expect(
      (await admin.json<Page<{ id: number }>>(SUPPORT, '/dead-jobs')).items.map((job) => job.id),
    ).toEqual([untouched]);
  });

  it('refuses a replay that is not one, and a caller without jobs:replay', async () => {
    const id = await bury('stripe', ['Error: a']);
    for (
      const body of [{}, { ids: [] }, { ids: [id, id] }, { ids: ['1'] }, { ids: [0] }, {
        ids: Array.from({ length: 101 }, (_, i) => i + 1),
      }, { ids: [id], since: '1h' }]
    ) {
      const res = await admin.call(OPERATOR, '/dead-jobs/replay', send('POST', body));
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect((await admin.call(OPERATOR, '/dead-jobs/abc/replay', { method: 'POST' })).status)
      .toBe(400);
    const refused = await admin.call(SUPPORT, `/dead-jobs/${id}/replay`, { method: 'POST' });
    expect(refused.status).toBe(403);
    expect(await admin.json(SUPPORT, `/jobs/${id}`)).toMatchObject({ status: 'dead' });
  });
});
