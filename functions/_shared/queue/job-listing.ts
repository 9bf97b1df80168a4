/**
 * The queue's jobs as operators browse them: pages of `jobs` by state, queue, kind and
 * time, and one job (live or dead) with its payload and error history.
 */
import type { Queryable } from '../db/types.ts';
import {
  type Keyset,
  KEYSET_US,
  keysetAfter,
  keysetValues,
  type Page,
  pageOf,
} from '../paging/index.ts';
import type { JobError } from './dead-letters.ts';

/** A job's states: `jobs.status`, and `dead` for a row of `dead_jobs`. */
export const JOB_STATES = ['pending', 'running', 'completed', 'dead'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface JobSummary {
  readonly id: number;
  readonly queue: string;
  readonly kind: string;
  readonly status: JobState;
  readonly priority: number;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastError: string | null;
  readonly requestId: string | null;
  readonly createdAt: Date;
  /** When it is due (pending), started (running), completed, or died (dead). */
  readonly at: Date | null;
  /** The worker holding its lease (running). */
  readonly lockedBy: string | null;
}

export interface JobDetail extends JobSummary {
  readonly payload: unknown;
  readonly errors: readonly JobError[];
  readonly dedupeKey: string | null;
}

export interface JobFilter {
  /** `pending`, `running` or `completed` (dead jobs: `pageDeadJobs`). */
  readonly status?: Exclude<JobState, 'dead'> | null;
  /** A queue and its sub-queues: `standard` matches `standard` and `standard:github`. */
  readonly queue?: string | null;
  readonly kind?: string | null;
  /** Created at or after this time (ISO 8601). */
  readonly from?: string | null;
  /** Created before this time (ISO 8601). */
  readonly to?: string | null;
}

const SUMMARY_COLUMNS = `j.id, j.queue, j.kind, j.status, j.priority, j.attempts, j.max_attempts,
  j.last_error, j.request_id, j.created_at, j.locked_by,
  case j.status when 'pending' then j.run_at when 'running' then j.started_at
                else j.completed_at end as at`;

function toSummary(row: Record<string, unknown>): JobSummary {
  const date = (value: unknown) => value === null ? null : new Date(value as string);
  return {
    id: Number(row.id),
    queue: String(row.queue),
    kind: String(row.kind),
    status: row.status as JobState,
    priority: Number(row.priority),
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    lastError: row.last_error === null ? null : String(row.last_error),
    requestId: row.request_id === null ? null : String(row.request_id),
    createdAt: new Date(row.created_at as string),
    at: date(row.at),
    lockedBy: row.locked_by === null ? null : String(row.locked_by),
  };
}

/** One page of the queue's jobs matching `filter`, newest first. */
export async function pageJobs(
  db: Queryable,
  filter: JobFilter,
  page: { readonly limit: number; readonly after?: Keyset | null },
): Promise<Page<JobSummary>> {
  const rows = await db.query<Record<string, unknown> & { cursor_us: string; id: string }>(
    `select ${SUMMARY_COLUMNS}, ${KEYSET_US('j.created_at')}
       from public.jobs j
      where ($1::text is null or j.status = $1)
        and ($2::text is null or j.queue = $2 or j.queue like $2 || ':%')
        and ($3::text is null or j.kind = $3)
        and ($4::timestamptz is null or j.created_at >= $4::timestamptz)
        and ($5::timestamptz is null or j.created_at < $5::timestamptz)
        and ${keysetAfter('j.created_at', 'j.id', 6)}
      order by j.created_at desc, j.id desc
      limit $8`,
    [
      filter.status ?? null,
      filter.queue ?? null,
      filter.kind ?? null,
      filter.from ?? null,
      filter.to ?? null,
      ...keysetValues(page.after),
      page.limit + 1,
    ],
  );
  return pageOf(rows, page.limit, toSummary);
}

/** Job `id`, live or dead, with its payload and every failed attempt; null if none. */
export async function findJob(db: Queryable, id: number): Promise<JobDetail | null> {
  const [row] = await db.query(
    `select ${SUMMARY_COLUMNS}, j.payload, j.errors, j.dedupe_key
       from public.jobs j where j.id = $1
     union all
     select d.id, d.queue, d.kind, 'dead', d.priority, d.attempts, d.max_attempts, d.last_error,
            d.request_id, d.created_at, null, d.dead_at, d.payload, d.errors, d.dedupe_key
       from public.dead_jobs d where d.id = $1`,
    [id],
  );
  if (!row) return null;
  return {
    ...toSummary(row),
    payload: row.payload,
    errors: (row.errors ?? []) as JobError[],
    dedupeKey: row.dedupe_key === null ? null : String(row.dedupe_key),
  };
}
