/**
 * Managing outbound endpoints (the admin API and the CLI use these): create with a first
 * signing secret, change, pause and resume (held messages caught up), rotate the secret
 * with an overlap, send a test event, and read an endpoint's health. Every change is
 * audited by the tables' triggers, naming the actor the transaction carries.
 */
import type { OutboundConfig } from '../config/index.ts';
import type { Queryable, Row } from '../db/types.ts';
import { typed } from '../db/types.ts';
import { newSigningSecret, type SecretBox, secretHint } from './secrets.ts';
import { checkUrl, createOutboundPolicy, OutboundRefused } from './net/index.ts';

import type { EndpointStatus } from './statuses.ts';
export { ENDPOINT_STATUSES, type EndpointStatus } from './statuses.ts';

/** A subscription pattern: an event type, `prefix.*`, or `*`. */
export const EVENT_PATTERN = /^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$/;

export interface EndpointSettings {
  readonly url: string;
  readonly description?: string;
  readonly eventTypes: readonly string[];
  readonly rateLimitPerSecond?: number | null;
  readonly maxInFlight?: number;
}

export const ENDPOINT_COLUMNS = `id, url, description, event_types, status, status_reason,
  rate_limit_per_second, max_in_flight, failing_since, version, created_by, created_at,
  updated_at`;

/**
 * Why `url` cannot be an endpoint, or null: what the SSRF guard refuses without a lookup
 * (scheme, credentials, internal names, blocked literal addresses), and fragments. Where a
 * name resolves to is checked again at every delivery.
 */
export function endpointUrlProblem(
  url: string,
  config: Pick<OutboundConfig, 'allowHttp' | 'allowedTargets'>,
): string | null {
  try {
    const parsed = checkUrl(url, createOutboundPolicy(config));
    if (parsed.hash) return 'url must not have a fragment';
    return null;
  } catch (error) {
    if (error instanceof OutboundRefused) return error.message;
    throw error;
  }
}

/** Creates an endpoint and its first secret; the secret is returned once, never stored in clear. */
export async function createEndpoint(
  tx: Queryable,
  settings: EndpointSettings,
  box: SecretBox,
): Promise<{ endpoint: Row; secret: string }> {
  const secret = newSigningSecret();
  const sealed = await box.seal(secret);
  const [endpoint] = await tx.query(
    `insert into public.webhook_endpoints
       (url, description, event_types, rate_limit_per_second, max_in_flight)
     values ($1, $2, $3, $4, coalesce($5, 4))
     returning ${ENDPOINT_COLUMNS}`,
    [
      typed(settings.url, 'text'),
      typed(settings.description ?? '', 'text'),
      settings.eventTypes,
      typed(settings.rateLimitPerSecond ?? null, 'int4'),
      typed(settings.maxInFlight ?? null, 'int4'),
    ],
  );
  await tx.query(
    `insert into public.webhook_endpoint_secrets (endpoint_id, ciphertext, hint)
     values ($1, $2, $3)`,
    [typed(endpoint!.id as string, 'uuid'), typed(sealed, 'text'), secretHint(secret)],
  );
  return { endpoint: endpoint!, secret };
}

/** The endpoint with its secrets' hints (never the secrets), or undefined. */
export async function readEndpoint(db: Queryable, id: string): Promise<Row | undefined> {
  const [endpoint] = await db.query(
    `select ${ENDPOINT_COLUMNS},
            (select coalesce(jsonb_agg(jsonb_build_object('id', s.id, 'hint', s.hint,
                      'created_at', s.created_at, 'expires_at', s.expires_at)
                      order by s.created_at desc), '[]')
               from public.webhook_endpoint_secrets s
              where s.endpoint_id = e.id and (s.expires_at is null or s.expires_at > now()))
              as secrets
       from public.webhook_endpoints e where e.id = $1`,
    [typed(id, 'uuid')],
  );
  return endpoint;
}

export type Changed = { readonly row: Row } | 'not_found' | 'version_conflict';

/**
 * Changes an endpoint's settings; with `version`, only when it is still that version (a
 * stale edit is a conflict, not an overwrite).
 */
