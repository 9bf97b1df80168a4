/**
 * The job engine's schema in SQL: who may touch its tables and functions, the pg_cron
 * sweep (against stand-ins for Supabase's cron, net and vault schemas), retention, the
 * intake handler's event statuses, and a worker that lost its lease changing nothing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { type Clock, systemClock } from '../functions/_shared/clock.ts';
import { parseConfig } from '../functions/_shared/config/index.ts';
import type { Transaction } from '../functions/_shared/db/types.ts';
import {
  createJobRegistry,
  createJobRunner,
  RETENTION_KIND,
} from '../functions/_shared/jobs/index.ts';
import { retentionHandler } from '../functions/_shared/jobs/maintenance.ts';
import { ALERTS_EVALUATE_KIND } from '../functions/_shared/alerts/index.ts';
import {
  claimJobs,
  completeJob,
  enqueueJobs,
  failJob,
  JobRegistry,
  PermanentJobError,
  replayDeadJobs,
  RetryJobError,
} from '../functions/_shared/queue/index.ts';
import { capturedLogger } from './support/logs.ts';
import { createMigratedDatabase, useMigratedDatabase } from './support/migrated.ts';
import { type ApiRole, asRole, sqlState } from './support/rls.ts';

// audit_logs is append-only, so it is never emptied: tests look up their own rows.
const database = useMigratedDatabase({
  reset: `
    delete from jobs; delete from dead_jobs; delete from inbound_events;
    delete from slow_jobs; delete from queue_settings;
  `,
});

async function rows<T extends Record<string, unknown>>(sql: string, values: unknown[] = []) {
  return await database.db.query<T>(sql, values);
}

/** The error a statement fails with (SQLSTATE and message), or 'ok'. */
async function failure(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    return `${code}: ${message}`;
  }
}

function runner(registry?: JobRegistry, clock: Clock = systemClock) {
  const logs = capturedLogger();
  const config = parseConfig({ GATEHOUSE_RETENTION_DAYS: '7' });
  return {
    logs,
    runner: createJobRunner({ config, db: database.db, logger: logs.logger, clock, registry }),
  };
}

const USER = { role: 'authenticated', sub: '00000000-0000-4000-8000-0000000000aa' };
const OUTSIDERS: [ApiRole, Record<string, unknown>][] = [
  ['anon', { role: 'anon' }],
  ['authenticated', USER],
];

const TABLES = {
  queue_settings: {
    insert: `insert into queue_settings (queue, concurrency) values ('rls-probe', 2)`,
    update: `update queue_settings set concurrency = 9`,
  },
  slow_jobs: {
    insert: `insert into slow_jobs (job_id, queue, kind, attempt, duration_ms, threshold_ms,
                                    outcome) values (1, 'q', 'k', 1, 50, 10, 'completed')`,
    update: `update slow_jobs set outcome = 'dead'`,
  },
  audit_logs: {
    insert: `insert into audit_logs (action, entity_type, entity_id) values ('probe', 'rls', '1')`,
    update: `update audit_logs set action = 'forged'`,
  },
} as const;

type TableName = keyof typeof TABLES;

async function attempts(role: ApiRole, claims: Record<string, unknown>, table: TableName) {
  const run = (sql: string) =>
    asRole(database.db, role, (tx) => sqlState(() => tx.query(sql)), claims);
  return {
    select: await run(`select * from ${table}`),
    insert: await run(TABLES[table].insert),
    update: await run(TABLES[table].update),
    delete: await run(`delete from ${table}`),
  };
}

