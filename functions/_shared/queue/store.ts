/**
 * Every statement the job engine runs, as small functions over the `Db` interface; the
 * worker loop calls these and holds no SQL of its own. The SQL functions they call live
 * in migrations/20261122070000_job_engine.sql and the ones after it.
 */
import { type Queryable, typed } from '../db/types.ts';
import { LeaseLostError } from './errors.ts';
import { noteEnqueued } from './follow-ups.ts';
import type { ClaimedJob } from './types.ts';

interface JobRow {
  [key: string]: unknown;
  id: string | number;
  queue: string;
  kind: string;
  payload: unknown;
  priority: number;
  attempts: number;
  max_attempts: number;
  request_id: string | null;
  created_at: Date | string;
  run_at: Date | string;
}

const JOB_COLUMNS = `id, queue, kind, payload, priority, attempts, max_attempts, request_id,
            created_at, run_at`;

function toJob(row: JobRow): ClaimedJob {
  return {
    id: Number(row.id),
    queue: row.queue,
    kind: row.kind,
    payload: row.payload,
    priority: row.priority,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    requestId: row.request_id,
    createdAt: new Date(row.created_at),
    runAt: new Date(row.run_at),
  };
}

/**
 * Claims up to `limit` due jobs (highest priority first) with a lease, skipping queues
 * held by a `processing.*` flag and respecting per-queue throttles and concurrency caps.
 */
export async function claimJobs(
  db: Queryable,
  options: {
    worker: string;
    limit: number;
    leaseSeconds: number;
    queues?: readonly string[] | null;
    /** Release expired leases first (default true; see `claim_jobs`). */
    releaseLeases?: boolean;
  },
): Promise<ClaimedJob[]> {
  // Every parameter typed: statement and values go out in one round trip.
  const rows = await db.query<JobRow>(
    `select ${JOB_COLUMNS} from public.claim_jobs($1, $2, $3, $4, $5)`,
    [
      typed(options.worker, 'text'),
      typed(options.limit, 'int4'),
      typed(options.leaseSeconds, 'int4'),
      typed(options.queues ?? null, 'text[]'),
      typed(options.releaseLeases ?? true, 'bool'),
    ],
  );
  return rows.map(toJob).sort((a, b) => b.priority - a.priority || a.id - b.id);
}

/** Marks the job completed in `tx`; false when the lease is no longer `worker`'s. */
export async function completeJob(tx: Queryable, id: number, worker: string): Promise<boolean> {
  const [row] = await tx.query<{ done: boolean }>(
    'select public.complete_job($1, $2) as done',
    [typed(id, 'int8'), typed(worker, 'text')],
  );
  return row?.done === true;
}

/** SQLSTATE of `complete_job_claiming` for a lease that is no longer the worker's. */
const LEASE_LOST = 'GH001';

/**
 * Marks the job completed in `tx`, as {@link completeJob}, and in the same statement claims
 * its follow-ups: the jobs of `followUps.ids` (enqueued in `tx`) that are due, in a queue
 * `queues` admits, held by no `processing.*` flag and under no throttle or concurrency cap
 * (those wait for an ordinary claim, which counts them). Returns the follow-ups claimed;
 * they are claimed only if `tx` commits, as they exist only then. A lease that is no longer
 * `worker`'s rejects with {@link LeaseLostError} and aborts `tx` (its COMMIT rolls back), so
 * the COMMIT may be sent without waiting for this answer.
 */
export async function completeJobClaiming(
  tx: Queryable,
  id: number,
  worker: string,
  followUps: {
    readonly ids: readonly number[];
    readonly leaseSeconds: number;
    readonly queues?: readonly string[] | null;
  },
): Promise<ClaimedJob[]> {
  try {
    const rows = await tx.query<JobRow>(
      `select ${JOB_COLUMNS} from public.complete_job_claiming($1, $2, $3, $4, $5)`,
      [
        typed(id, 'int8'),
        typed(worker, 'text'),
        typed(followUps.ids, 'int8[]'),
        typed(followUps.leaseSeconds, 'int4'),
        typed(followUps.queues ?? null, 'text[]'),
      ],
    );
    return rows.map(toJob).sort((a, b) => b.priority - a.priority || a.id - b.id);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === LEASE_LOST) throw new LeaseLostError(id);
    throw error;
  }
}