export async function updateEndpoint(
  tx: Queryable,
  id: string,
  changes: Partial<EndpointSettings>,
  version?: number,
): Promise<Changed> {
  const [row] = await tx.query(
    `update public.webhook_endpoints
        set url = coalesce($2, url),
            description = coalesce($3, description),
            event_types = coalesce($4, event_types),
            rate_limit_per_second = case when $5 then $6 else rate_limit_per_second end,
            max_in_flight = coalesce($7, max_in_flight)
      where id = $1 and ($8::int4 is null or version = $8)
      returning ${ENDPOINT_COLUMNS}`,
    [
      typed(id, 'uuid'),
      typed(changes.url ?? null, 'text'),
      typed(changes.description ?? null, 'text'),
      changes.eventTypes ?? null,
      typed('rateLimitPerSecond' in changes, 'bool'),
      typed(changes.rateLimitPerSecond ?? null, 'int4'),
      typed(changes.maxInFlight ?? null, 'int4'),
      typed(version ?? null, 'int4'),
    ],
  );
  if (row) return { row };
  return (await exists(tx, id)) ? 'version_conflict' : 'not_found';
}

async function exists(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query('select 1 from public.webhook_endpoints where id = $1', [
    typed(id, 'uuid'),
  ]);
  return rows.length > 0;
}

/** Deletes the endpoint, its secrets, messages and attempts; false when there was none. */
export async function deleteEndpoint(tx: Queryable, id: string): Promise<boolean> {
  const rows = await tx.query('delete from public.webhook_endpoints where id = $1 returning id', [
    typed(id, 'uuid'),
  ]);
  return rows.length > 0;
}

/** Pauses an endpoint: its messages are held (kept, not sent) until it resumes. */
export async function pauseEndpoint(tx: Queryable, id: string, reason: string | null) {
  const [row] = await tx.query(
    `update public.webhook_endpoints set status = 'paused', status_reason = $2
      where id = $1 returning ${ENDPOINT_COLUMNS}`,
    [typed(id, 'uuid'), typed(reason ?? 'paused by an operator', 'text')],
  );
  return row;
}

/**
 * Resumes a paused or disabled endpoint: active again, its failure streak forgotten, and its
 * held messages queued again, oldest first. Returns the row and how many were released.
 */
export async function resumeEndpoint(
  tx: Queryable,
  id: string,
): Promise<{ row: Row; released: number } | undefined> {
  const [row] = await tx.query(
    `update public.webhook_endpoints
        set status = 'active', status_reason = null, failing_since = null
      where id = $1 returning ${ENDPOINT_COLUMNS}`,
    [typed(id, 'uuid')],
  );
  if (!row) return undefined;
  const [released] = await tx.query<{ n: number }>(
    'select public.webhook_endpoint_release_held($1) as n',
    [typed(id, 'uuid')],
  );
  return { row, released: Number(released!.n) };
}

/**
 * A new signing secret for the endpoint; the ones it had keep signing beside it for
 * `overlapMs` (deliveries carry one signature per secret), then stop. The new secret is
 * returned once.
 */
export async function rotateSecret(
  tx: Queryable,
  id: string,
  box: SecretBox,
  overlapMs: number,
): Promise<{ secret: string; previousExpireAt: Date } | undefined> {
  if (!(await exists(tx, id))) return undefined;
  const secret = newSigningSecret();
  const sealed = await box.seal(secret);
  const [ended] = await tx.query<{ at: Date | string }>(
    `select now() + $1 * interval '1 millisecond' as at`,
    [typed(Math.round(overlapMs), 'int8')],
  );
  await tx.query(
    `update public.webhook_endpoint_secrets
        set expires_at = least(coalesce(expires_at, 'infinity'), $2::timestamptz)
      where endpoint_id = $1 and (expires_at is null or expires_at > now())`,
    [typed(id, 'uuid'), typed(new Date(ended!.at).toISOString(), 'timestamptz')],
  );
  await tx.query(
    `insert into public.webhook_endpoint_secrets (endpoint_id, ciphertext, hint)
     values ($1, $2, $3)`,
    [typed(id, 'uuid'), typed(sealed, 'text'), secretHint(secret)],
  );
  return { secret, previousExpireAt: new Date(ended!.at) };
}

/**
 * Emits a `webhook.test` event to this endpoint alone, with an audit row
 * (`webhook_endpoint.test_event`, naming the caller in an audited transaction); returns the
 * event's id.
 */