describe('row-level security and grants', () => {
  beforeEach(async () => {
    // A row in each table, so a select that were allowed would have something to show.
    for (const table of Object.keys(TABLES) as TableName[]) {
      await database.db.query(TABLES[table].insert.replace('rls-probe', `probe-${table}`));
    }
  });

  for (const [role, claims] of OUTSIDERS) {
    it(`keeps ${role} out of queue_settings, slow_jobs and audit_logs`, async () => {
      for (const table of Object.keys(TABLES) as TableName[]) {
        expect({ table, ...(await attempts(role, claims, table)) }).toEqual({
          table,
          select: '42501',
          insert: '42501',
          update: '42501',
          delete: '42501',
        });
      }
    });
  }

  it('lets service_role do exactly what the migration grants', async () => {
    expect(await attempts('service_role', { role: 'service_role' }, 'queue_settings')).toEqual({
      select: 'ok',
      insert: 'ok',
      update: 'ok',
      delete: 'ok',
    });
    expect(await attempts('service_role', { role: 'service_role' }, 'slow_jobs')).toEqual({
      select: 'ok',
      insert: 'ok',
      update: '42501',
      delete: 'ok',
    });
    expect(await attempts('service_role', { role: 'service_role' }, 'audit_logs')).toEqual({
      select: 'ok',
      insert: 'ok',
      update: '42501',
      delete: '42501',
    });
    const seen = await asRole(database.db, 'service_role', (tx) =>
      tx.query<{ n: number }>(
        `select (select count(*) from queue_settings)::int + (select count(*) from slow_jobs)::int
                + (select count(*) from audit_logs where action = 'probe')::int as n`,
      ));
    expect(seen[0]!.n).toBeGreaterThanOrEqual(3);
  });

  it('keeps audit_logs append-only even for the table owner', async () => {
    const [row] = await rows<{ id: string }>(
      `insert into audit_logs (action, entity_type, entity_id, after)
       values ('flag.toggle', 'feature_flag', 'append-only-probe', '{"enabled": false}')
       returning id`,
    );
    const update = () =>
      database.db.query(`update audit_logs set action = 'x' where id = $1`, [row!.id]);
    const remove = () => database.db.query('delete from audit_logs where id = $1', [row!.id]);
    expect(await failure(update)).toMatch(
      /^42501: audit_logs is append-only: UPDATE is not allowed/,
    );
    expect(await failure(remove)).toMatch(
      /^42501: audit_logs is append-only: DELETE is not allowed/,
    );
    expect(
      await rows(`select action, after from audit_logs where id = $1`, [row!.id]),
    ).toEqual([{ action: 'flag.toggle', after: { enabled: false } }]);
  });

  const CALLS = [
    `select claim_jobs('w', 1)`,
    `select complete_job(1, 'w')`,
    `select extend_job_lease(1, 'w', 30)`,
    `select extend_job_leases('{1}', 'w', 30)`,
    `select fail_job(1, 'w', 'boom', 0)`,
    `select replay_dead_jobs(interval '1 hour')`,
    `select * from queue_health()`,
    `select * from purge_retention(interval '7 days')`,
    `select release_expired_leases()`,
    `select processing_held_queues()`,
    `select schedule_worker_sweep()`,
  ];

  for (const [role, claims] of OUTSIDERS) {
    it(`refuses ${role} every job-engine function`, async () => {
      for (const call of CALLS) {
        const result = await asRole(
          database.db,
          role,
          (tx) => failure(() => tx.query(call)),
          claims,
        );
        expect({ call, result }).toEqual({
          call,
          result: expect.stringMatching(/^42501: permission denied for function/),
        });
      }
    });
  }

  it('grants no callable function in public to anon or authenticated', async () => {
    // Trigger functions cannot be called directly; everything else would be an RPC.
    const exposed = await rows(
      `select p.proname, r.role from pg_proc p
         cross join unnest(array['anon', 'authenticated']) as r(role)
        where p.pronamespace = 'public'::regnamespace and p.prorettype <> 'trigger'::regtype
          and has_function_privilege(r.role, p.oid, 'execute')`,
    );
    expect(exposed).toEqual([]);
  });

  it('lets service_role run the worker and operator functions', async () => {
    for (const call of CALLS.filter((call) => !call.includes('schedule_worker_sweep'))) {
      const result = await asRole(
        database.db,
        'service_role',
        (tx) => failure(() => tx.query(call)),
      );
      expect({ call, result }).toEqual({ call, result: 'ok' });
    }
  });
});

