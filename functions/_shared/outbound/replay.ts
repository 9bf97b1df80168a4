/**
 * Replaying an endpoint's messages by the time their events were emitted: failed ones (and
 * succeeded ones too when asked) go back to pending with their attempts reset and a
 * delivery job, a batch per transaction (`webhook_messages_replay`, keyset over message
 * ids). Each batch that replayed anything writes one `webhook_endpoint.replay` audit row in
 * its own transaction, naming the actor: no replay goes unaudited, and no audit row
 * describes a replay that rolled back.
 */
import { type AuditContext, withAuditContext } from '../audit/index.ts';
import type { Db, Queryable } from '../db/types.ts';
import { typed } from '../db/types.ts';

/** Messages one batch replays at most. */
export const REPLAY_BATCH_SIZE = 500;

export interface ReplayRange {
  readonly endpointId: string;
  /** Events emitted at or after this time... */
  readonly from: Date;
  /** ...and before this one. */
  readonly to: Date;
  /** Succeeded messages too, not only failed ones. */
  readonly includeSucceeded: boolean;
}

/**
 * How many messages of `range` a replay would put back now; with `after`, only those after
 * that message id (what batches continuing from there would replay).
 */
export async function countReplayable(
  db: Queryable,
  range: ReplayRange,
  after: number | null = null,
): Promise<number> {
  const [row] = await db.query<{ n: string | number }>(
    `select count(*) as n
       from public.outbound_messages m
       join public.outbound_events ev on ev.id = m.event_id
      where m.endpoint_id = $1 and ev.created_at >= $2 and ev.created_at < $3
        and (m.status = 'failed' or ($4 and m.status = 'succeeded'))
        and m.id > coalesce($5, 0)`,
    [
      typed(range.endpointId, 'uuid'),
      typed(range.from.toISOString(), 'timestamptz'),
      typed(range.to.toISOString(), 'timestamptz'),
      typed(range.includeSucceeded, 'bool'),
      typed(after, 'int8'),
    ],
  );
  return Number(row?.n ?? 0);
}

export interface ReplayBatch {
  /** Messages put back in this batch. */
  readonly replayed: number;
  /** The last message id looked at: the next batch's `after`; null when nothing is left. */
  readonly lastId: number | null;
}

/**
 * One batch: the next `limit` settled messages of `range` after message id `after` (null:
 * from the start), in one transaction with its audit row.
 */
export async function replayBatch(
  db: Db,
  range: ReplayRange,
  after: number | null,
  audit: AuditContext,
  limit = REPLAY_BATCH_SIZE,
): Promise<ReplayBatch> {
  return await db.transaction(async (tx) => {
    await withAuditContext(tx, audit);
    const [row] = await tx.query<{ replayed: number; last_id: string | number | null }>(
      'select replayed, last_id from public.webhook_messages_replay($1, $2, $3, $4, $5, $6)',
      [
        typed(range.endpointId, 'uuid'),
        typed(range.from.toISOString(), 'timestamptz'),
        typed(range.to.toISOString(), 'timestamptz'),
        typed(range.includeSucceeded, 'bool'),
        typed(after, 'int8'),
        typed(limit, 'int4'),
      ],
    );
    const replayed = Number(row?.replayed ?? 0);
    const lastId = row?.last_id === null || row?.last_id === undefined ? null : Number(row.last_id);
    if (replayed > 0) {
      await tx.query(
        `insert into public.audit_logs (actor, action, entity_type, entity_id, before, after,
                                        context)
         values (gatehouse.audit_actor(), 'webhook_endpoint.replay', 'webhook_endpoint', $1,
                 null, jsonb_build_object('replayed', $2::int4),
                 jsonb_build_object('from', $3::text, 'to', $4::text,
                                    'include_succeeded', $5::bool,
                                    'after_message', $6::int8, 'last_message', $7::int8))`,
        [
          typed(range.endpointId, 'text'),
          typed(replayed, 'int4'),
          typed(range.from.toISOString(), 'text'),
          typed(range.to.toISOString(), 'text'),
          typed(range.includeSucceeded, 'bool'),
          typed(after, 'int8'),
          typed(lastId, 'int8'),
        ],
      );
    }
    return { replayed, lastId };
  });
}

/**
 * The batches of `range` one after another from message id `after` (null: the start), each
 * committed with its audit row before the next begins; ends when nothing is left. A caller
 * that stops iterating (a bound, Ctrl-C) leaves the rest as it was.
 *
 * @example
 * for await (const batch of replayBatches(db, range, null, { actor })) total += batch.replayed;
 */
export async function* replayBatches(
  db: Db,
  range: ReplayRange,
  after: number | null,
  audit: AuditContext,
  limit = REPLAY_BATCH_SIZE,
): AsyncGenerator<ReplayBatch & { readonly lastId: number }> {
  for (;;) {
    const batch = await replayBatch(db, range, after, audit, limit);
    if (batch.lastId === null) return;
    after = batch.lastId;
    yield { replayed: batch.replayed, lastId: batch.lastId };
  }
}
