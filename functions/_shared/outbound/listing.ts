/**
 * Reading outbound webhooks for operators (the admin API and the CLI): endpoints a page at
 * a time, an endpoint's delivery log (`webhook_deliveries`, every attempt) and one message
 * with its attempts. Never a secret: endpoints are read by `ENDPOINT_COLUMNS`.
 */
import type { Queryable, Row } from '../db/types.ts';
import { typed } from '../db/types.ts';
import {
  type Keyset,
  KEYSET_US,
  keysetAfter,
  keysetValues,
  type Page,
  pageOf,
} from '../paging/index.ts';
import { ENDPOINT_COLUMNS, type EndpointStatus, isoTime } from './endpoints.ts';

import type { DeliveryOutcome } from './statuses.ts';
export { DELIVERY_OUTCOMES, type DeliveryOutcome } from './statuses.ts';

/** Endpoints, newest first, optionally of one status. */
export async function pageEndpoints(
  db: Queryable,
  filter: { readonly status?: EndpointStatus | null },
  page: { readonly limit: number; readonly after?: Keyset | null },
): Promise<Page<Row>> {
  const rows = await db.query<Row & { cursor_us: string; id: string }>(
    `select ${ENDPOINT_COLUMNS}, ${KEYSET_US('created_at')}
       from public.webhook_endpoints
      where ($1::text is null or status = $1)
        and ${keysetAfter('created_at', 'id', 2, 'uuid')}
      order by created_at desc, id desc
      limit $4`,
    [
      typed(filter.status ?? null, 'text'),
      typed(page.after?.us ?? null, 'int8'),
      typed(page.after?.id ?? null, 'uuid'),
      typed(page.limit + 1, 'int4'),
    ],
  );
  return pageOf(rows, page.limit, ({ cursor_us: _, ...row }) => row);
}

/** One delivery attempt as operators read it. */
export interface DeliveryAttempt {
  readonly id: number;
  /** The message (`outbound_messages.id`) the attempt was for. */
  readonly message_id: number;
  readonly event_id: number;
  readonly event_type: string;
  readonly attempt: number;
  readonly outcome: DeliveryOutcome;
  readonly status_code: number | null;
  readonly duration_ms: number;
  readonly error: string | null;
  readonly response_excerpt: string | null;
  readonly created_at: string;
}

const DELIVERY_COLUMNS = `d.id, d.message_id, d.event_id, ev.type as event_type, d.attempt,
  d.outcome, d.status_code, d.duration_ms, d.error, d.response_excerpt, d.created_at`;

function attemptOf(row: Row): DeliveryAttempt {
  return {
    id: Number(row.id),
    message_id: Number(row.message_id),
    event_id: Number(row.event_id),
    event_type: String(row.event_type),
    attempt: Number(row.attempt),
    outcome: row.outcome as DeliveryOutcome,
    status_code: row.status_code === null ? null : Number(row.status_code),
    duration_ms: Number(row.duration_ms),
    error: (row.error as string | null) ?? null,
    response_excerpt: (row.response_excerpt as string | null) ?? null,
    created_at: isoTime(row.created_at)!,
  };
}

export interface DeliveryFilter {
  readonly outcome?: DeliveryOutcome | null;
  /** At or after this time (ISO 8601). */
  readonly from?: string | null;
  /** Before this time (ISO 8601). */
  readonly to?: string | null;
}

/** An endpoint's delivery attempts, newest first. */
export async function pageDeliveries(
  db: Queryable,
  endpointId: string,
  filter: DeliveryFilter,
  page: { readonly limit: number; readonly after?: Keyset | null },
): Promise<Page<DeliveryAttempt>> {
  const rows = await db.query<Row & { cursor_us: string; id: string }>(
    `select ${DELIVERY_COLUMNS}, ${KEYSET_US('d.created_at')}
       from public.webhook_deliveries d
       join public.outbound_events ev on ev.id = d.event_id
      where d.endpoint_id = $1
        and ($2::text is null or d.outcome = $2)
        and ($3::timestamptz is null or d.created_at >= $3::timestamptz)
        and ($4::timestamptz is null or d.created_at < $4::timestamptz)
        and ${keysetAfter('d.created_at', 'd.id', 5)}
      order by d.created_at desc, d.id desc
      limit $7`,
    [
      typed(endpointId, 'uuid'),
      typed(filter.outcome ?? null, 'text'),
      typed(filter.from ?? null, 'timestamptz'),
      typed(filter.to ?? null, 'timestamptz'),
      ...keysetValues(page.after),
      typed(page.limit + 1, 'int4'),
    ],
  );
  return pageOf(rows, page.limit, attemptOf);
}

/** One message (an event for one endpoint): where it stands, its event, every attempt. */
export async function readMessage(db: Queryable, id: number) {
  const [row] = await db.query(
    `select m.id, m.event_id, m.endpoint_id, ev.message_id as webhook_id, ev.type as event_type,
            ev.payload, m.ordering_key, m.status, m.attempts, m.next_attempt_at, m.last_error,
            ev.created_at as emitted_at, m.created_at, m.updated_at, m.finished_at
       from public.outbound_messages m
       join public.outbound_events ev on ev.id = m.event_id
      where m.id = $1`,
    [typed(id, 'int8')],
  );
  if (!row) return undefined;
  const attempts = await db.query(
    `select ${DELIVERY_COLUMNS}
       from public.webhook_deliveries d
       join public.outbound_events ev on ev.id = d.event_id
      where d.message_id = $1
      order by d.attempt, d.id`,
    [typed(id, 'int8')],
  );
  return {
    id: Number(row.id),
    event_id: Number(row.event_id),
    endpoint_id: String(row.endpoint_id),
    webhook_id: String(row.webhook_id),
    event_type: String(row.event_type),
    payload: row.payload,
    ordering_key: (row.ordering_key as string | null) ?? null,
    status: String(row.status),
    attempts: Number(row.attempts),
    next_attempt_at: isoTime(row.next_attempt_at),
    last_error: (row.last_error as string | null) ?? null,
    emitted_at: isoTime(row.emitted_at)!,
    created_at: isoTime(row.created_at)!,
    updated_at: isoTime(row.updated_at)!,
    finished_at: isoTime(row.finished_at),
    deliveries: attempts.map(attemptOf),
  };
}