/**
 * Marks many claimed jobs completed in one statement (their handlers wrote nothing that
 * must commit with the completion). Returns the ids completed; a missing id's lease is no
 * longer `worker`'s.
 */
export async function completeJobs(
  db: Queryable,
  ids: readonly number[],
  worker: string,
): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db.query<{ id: string | number }>(
    'select id from public.complete_jobs($1, $2) as id',
    [typed(ids, 'int8[]'), typed(worker, 'text')],
  );
  return new Set(rows.map((row) => Number(row.id)));
}

/**
 * Hands claimed jobs that never started back to their queue, due now and without counting
 * the attempt (a worker stopping with jobs it claimed ahead). Returns how many.
 */
export async function releaseJobs(
  db: Queryable,
  ids: readonly number[],
  worker: string,
): Promise<number> {
  if (ids.length === 0) return 0;
  const [row] = await db.query<{ released: number }>(
    'select public.release_jobs($1, $2) as released',
    [typed(ids, 'int8[]'), typed(worker, 'text')],
  );
  return Number(row?.released ?? 0);
}

export type FailOutcome = 'retried' | 'dead' | 'lost';

/** Records a failed attempt: retried after `retryInMs`, or dead-lettered. */
export async function failJob(
  db: Queryable,
  options: {
    id: number;
    worker: string;
    error: string;
    retryInMs: number;
    permanent: boolean;
    maxAttempts: number | null;
  },
): Promise<FailOutcome> {
  const [row] = await db.query<{ outcome: FailOutcome }>(
    'select public.fail_job($1, $2, $3, $4, $5, $6) as outcome',
    [
      typed(options.id, 'int8'),
      typed(options.worker, 'text'),
      typed(options.error, 'text'),
      typed(Math.max(0, Math.min(Math.round(options.retryInMs), 2_147_483_647)), 'int4'),
      typed(options.permanent, 'bool'),
      typed(options.maxAttempts, 'int4'),
    ],
  );
  return row?.outcome ?? 'lost';
}

/**
 * Renews `worker`'s leases on `ids` for `leaseSeconds` from now, in one statement (the
 * worker's heartbeat). Returns the ids still `worker`'s; a missing id's lease was lost.
 */
export async function extendLeases(
  db: Queryable,
  ids: readonly number[],
  worker: string,
  leaseSeconds: number,
): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  // One row per id, so the answer reads the same whether or not the driver parses arrays.
  const rows = await db.query<{ id: string | number }>(
    'select unnest(public.extend_job_leases($1, $2, $3)) as id',
    [typed(ids, 'int8[]'), typed(worker, 'text'), typed(leaseSeconds, 'int4')],
  );
  return new Set(rows.map((row) => Number(row.id)));
}

