import type { Db } from '../../functions/_shared/db/types.ts';
import { emitEvent } from '../../functions/_shared/outbound/index.ts';

/**
 * Messages of endpoint `endpointId`, one per status given, oldest first, as if delivery had
 * ended so (`failed` after eight attempts); `hoursAgo` moves their events back in time. No
 * job is left. Returns the message ids: what replay tests start from.
 */
export async function settledMessages(
  db: Db,
  endpointId: string,
  statuses: readonly string[],
  hoursAgo = 0,
): Promise<number[]> {
  const ids: number[] = [];
  for (const status of statuses) {
    const event = await db.transaction((tx) => emitEvent(tx, 'ride.updated', { n: ids.length }));
    const [row] = await db.query<{ id: string }>(
      `update outbound_messages set status = $2, attempts = 8, finished_at = now(),
              last_error = case when $2 = 'failed' then 'HTTP 500' end
        where event_id = $1 and endpoint_id = $3 returning id`,
      [event, status, endpointId],
    );
    await db.query(
      `update outbound_events set created_at = now() - $2 * interval '1 hour' where id = $1`,
      [event, hoursAgo],
    );
    ids.push(Number(row!.id));
  }
  await db.exec('delete from jobs');
  return ids;
}
