import type { Queryable } from '../db/types.ts';
import { typed } from '../db/types.ts';

/** Dot-separated lower-case words, as `emit_event` takes them (`ride.completed`). */
export const EVENT_TYPE = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/;

export interface EmitOptions {
  /**
   * Events with the same key reach each endpoint one at a time, in the order emitted: the
   * next waits until the one before succeeded or was given up (e.g. a ride's id).
   */
  readonly orderingKey?: string | null;
}

/**
 * Emits an outbound event through `tx`, the caller's transaction (`emit_event`): it exists,
 * and one delivery per subscribed endpoint is queued, exactly when that transaction
 * commits; a rollback leaves nothing to deliver. Returns the event's id.
 *
 * @example
 * await emitEvent(ctx.tx, 'ride.requested', { ride_id: ride.id }, { orderingKey: ride.id });
 */
export async function emitEvent(
  tx: Queryable,
  type: string,
  payload: unknown,
  options: EmitOptions = {},
): Promise<number> {
  if (!EVENT_TYPE.test(type) || type.length > 200) {
    throw new TypeError(`event type must be dot-separated lower-case words, got "${type}"`);
  }
  const [row] = await tx.query<{ id: string | number }>(
    'select public.emit_event($1, $2, $3) as id',
    [
      typed(type, 'text'),
      typed(payload ?? {}, 'jsonb'),
      typed(options.orderingKey ?? null, 'text'),
    ],
  );
  return Number(row!.id);
}

/**
 * Retention: outbound events older than `days` whose deliveries have all finished go, with
 * their messages and attempts (at most `batch`); undelivered ones stay however old.
 */
export async function purgeOutboundEvents(
  db: Queryable,
  days: number,
  batch: number,
): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `select public.outbound_purge($1 * interval '1 day', $2) as n`,
    [typed(days, 'int4'), typed(batch, 'int4')],
  );
  return Number(row!.n);
}