export async function recordSlowJob(
  db: Queryable,
  slow: {
    job: ClaimedJob;
    durationMs: number;
    thresholdMs: number;
    outcome: string;
    worker: string;
  },
): Promise<void> {
  await db.query(
    `insert into public.slow_jobs
       (job_id, queue, kind, attempt, duration_ms, threshold_ms, outcome, worker, request_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      typed(slow.job.id, 'int8'),
      typed(slow.job.queue, 'text'),
      typed(slow.job.kind, 'text'),
      typed(slow.job.attempts, 'int4'),
      typed(Math.round(slow.durationMs), 'int4'),
      typed(slow.thresholdMs, 'int4'),
      typed(slow.outcome, 'text'),
      typed(slow.worker, 'text'),
      typed(slow.job.requestId, 'text'),
    ],
  );
}

export interface NewJob {
  readonly queue?: string;
  readonly kind: string;
  readonly payload?: unknown;
  readonly priority?: number;
  /** When the job becomes due (default now). */
  readonly runAt?: Date;
  readonly maxAttempts?: number;
  /** A second job with the same key is not enqueued while the first exists. */
  readonly dedupeKey?: string;
  readonly requestId?: string | null;
}

/**
 * Enqueues jobs in one statement; pass a transaction to enqueue atomically with other
 * writes. Returns the new ids (a job whose dedupe key exists is skipped). Jobs a running
 * job enqueues through its `ctx.tx` and that are due at once are its follow-ups: the worker
 * claims them as the job commits and runs them next (see follow-ups.ts).
 */
export async function enqueueJobs(db: Queryable, jobs: readonly NewJob[]): Promise<number[]> {
  if (jobs.length === 0) return [];
  const rows = await db.query<{ id: string | number; due: boolean }>(
    `insert into public.jobs (queue, kind, payload, priority, run_at, max_attempts, dedupe_key,
                              request_id)
     select coalesce(j.queue, 'default'), j.kind, coalesce(j.payload, '{}'::jsonb),
            coalesce(j.priority, 0), coalesce(j.run_at, now()), coalesce(j.max_attempts, 5),
            j.dedupe_key, j.request_id
       from jsonb_to_recordset($1::jsonb) as j(queue text, kind text, payload jsonb,
            priority int, run_at timestamptz, max_attempts int, dedupe_key text,
            request_id text)
     on conflict (dedupe_key) do nothing
     returning id, run_at <= clock_timestamp() as due`,
    [typed(
      jobs.map((job) => ({
        queue: job.queue ?? null,
        kind: job.kind,
        payload: job.payload ?? null,
        priority: job.priority ?? null,
        run_at: job.runAt?.toISOString() ?? null,
        max_attempts: job.maxAttempts ?? null,
        dedupe_key: job.dedupeKey ?? null,
        request_id: job.requestId ?? null,
      })),
      'jsonb',
    )],
  );
  noteEnqueued(db, rows.filter((row) => row.due).map((row) => Number(row.id)));
  return rows.map((row) => Number(row.id));
}

export interface QueueStats {
  readonly queue: string;
  /** Due jobs waiting to start. */
  readonly depth: number;
  /** Pending jobs whose time has not come (retries in backoff, scheduled work). */
  readonly scheduled: number;
  readonly running: number;
  readonly dead: number;
  /** How long the oldest due job has waited, in ms (0 when none). */
  readonly oldestDueMs: number;
}

export async function queueStats(db: Queryable): Promise<QueueStats[]> {
  const rows = await db.query<Record<string, string | number>>(
    'select queue, depth, scheduled, running, dead, oldest_due_ms from public.queue_health()',
  );
  return rows.map((row) => ({
    queue: String(row.queue),
    depth: Number(row.depth),
    scheduled: Number(row.scheduled),
    running: Number(row.running),
    dead: Number(row.dead),
    oldestDueMs: Number(row.oldest_due_ms),
  }));
}

export interface PurgeResult {
  readonly jobs: number;
  readonly events: number;
  readonly slowJobs: number;
}

/** Deletes one batch of each kind of expired row (see `purge_retention`). */
export async function purgeRetention(
  db: Queryable,
  retentionDays: number,
  batch: number,
): Promise<PurgeResult> {
  const [row] = await db.query<Record<string, number>>(
    `select jobs_deleted, events_deleted, slow_jobs_deleted
       from public.purge_retention(make_interval(days => $1), $2)`,
    [typed(retentionDays, 'int4'), typed(batch, 'int4')],
  );
  return {
    jobs: Number(row?.jobs_deleted ?? 0),
    events: Number(row?.events_deleted ?? 0),
    slowJobs: Number(row?.slow_jobs_deleted ?? 0),
  };
}

/**
 * The store as the worker loop receives it (`WorkerOptions.store`): the loop and a job's
 * run call these, never the module, so the loop can be read, and tested, on its own.
 */
export const postgresJobStore = {
  claim: claimJobs,
  complete: completeJob,
  completeClaiming: completeJobClaiming,
  completeMany: completeJobs,
  release: releaseJobs,
  fail: failJob,
  extendLeases,
  recordSlow: recordSlowJob,
} as const;

export type JobStore = typeof postgresJobStore;