export async function sendTestEvent(tx: Queryable, id: string): Promise<number | undefined> {
  if (!(await exists(tx, id))) return undefined;
  const [event] = await tx.query<{ id: string }>(
    `insert into public.outbound_events (type, payload)
     values ('webhook.test', jsonb_build_object('message', 'A test event from Gatehouse',
             'endpoint_id', $1::text))
     returning id`,
    [typed(id, 'uuid')],
  );
  const [message] = await tx.query<{ id: string; status: string }>(
    `insert into public.outbound_messages (event_id, endpoint_id, status)
     select $1, e.id, case when e.status = 'active' then 'pending' else 'held' end
       from public.webhook_endpoints e where e.id = $2
     returning id, status`,
    [typed(Number(event!.id), 'int8'), typed(id, 'uuid')],
  );
  if (message!.status === 'pending') {
    await tx.query('select gatehouse.webhook_enqueue($1, now())', [
      typed(Number(message!.id), 'int8'),
    ]);
  }
  await tx.query(
    `insert into public.audit_logs (actor, action, entity_type, entity_id, before, after)
     values (gatehouse.audit_actor(), 'webhook_endpoint.test_event', 'webhook_endpoint', $1,
             null, jsonb_build_object('event_id', $2::int8, 'message_id', $3::int8,
                                      'status', $4::text))`,
    [
      typed(id, 'text'),
      typed(Number(event!.id), 'int8'),
      typed(Number(message!.id), 'int8'),
      typed(message!.status, 'text'),
    ],
  );
  return Number(event!.id);
}

/** A timestamp column's value (a Date, or text inside jsonb) as ISO 8601; null stays null. */
export function isoTime(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return new Date(value as string | Date).toISOString();
}

/** One endpoint's health: where its messages stand, and its attempts over `windowHours`. */
export async function endpointHealth(db: Queryable, id: string, windowHours = 24) {
  const [row] = await db.query<Record<string, unknown>>(
    `select e.status, e.status_reason, e.failing_since,
            (select state from public.circuit_breakers b where b.name = 'webhook:' || e.id::text)
              as breaker,
            (select jsonb_object_agg(status, n) from (
               select status, count(*) as n from public.outbound_messages
                where endpoint_id = e.id and status not in ('succeeded', 'failed')
                group by status) s) as backlog,
            (select floor(extract(epoch from now() - min(ev.created_at)) * 1000)
               from public.outbound_messages m join public.outbound_events ev on ev.id = m.event_id
              where m.endpoint_id = e.id and m.status not in ('succeeded', 'failed'))
              as oldest_backlog_ms,
            a.attempts, a.succeeded, a.failed, a.p50_ms, a.p99_ms, a.last_error, a.last_attempt_at
       from public.webhook_endpoints e
       left join lateral (
         select count(*) as attempts,
                count(*) filter (where d.outcome = 'succeeded') as succeeded,
                count(*) filter (where d.outcome <> 'succeeded') as failed,
                percentile_cont(0.5) within group (order by d.duration_ms) as p50_ms,
                percentile_cont(0.99) within group (order by d.duration_ms) as p99_ms,
                (array_agg(d.error order by d.id desc) filter (where d.error is not null))[1]
                  as last_error,
                max(d.created_at) as last_attempt_at
           from public.webhook_deliveries d
          where d.endpoint_id = e.id and d.created_at > now() - $2 * interval '1 hour') a on true
      where e.id = $1`,
    [typed(id, 'uuid'), typed(windowHours, 'int4')],
  );
  if (!row) return undefined;
  const attempts = Number(row.attempts ?? 0);
  const succeeded = Number(row.succeeded ?? 0);
  return {
    status: row.status as EndpointStatus,
    status_reason: row.status_reason as string | null,
    failing_since: isoTime(row.failing_since),
    breaker: (row.breaker as string | null) ?? 'closed',
    backlog: (row.backlog as Record<string, number> | null) ?? {},
    oldest_backlog_ms: row.oldest_backlog_ms === null ? null : Number(row.oldest_backlog_ms),
    window_hours: windowHours,
    attempts,
    succeeded,
    failed: Number(row.failed ?? 0),
    success_rate: attempts === 0 ? null : succeeded / attempts,
    latency_ms: {
      p50: row.p50_ms === null ? null : Number(row.p50_ms),
      p99: row.p99_ms === null ? null : Number(row.p99_ms),
    },
    last_error: row.last_error as string | null,
    last_attempt_at: isoTime(row.last_attempt_at),
  };
}
