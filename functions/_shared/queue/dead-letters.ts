/**
 * The dead letters as operators see them (`gatehouse dlq`, the admin API): listed with
 * their error history, and replayed through `replay_dead_jobs`, which writes one audit row
 * per job in the same statement.
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

/**
 * A `since` that covers every dead job: further back than this `now() - interval` would
 * overflow, and no job is that old.
 */
export const ALL_TIME = '100 years';

export interface DeadJobFilter {
  /** Died at most this long ago, as a Postgres interval ('1 hour', '30 minutes'). */
  readonly since: string;
  /** A queue and its sub-queues: `standard` matches `standard` and `standard:github`. */
  readonly provider?: string | null;
  readonly kind?: string | null;
  readonly ids?: readonly number[] | null;
}

/** One failed attempt, as `jobs.errors` and `dead_jobs.errors` hold it. */
export interface JobError {
  readonly attempt: number;
  readonly at: string;
  readonly error: string;
  readonly worker?: string | null;
  readonly permanent?: boolean;
}

export interface DeadJob {
  readonly id: number;
  readonly queue: string;
  readonly kind: string;
  readonly payload: unknown;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastError: string | null;
  readonly errors: readonly JobError[];
  readonly requestId: string | null;
  readonly createdAt: Date;
  readonly deadAt: Date;
}

const DEAD_FILTER = `d.dead_at >= now() - $1::interval
   and ($2::text is null or d.queue = $2 or d.queue like $2 || ':%')
   and ($3::text is null or d.kind = $3)
   and ($4::bigint[] is null or d.id = any($4::bigint[]))`;

function filterValues(filter: DeadJobFilter): unknown[] {
  return [filter.since, filter.provider ?? null, filter.kind ?? null, filter.ids ?? null];
}

function toDeadJob(row: Record<string, unknown>): DeadJob {
  return {
    id: Number(row.id),
    queue: String(row.queue),
    kind: String(row.kind),
    payload: row.payload,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    lastError: row.last_error === null ? null : String(row.last_error),
    errors: row.errors as JobError[],
    requestId: row.request_id === null ? null : String(row.request_id),
    createdAt: new Date(row.created_at as string),
    deadAt: new Date(row.dead_at as string),
  };
}

export interface DeadJobPageOptions {
  readonly limit: number;
  /** Only jobs that died at or after this time (ISO 8601). */
  readonly from?: string | null;
  /** Only jobs that died before this time (ISO 8601). */
  readonly to?: string | null;
  /** Where the page starts (a cursor from `parseCursor`). */
  readonly after?: Keyset | null;
}

/**
 * One page of the dead jobs matching the filter, newest first, with their error history,
 * and the cursor of the next page.
 */
export async function pageDeadJobs(
  db: Queryable,
  filter: DeadJobFilter,
  page: DeadJobPageOptions,
): Promise<Page<DeadJob>> {
  const rows = await db.query<Record<string, unknown> & { cursor_us: string; id: string }>(
    `select d.id, d.queue, d.kind, d.payload, d.attempts, d.max_attempts, d.last_error,
            d.errors, d.request_id, d.created_at, d.dead_at, ${KEYSET_US('d.dead_at')}
       from public.dead_jobs d
      where ${DEAD_FILTER}
        and ($5::timestamptz is null or d.dead_at >= $5::timestamptz)
        and ($6::timestamptz is null or d.dead_at < $6::timestamptz)
        and ${keysetAfter('d.dead_at', 'd.id', 7)}
      order by d.dead_at desc, d.id desc
      limit $9`,
    [
      ...filterValues(filter),
      page.from ?? null,
      page.to ?? null,
      ...keysetValues(page.after),
      page.limit + 1,
    ],
  );
  return pageOf(rows, page.limit, toDeadJob);
}

/** Dead jobs matching the filter, newest first, with their error history. */
export async function listDeadJobs(
  db: Queryable,
  filter: DeadJobFilter,
  limit = 100,
): Promise<DeadJob[]> {
  return (await pageDeadJobs(db, filter, { limit })).items;
}

/**
 * Puts matching dead jobs back on their queues, due now with their attempts reset; one
 * audit row each naming `actor` (and the request's ip, user agent and request id when the
 * transaction carries them: `withAuditContext`). Returns how many.
 */
export async function replayDeadJobs(
  db: Queryable,
  filter: DeadJobFilter,
  actor: string,
): Promise<number> {
  const [row] = await db.query<{ replayed: number }>(
    `select public.replay_dead_jobs(since => $1::interval, provider => $2, kind => $3,
                                    ids => $4::bigint[], actor => $5) as replayed`,
    [...filterValues(filter), actor],
  );
  return Number(row?.replayed ?? 0);
}