describe('schedule_worker_sweep (pg_cron)', () => {
  it('is a no-op without cron, net and vault', async () => {
    // The migration already called it; calling again still does nothing and says so.
    expect(await rows('select schedule_worker_sweep() as scheduled')).toEqual([{
      scheduled: false,
    }]);
  });

  it('schedules a 10-second POST to <functions url>/worker with the service key from Vault', async () => {
    // Stand-ins for pg_cron, pg_net and Supabase Vault, with their SQL signatures.
    await database.db.exec(`
      create schema cron;
      create table cron.job (jobid bigint generated always as identity primary key,
        jobname text unique, schedule text not null, command text not null);
      create function cron.schedule(job_name text, schedule text, command text) returns bigint
      language sql as $$
        insert into cron.job (jobname, schedule, command) values (job_name, schedule, command)
        on conflict (jobname) do update set schedule = excluded.schedule, command = excluded.command
        returning jobid
      $$;
      create schema net;
      create table net.http_request_queue (id bigint generated always as identity primary key,
        method text not null, url text not null, headers jsonb, body jsonb, params jsonb,
        timeout_milliseconds int not null);
      create function net.http_post(url text, body jsonb default '{}'::jsonb,
        params jsonb default '{}'::jsonb,
        headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
        timeout_milliseconds int default 5000) returns bigint
      language sql as $$
        insert into net.http_request_queue (method, url, headers, body, params, timeout_milliseconds)
        values ('POST', url, headers, body, params, timeout_milliseconds) returning id
      $$;
      create schema vault;
      create table vault.secrets (name text primary key, secret text not null);
      create view vault.decrypted_secrets as select name, secret as decrypted_secret from vault.secrets;
      insert into vault.secrets values
        ('gatehouse_functions_url', 'https://project-ref.supabase.co/functions/v1'),
        ('gatehouse_service_key', 'test-service-key-for-the-sweep');
    `);
    try {
      expect(await rows('select schedule_worker_sweep() as scheduled')).toEqual([{
        scheduled: true,
      }]);
      const jobs = await rows<{ jobname: string; schedule: string; command: string }>(
        'select jobname, schedule, command from cron.job',
      );
      expect(jobs.map(({ jobname, schedule }) => ({ jobname, schedule }))).toEqual([
        { jobname: 'gatehouse-worker-sweep', schedule: '10 seconds' },
      ]);

      // What pg_cron does every 10 seconds: run the command.
      await database.db.exec(jobs[0]!.command);
      expect(
        await rows(
          'select method, url, headers, body, timeout_milliseconds from net.http_request_queue',
        ),
      ).toEqual([{
        method: 'POST',
        url: 'https://project-ref.supabase.co/functions/v1/worker',
        headers: {
          'Content-Type': 'application/json',
          Authorization: 'Bearer test-service-key-for-the-sweep',
        },
        body: {},
        timeout_milliseconds: 30_000,
      }]);

      // Calling it again (a re-run) keeps one job.
      await rows('select schedule_worker_sweep()');
      expect(await rows('select count(*)::int as n from cron.job')).toEqual([{ n: 1 }]);
    } finally {
      await database.db.exec(
        'drop schema cron cascade; drop schema net cascade; drop schema vault cascade;',
      );
    }
  });
});

const OLD = `now() - interval '8 days'`;

/** An inbound event and (unless `job` is null) the intake job pointing at it. */
async function eventWithJob(
  key: string,
  options: { old: boolean; job: 'pending' | 'running' | 'completed' | 'dead' | null },
): Promise<number> {
  const at = options.old ? OLD : 'now()';
  const status = options.job === 'completed'
    ? 'processed'
    : options.job === 'dead'
    ? 'failed'
    : 'accepted';
  const [event] = await rows<{ id: string }>(
    `insert into inbound_events (provider, event_key, event_type, payload, status, received_at)
     values ('stripe', $1, 'charge.succeeded', '{}', $2, ${at}) returning id`,
    [key, status],
  );
  const payload = { inbound_event_id: Number(event!.id) };
  const dedupe = `inbound:stripe:${key}`;
  if (options.job === 'dead') {
    await database.db.query(
      `insert into dead_jobs (id, queue, kind, payload, priority, attempts, max_attempts, errors,
                              dedupe_key, created_at, dead_at)
       values (1000000 + $1::bigint, 'stripe', 'stripe.event', $2, 0, 5, 5, '[]', $3, ${OLD}, ${OLD})`,
      [event!.id, payload, dedupe],
    );
  } else if (options.job !== null) {
    await database.db.query(
      `insert into jobs (queue, kind, payload, dedupe_key, status, attempts, created_at, run_at,
                         started_at, completed_at, locked_by, lease_expires_at)
       select 'stripe', 'stripe.event', $1, $2, $3, 1, ${OLD}, ${OLD}, ${OLD},
              case when $3 = 'completed' then ${at} end,
              case when $3 = 'running' then 'worker-elsewhere' end,
              case when $3 = 'running' then now() + interval '1 hour' end`,
      [payload, dedupe, options.job],
    );
  }
  return Number(event!.id);
}

