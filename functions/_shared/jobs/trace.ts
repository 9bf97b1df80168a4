import type { Queryable } from '../db/types.ts';
import type { JobError } from '../queue/dead-letters.ts';
import {
  type Keyset,
  KEYSET_US,
  keysetAfter,
  keysetValues,
  type Page,
  pageOf,
} from '../paging/index.ts';

/** Event statuses, as `inbound_events.status` holds them. */
export const EVENT_STATUSES = ['accepted', 'rate_limited', 'processed', 'failed'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export interface EventFilter {
  /** Received at most this long ago, as a Postgres interval ('1 hour'). */
  readonly since?: string | null;
  readonly provider?: string | null;
  readonly status?: EventStatus | null;
  /** The provider's key for the event (`wamid`, Stripe's event id, ...), exactly. */
  readonly key?: string | null;
  /** Received at or after this time (ISO 8601). */
  readonly from?: string | null;
  /** Received before this time (ISO 8601). */
  readonly to?: string | null;
}

/** A stored event and where its job stands. */
export interface EventSummary {
  readonly id: number;
  readonly provider: string;
  readonly key: string;
  readonly type: string;
  readonly status: EventStatus;
  readonly sender: string | null;
  readonly requestId: string | null;
  readonly receivedAt: Date;
  /** `pending`, `running`, `completed`, `dead`, or null: no job (rate limited, purged). */
  readonly jobStatus: string | null;
  readonly attempts: number | null;
}

export interface EventJob {
  readonly id: number;
  readonly kind: string;
  readonly status: string;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastError: string | null;
  readonly errors: readonly JobError[];
  readonly createdAt: Date;
  /** When it completed (`completed`), is due (`pending`), or died (`dead`). */
  readonly at: Date | null;
}

export interface EventTrace extends EventSummary {
  readonly payload: unknown;
  /** Its job and, after a replay, any dead-letter copy: newest state first. */
  readonly jobs: readonly EventJob[];
}

// The intake enqueues an event's job with this dedupe key (ingest_events), which both
// `jobs` and `dead_jobs` index.
const JOB_KEY = `'inbound:' || e.provider || ':' || e.event_key`;

/** Events with their job's state, and the `extra` columns (the payload, a cursor). */
const summarySql = (...extra: string[]) => `
  select ${
  extra.map((column) => `${column}, `).join('')
}e.id, e.provider, e.event_key, e.event_type, e.status, e.sender, e.request_id,
         e.received_at,
         coalesce(j.status, case when d.id is not null then 'dead' end) as job_status,
         coalesce(j.attempts, d.attempts) as attempts
    from public.inbound_events e
    left join public.jobs j on j.dedupe_key = ${JOB_KEY}
    left join lateral (select d.id, d.attempts from public.dead_jobs d
                        where d.dedupe_key = ${JOB_KEY}
                        order by d.dead_at desc limit 1) d on true`;

function summary(row: Record<string, unknown>): EventSummary {
  return {
    id: Number(row.id),
    provider: String(row.provider),
    key: String(row.event_key),
    type: String(row.event_type),
    status: row.status as EventStatus,
    sender: row.sender === null ? null : String(row.sender),
    requestId: row.request_id === null ? null : String(row.request_id),
    receivedAt: new Date(row.received_at as string),
    jobStatus: row.job_status === null ? null : String(row.job_status),
    attempts: row.attempts === null ? null : Number(row.attempts),
  };
}

/** One page of the events matching `filter`, newest first, with their jobs' state. */
export async function pageEvents(
  db: Queryable,
  filter: EventFilter,
  page: { readonly limit: number; readonly after?: Keyset | null },
): Promise<Page<EventSummary>> {
  const rows = await db.query<Record<string, unknown> & { cursor_us: string; id: string }>(
    `${summarySql(KEYSET_US('e.received_at'))}
      where ($1::interval is null or e.received_at > now() - $1::interval)
        and ($2::text is null or e.provider = $2)
        and ($3::text is null or e.status = $3)
        and ($4::text is null or e.event_key = $4)
        and ($5::timestamptz is null or e.received_at >= $5::timestamptz)
        and ($6::timestamptz is null or e.received_at < $6::timestamptz)
        and ${keysetAfter('e.received_at', 'e.id', 7)}
      order by e.received_at desc, e.id desc
      limit $9`,
    [
      filter.since ?? null,
      filter.provider ?? null,
      filter.status ?? null,
      filter.key ?? null,
      filter.from ?? null,
      filter.to ?? null,
      ...keysetValues(page.after),
      page.limit + 1,
    ],
  );
  return pageOf(rows, page.limit, summary);
}

/** Events matching `filter` (e.g. received within `since`), newest first. */
export async function listEvents(
  db: Queryable,
  filter: EventFilter,
  limit = 50,
): Promise<EventSummary[]> {
  return (await pageEvents(db, filter, { limit })).items;
}

/** One event by provider and key, with its payload and every job it had; null if none. */
export function traceEvent(
  db: Queryable,
  provider: string,
  key: string,
): Promise<EventTrace | null> {
  return traceWhere(db, 'e.provider = $1 and e.event_key = $2', [provider, key]);
}

/** One event by its id (`inbound_events.id`), as `traceEvent` answers; null if none. */
export function traceEventById(db: Queryable, id: number): Promise<EventTrace | null> {
  return traceWhere(db, 'e.id = $1', [id]);
}

async function traceWhere(
  db: Queryable,
  where: string,
  values: readonly unknown[],
): Promise<EventTrace | null> {
  const [row] = await db.query<Record<string, unknown>>(
    `${summarySql('e.payload')}
      where ${where}`,
    values,
  );
  if (!row) return null;
  const jobs = await db.query<Record<string, unknown>>(
    `select j.id, j.kind, j.status, j.attempts, j.max_attempts, j.last_error, j.errors,
            j.created_at, case j.status when 'completed' then j.completed_at
                                        when 'pending' then j.run_at end as at
       from public.jobs j where j.dedupe_key = $1
     union all
     select d.id, d.kind, 'dead', d.attempts, d.max_attempts, d.last_error, d.errors,
            d.created_at, d.dead_at
       from public.dead_jobs d where d.dedupe_key = $1
     order by at desc nulls first`,
    [`inbound:${row.provider}:${row.event_key}`],
  );
  return {
    ...summary(row),
    payload: row.payload,
    jobs: jobs.map((job) => ({
      id: Number(job.id),
      kind: String(job.kind),
      status: String(job.status),
      attempts: Number(job.attempts),
      maxAttempts: Number(job.max_attempts),
      lastError: job.last_error === null ? null : String(job.last_error),
      errors: (job.errors ?? []) as JobError[],
      createdAt: new Date(job.created_at as string),
      at: job.at === null ? null : new Date(job.at as string),
    })),
  };
}
