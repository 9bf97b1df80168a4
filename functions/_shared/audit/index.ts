/**
 * The audit log (`audit_logs`): who did what to which entity, before and after, from
 * where. Rows are written in the changing transaction, by triggers (`feature_flags`) and
 * SQL functions (`replay_dead_jobs`); what they cannot know themselves, the request that
 * made the change, the transaction carries as settings (`withAuditContext`): the actor
 * through `gatehouse.audit_actor()`, the request id, ip and user agent as the columns'
 * defaults (migrations/20261207090000_audit_request_context.sql).
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

/** The request behind a change, as its audit rows record it. */
export interface AuditContext {
  /** Who: a user's id (the token's `sub`), `service key`, `cli:<user>`. */
  readonly actor: string;
  readonly requestId?: string | null;
  /** The client's address (`clientAddress`); not an address: left out. */
  readonly ip?: string | null;
  readonly userAgent?: string | null;
}

/** User agents are cut here: they are for a person to read, not for storage. */
export const MAX_USER_AGENT_CHARS = 512;

/**
 * Makes every audit row the rest of transaction `tx` writes name `context`: its actor,
 * request id, ip and user agent (settings local to the transaction, gone at its end).
 *
 * @example
 * await db.transaction(async (tx) => {
 *   await withAuditContext(tx, { actor: user.id, requestId, ip, userAgent });
 *   await tx.query('update public.feature_flags set enabled = false where key = $1', [key]);
 * });
 */
export async function withAuditContext(tx: Queryable, context: AuditContext): Promise<void> {
  await tx.query(
    `select set_config('gatehouse.actor', $1, true),
            set_config('gatehouse.request_id', $2, true),
            set_config('gatehouse.client_ip', $3, true),
            set_config('gatehouse.user_agent', $4, true)`,
    [
      context.actor,
      context.requestId ?? '',
      context.ip ?? '',
      (context.userAgent ?? '').slice(0, MAX_USER_AGENT_CHARS),
    ],
  );
}

export interface AuditEntry {
  readonly id: number;
  readonly createdAt: Date;
  readonly actor: string;
  readonly action: string;
  readonly entityType: string;
  readonly entityId: string | null;
  readonly before: unknown;
  readonly after: unknown;
  readonly context: unknown;
  readonly requestId: string | null;
  readonly ip: string | null;
  readonly userAgent: string | null;
}

export interface AuditFilter {
  readonly actor?: string | null;
  /** `feature_flag.update`, `job.replay`, ... exactly. */
  readonly action?: string | null;
  readonly entityType?: string | null;
  readonly entityId?: string | null;
  /** At or after this time (ISO 8601). */
  readonly from?: string | null;
  /** Before this time (ISO 8601). */
  readonly to?: string | null;
}

function toEntry(row: Record<string, unknown>): AuditEntry {
  const text = (value: unknown) => (value === null ? null : String(value));
  return {
    id: Number(row.id),
    createdAt: new Date(row.created_at as string),
    actor: String(row.actor),
    action: String(row.action),
    entityType: String(row.entity_type),
    entityId: text(row.entity_id),
    before: row.before,
    after: row.after,
    context: row.context,
    requestId: text(row.request_id),
    ip: text(row.ip),
    userAgent: text(row.user_agent),
  };
}

/** One page of the audit rows matching `filter`, newest first. */
export async function pageAuditLogs(
  db: Queryable,
  filter: AuditFilter,
  page: { readonly limit: number; readonly after?: Keyset | null },
): Promise<Page<AuditEntry>> {
  const rows = await db.query<Record<string, unknown> & { cursor_us: string; id: string }>(
    `select a.id, a.created_at, a.actor, a.action, a.entity_type, a.entity_id, a.before, a.after,
            a.context, a.request_id, host(a.ip) as ip, a.user_agent, ${KEYSET_US('a.created_at')}
       from public.audit_logs a
      where ($1::text is null or a.actor = $1)
        and ($2::text is null or a.action = $2)
        and ($3::text is null or a.entity_type = $3)
        and ($4::text is null or a.entity_id = $4)
        and ($5::timestamptz is null or a.created_at >= $5::timestamptz)
        and ($6::timestamptz is null or a.created_at < $6::timestamptz)
        and ${keysetAfter('a.created_at', 'a.id', 7)}
      order by a.created_at desc, a.id desc
      limit $9`,
    [
      filter.actor ?? null,
      filter.action ?? null,
      filter.entityType ?? null,
      filter.entityId ?? null,
      filter.from ?? null,
      filter.to ?? null,
      ...keysetValues(page.after),
      page.limit + 1,
    ],
  );
  return pageOf(rows, page.limit, toEntry);
}