async function oldCompletedJobs(count: number) {
  await enqueueJobs(
    database.db,
    Array.from({ length: count }, (_, i) => ({ kind: 'old.work', payload: { i } })),
  );
  await database.db.exec(
    `update jobs set status = 'completed', attempts = 1, completed_at = ${OLD} where kind = 'old.work'`,
  );
}

describe('retention', () => {
  it('purges old completed jobs and settled events in batches, keeping anything unfinished', async () => {
    await oldCompletedJobs(1);
    const [recent] = await enqueueJobs(database.db, [{ kind: 'recent.work' }]);
    await database.db.query(
      `update jobs set status = 'completed', completed_at = now() where id = $1`,
      [recent],
    );
    const [pendingOld] = await enqueueJobs(database.db, [{ kind: 'slow.burner' }]);
    await database.db.query(`update jobs set created_at = ${OLD}, run_at = ${OLD} where id = $1`, [
      pendingOld,
    ]);
    await eventWithJob('evt_done_1', { old: true, job: 'completed' });
    await eventWithJob('evt_done_2', { old: true, job: 'completed' });
    await eventWithJob('evt_limited', { old: true, job: null });
    const keep = [
      await eventWithJob('evt_pending', { old: true, job: 'pending' }),
      await eventWithJob('evt_running', { old: true, job: 'running' }),
      await eventWithJob('evt_dead', { old: true, job: 'dead' }),
      await eventWithJob('evt_new', { old: false, job: 'completed' }),
    ];
    await database.db.exec(`
      insert into slow_jobs (job_id, queue, kind, attempt, duration_ms, threshold_ms, outcome,
                             recorded_at)
      select i, 'q', 'k', 1, 50, 10, 'completed', case when i < 3 then ${OLD} else now() end
        from generate_series(0, 3) as i`);

    const purge = () =>
      rows('select * from purge_retention(interval $$7 days$$, 2)').then((result) => result[0]);
    // 3 old completed jobs, 3 old settled events, 3 old slow-job records: 2 + 1 of each.
    expect(await purge()).toEqual({ jobs_deleted: 2, events_deleted: 2, slow_jobs_deleted: 2 });
    expect(await purge()).toEqual({ jobs_deleted: 1, events_deleted: 1, slow_jobs_deleted: 1 });
    expect(await purge()).toEqual({ jobs_deleted: 0, events_deleted: 0, slow_jobs_deleted: 0 });

    expect(await rows('select kind, status from jobs order by id')).toEqual([
      { kind: 'recent.work', status: 'completed' },
      { kind: 'slow.burner', status: 'pending' },
      { kind: 'stripe.event', status: 'pending' },
      { kind: 'stripe.event', status: 'running' },
      { kind: 'stripe.event', status: 'completed' },
    ]);
    const events = await rows<{ id: string }>('select id from inbound_events order by id');
    expect(events.map((event) => Number(event.id))).toEqual(keep);
    expect(await rows('select count(*)::int as n from dead_jobs')).toEqual([{ n: 1 }]);
    expect(await rows('select count(*)::int as n from slow_jobs')).toEqual([{ n: 1 }]);
  });

  it('refuses a retention period under an hour', async () => {
    for (const period of [`interval '59 minutes'`, 'null']) {
      const purge = () => database.db.query(`select * from purge_retention(${period}, 10)`);
      expect(await sqlState(purge)).toBe('22023');
    }
  });

  it('runs as the hourly maintenance job and continues while batches come back full', async () => {
    await oldCompletedJobs(5);
    const registry = new JobRegistry().register(RETENTION_KIND, {
      handler: retentionHandler(7, 2),
    });
    const { runner: worker, logs } = runner(registry);
    const report = await worker.pass({ maintenance: true });
    expect(report).toMatchObject({ claimed: 3, completed: 3, retried: 0, dead: 0 });
    const purged = logs.entries().filter((entry) => entry.msg === 'retention purge');
    expect(purged.map((entry) => entry.jobs_deleted)).toEqual([2, 2, 1]);
    const left = await rows<
      { kind: string; status: string; dedupe_key: string; payload: { round?: number } }
    >(
      'select kind, status, dedupe_key, payload from jobs order by id',
    );
    expect(left.map((job) => [job.kind, job.status])).toEqual([
      [RETENTION_KIND, 'completed'],
      [RETENTION_KIND, 'completed'],
      [RETENTION_KIND, 'completed'],
    ]);
    const [first, ...followUps] = left;
    expect(first!.dedupe_key).toMatch(/^gatehouse\.retention:\d{4}-\d\d-\d\dT\d\d$/);
    expect(followUps.map((job) => [job.dedupe_key, job.payload.round])).toEqual([
      [`${first!.dedupe_key}:1`, 1],
      [`${first!.dedupe_key}:2`, 2],
    ]);
  });

  it('deletes expired idempotency keys and keeps the rest', async () => {
    await database.db.query(
      `insert into idempotency_keys (user_id, key, fingerprint, state, locked_until, expires_at)
       select gen_random_uuid(), 'k' || n, 'f', 'done', now(),
              now() + case when n <= 3 then interval '-1 hour' else interval '1 hour' end
         from generate_series(1, 5) n`,
    );
    expect(await retentionRuns('idempotency_keys_deleted')).toEqual([2, 1]);
    expect(await rows('select key from idempotency_keys order by key')).toEqual([
      { key: 'k4' },
      { key: 'k5' },
    ]);
  });

  it('deletes rate-limit buckets idle for a day, and a take on one finds it full', async () => {
    await database.db.query(
      `insert into rate_limits (key, tokens, updated_at)
       select 'retention:' || n, 0, now() - case when n <= 3 then interval '25 hours'
                                                 else interval '23 hours' end
         from generate_series(1, 5) n`,
    );
    expect(await retentionRuns('rate_limit_buckets_deleted')).toEqual([2, 1]);
    expect(
      await rows(`select key, tokens from rate_limits where key like 'retention:%' order by key`),
    ).toEqual([{ key: 'retention:4', tokens: 0 }, { key: 'retention:5', tokens: 0 }]);
    // A purged bucket is a full one: its next take is allowed and leaves capacity - 1.
    expect(
      await rows(`select allowed, remaining from rate_limit_take('retention:1', 10, 1)`),
    ).toEqual([{ allowed: true, remaining: 9 }]);
    await database.db.query(`delete from rate_limits where key like 'retention:%'`);
  });

  it('purges through the platform registry, scheduling one job per hour', async () => {
    await oldCompletedJobs(3);
    // One instant, so both passes fall in the same hour (and minute).
    const instant = Date.now();
    const { runner: worker } = runner(undefined, { now: () => instant });
    expect(await worker.pass({ maintenance: true })).toMatchObject({ claimed: 2, completed: 2 });
    expect(await worker.pass({ maintenance: true })).toMatchObject({ claimed: 0 });
    expect(await rows('select kind from jobs order by id')).toEqual([
      { kind: RETENTION_KIND },
      { kind: ALERTS_EVALUATE_KIND },
    ]);
  });
});

