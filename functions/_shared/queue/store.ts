/**
 * Every statement the job engine runs, as small functions over the `Db` interface; the
 * worker loop calls these and holds no SQL of its own. The SQL functions they call live
 * in migrations/20261122070000_job_engine.sql and the ones after it.
 */
import type { Queryable } from '../db/types.ts';
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
  const rows = await db.query<JobRow>(
    `select id, queue, kind, payload, priority, attempts, max_attempts, request_id,
            created_at, run_at
       from public.claim_jobs($1, $2, $3, $4::text[], $5)`,
    [
      options.worker,
      options.limit,
      options.leaseSeconds,
      options.queues ?? null,
      options.releaseLeases ?? true,
    ],
  );
  return rows.map(toJob).sort((a, b) => b.priority - a.priority || a.id - b.id);
}

/** Marks the job completed in `tx`; false when the lease is no longer `worker`'s. */
export async function completeJob(tx: Queryable, id: number, worker: string): Promise<boolean> {
  const [row] = await tx.query<{ done: boolean }>(
    'select public.complete_job($1, $2) as done',
    [id, worker],
  );
  return row?.done === true;
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
    'select id from public.complete_jobs($1::bigint[], $2) as id',
    [ids, worker],
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
    'select public.release_jobs($1::bigint[], $2) as released',
    [ids, worker],
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
      options.id,
      options.worker,
      options.error,
      Math.max(0, Math.min(Math.round(options.retryInMs), 2_147_483_647)),
      options.permanent,
      options.maxAttempts,
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
    'select unnest(public.extend_job_leases($1::bigint[], $2, $3)) as id',
    [ids, worker, leaseSeconds],
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
      slow.job.id,
      slow.job.queue,
      slow.job.kind,
      slow.job.attempts,
      Math.round(slow.durationMs),
      slow.thresholdMs,
      slow.outcome,
      slow.worker,
      slow.job.requestId,
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
 * writes. Returns the new ids (a job whose dedupe key exists is skipped).
 */
export async function enqueueJobs(db: Queryable, jobs: readonly NewJob[]): Promise<number[]> {
  if (jobs.length === 0) return [];
  const rows = await db.query<{ id: string | number }>(
    `insert into public.jobs (queue, kind, payload, priority, run_at, max_attempts, dedupe_key,
                              request_id)
     select coalesce(j.queue, 'default'), j.kind, coalesce(j.payload, '{}'::jsonb),
            coalesce(j.priority, 0), coalesce(j.run_at, now()), coalesce(j.max_attempts, 5),
            j.dedupe_key, j.request_id
       from jsonb_to_recordset($1::jsonb) as j(queue text, kind text, payload jsonb,
            priority int, run_at timestamptz, max_attempts int, dedupe_key text,
            request_id text)
     on conflict (dedupe_key) do nothing
     returning id`,
    [jobs.map((job) => ({
      queue: job.queue ?? null,
      kind: job.kind,
      payload: job.payload ?? null,
      priority: job.priority ?? null,
      run_at: job.runAt?.toISOString() ?? null,
      max_attempts: job.maxAttempts ?? null,
      dedupe_key: job.dedupeKey ?? null,
      request_id: job.requestId ?? null,
    }))],
  );
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
    [retentionDays, batch],
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
  completeMany: completeJobs,
  release: releaseJobs,
  fail: failJob,
  extendLeases,
  recordSlow: recordSlowJob,
} as const;

export type JobStore = typeof postgresJobStore;