/**
 * Runs the retention job (two rows of each kind per run) through one maintenance pass and
 * lists `field` of each run's log line, first run first.
 */
async function retentionRuns(field: string): Promise<unknown[]> {
  const registry = new JobRegistry().register(RETENTION_KIND, {
    handler: retentionHandler(7, 2),
  });
  const { runner: worker, logs } = runner(registry);
  await worker.pass({ maintenance: true });
  return logs.entries().filter((entry) => entry.msg === 'retention purge').map((entry) =>
    entry[field]
  );
}

async function intakeEvent(key: string): Promise<{ eventId: number; jobId: number }> {
  const [row] = await rows<{ outcome: string; event_id: string; job_id: string }>(
    `select * from ingest_events('stripe', $1::jsonb, '{}')`,
    [[{ slot: 0, key, type: 'charge.succeeded', kind: 'stripe.event', payload: { id: key } }]],
  );
  expect(row!.outcome).toBe('accepted');
  return { eventId: Number(row!.event_id), jobId: Number(row!.job_id) };
}

async function eventStatus(id: number): Promise<string | undefined> {
  const [row] = await rows<{ status: string }>('select status from inbound_events where id = $1', [
    id,
  ]);
  return row?.status;
}

describe('intake jobs and their events', () => {
  it('marks the event processed when its job runs, and says so in one line', async () => {
    const { eventId, jobId } = await intakeEvent('evt_ok');
    const run = runner();
    expect(await run.runner.pass()).toMatchObject({ claimed: 1, completed: 1 });
    expect(run.logs.entries().filter((line) => line.msg === 'job completed')).toEqual([
      expect.objectContaining({
        level: 'info',
        job_id: jobId,
        job_kind: 'stripe.event',
        attempt: 1,
        provider: 'stripe',
        event_key: 'evt_ok',
        duration_ms: expect.any(Number),
      }),
    ]);
    expect(await eventStatus(eventId)).toBe('processed');
    expect(await rows('select status from jobs where id = $1', [jobId])).toEqual([{
      status: 'completed',
    }]);
  });

  it('dead-letters a job whose event is gone, or whose payload names none, as permanent', async () => {
    await enqueueJobs(database.db, [
      { queue: 'stripe', kind: 'stripe.event', payload: { inbound_event_id: 987654 } },
      { queue: 'stripe', kind: 'stripe.event', payload: { something: 'else' } },
    ]);
    expect(await runner().runner.pass()).toMatchObject({ claimed: 2, dead: 2, retried: 0 });
    const dead = await rows<
      { attempts: number; last_error: string; errors: { permanent: boolean }[] }
    >(
      'select attempts, last_error, errors from dead_jobs order by id',
    );
    expect(dead.map((job) => [job.attempts, job.last_error, job.errors.map((e) => e.permanent)]))
      .toEqual([
        [1, 'PermanentJobError: inbound event 987654 no longer exists', [true]],
        [1, 'PermanentJobError: payload has no valid inbound_event_id', [true]],
      ]);
  });

  it('logs a WhatsApp message in its job: not when an attempt fails, once when it succeeds', async () => {
    const key = `wamid.job.${crypto.randomUUID()}`;
    const [stored] = await rows<{ event_id: string; job_id: string }>(
      `select * from ingest_events('whatsapp', $1::jsonb, '{}')`,
      [[{
        slot: 0,
        key,
        type: 'message',
        kind: 'whatsapp.message',
        sender: '15550001111',
        payload: {
          message: { from: '15550001111', type: 'text', text: { body: 'ride please' } },
          metadata: { phone_number_id: 'PNID-1' },
        },
      }]],
    );
    const logged = () =>
      rows(
        `select direction, contact_phone, message_type, body, phone_number_id
           from whatsapp_logs where wa_message_id = $1 and inbound_event_id = $2`,
        [key, stored!.event_id],
      );
    // Nothing is logged before the job runs: the ack has no after-effects but the kick.
    expect(await logged()).toEqual([]);
    let attempts = 0;
    const flaky = createJobRegistry({
      retentionDays: 7,
      app: {
        name: 'flaky',
        processors: {
          'whatsapp.message': () => {
            attempts += 1;
            // The retry waits a minute (a plain error's backoff can be near zero, and the same
            // pass would claim it again); the test brings it forward itself.
            return attempts === 1
              ? Promise.reject(new RetryJobError('the app failed', 60_000))
              : Promise.resolve();
          },
        },
      },
    });
    expect(await runner(flaky).runner.pass()).toMatchObject({ claimed: 1, retried: 1 });
    expect(await logged()).toEqual([]);
    await rows('update jobs set run_at = now() where id = $1', [stored!.job_id]);
    expect(await runner(flaky).runner.pass()).toMatchObject({ claimed: 1, completed: 1 });
    expect(await logged()).toEqual([{
      direction: 'inbound',
      contact_phone: '15550001111',
      message_type: 'text',
      body: 'ride please',
      phone_number_id: 'PNID-1',
    }]);
    expect(attempts).toBe(2);
  });

  it('marks the event failed when its job is dead-lettered, and accepted again on replay', async () => {
    const { eventId, jobId } = await intakeEvent('evt_bad');
    const failing = createJobRegistry({
      retentionDays: 7,
      app: {
        name: 'failing',
        processors: {
          'stripe.event': async (_event, ctx) => {
            // Written in the job's transaction, so rolled back with the failure.
            await ctx.tx.query(`update inbound_events set status = 'processed' where id = $1`, [
              eventId,
            ]);
            throw new PermanentJobError('charge refers to an unknown customer');
          },
        },
      },
    });
    const failed = runner(failing);
    expect(await failed.runner.pass()).toMatchObject({ claimed: 1, dead: 1 });
    expect(await eventStatus(eventId)).toBe('failed');
    expect(failed.logs.entries().find((line) => line.msg === 'job dead-lettered')).toMatchObject({
      job_kind: 'stripe.event',
      attempt: 1,
      event_key: 'evt_bad',
      error: 'PermanentJobError: charge refers to an unknown customer',
    });

    expect(
      await replayDeadJobs(database.db, { since: '1 hour', provider: 'stripe' }, 'test:replay'),
    ).toBe(1);
    expect(await eventStatus(eventId)).toBe('accepted');
    expect(await rows('select status, attempts from jobs where id = $1', [jobId])).toEqual([
      { status: 'pending', attempts: 0 },
    ]);

    expect(await runner().runner.pass()).toMatchObject({ claimed: 1, completed: 1 });
    expect(await eventStatus(eventId)).toBe('processed');
  });
});

describe('a worker without the lease', () => {
  it('cannot complete or fail the job, and changes nothing', async () => {
    const [id] = await enqueueJobs(database.db, [{ kind: 'contested', maxAttempts: 1 }]);
    const [claimed] = await claimJobs(database.db, {
      worker: 'worker-a',
      limit: 1,
      leaseSeconds: 60,
    });
    expect(claimed!.id).toBe(id);
    const snapshot = () =>
      rows(
        `select status, locked_by, attempts, last_error, errors, lease_expires_at, completed_at
           from jobs where id = $1`,
        [id],
      );
    const before = await snapshot();

    expect(await completeJob(database.db, id!, 'worker-b')).toBe(false);
    const lost = await failJob(database.db, {
      id: id!,
      worker: 'worker-b',
      error: 'Error: not mine',
      retryInMs: 0,
      permanent: true,
      maxAttempts: null,
    });
    expect(lost).toBe('lost');
    expect(await snapshot()).toEqual(before);
    expect(await rows('select count(*)::int as n from dead_jobs')).toEqual([{ n: 0 }]);

    // The holder still can; afterwards nobody can complete or fail it again.
    await database.db.transaction(async (tx: Transaction) => {
      expect(await completeJob(tx, id!, 'worker-a')).toBe(true);
    });
    expect(await completeJob(database.db, id!, 'worker-a')).toBe(false);
    expect(
      await failJob(database.db, {
        id: id!,
        worker: 'worker-a',
        error: 'late',
        retryInMs: 0,
        permanent: false,
        maxAttempts: null,
      }),
    ).toBe('lost');
    expect(await rows('select status, last_error from jobs where id = $1', [id])).toEqual([
      { status: 'completed', last_error: null },
    ]);
  });
});

describe('on a project that already has its own objects', () => {
  it('takes back Gatehouse’s grants and leaves the app’s own alone', async () => {
    const project = await createMigratedDatabase({
      before: `
        create function public.app_greeting() returns text language sql as $$ select 'hi' $$;
        create table public.app_notes (id bigint generated always as identity primary key);
      `,
    });
    try {
      // The app's function and sequence keep Supabase's grants...
      expect(
        await asRole(project.db, 'anon', (tx) => tx.query('select public.app_greeting() as g')),
      )
        .toEqual([{ g: 'hi' }]);
      expect(
        await sqlState(() =>
          asRole(
            project.db,
            'authenticated',
            (tx) => tx.query(`select nextval(pg_get_serial_sequence('public.app_notes', 'id'))`),
          )
        ),
      ).toBe('ok');
      // ...while Gatehouse's are refused.
      for (const role of ['anon', 'authenticated'] as const) {
        expect(
          await sqlState(() =>
            asRole(
              project.db,
              role,
              (tx) => tx.query(`select nextval(pg_get_serial_sequence('public.jobs', 'id'))`),
            )
          ),
        ).toBe('42501');
        expect(
          await sqlState(() =>
            asRole(project.db, role, (tx) => tx.query('select * from public.queue_health()'))
          ),
        ).toBe('42501');
      }
    } finally {
      await project.drop();
    }
  });
});
