import { type Queryable, typed } from '../db/types.ts';

/**
 * How long a `rate_limits` bucket must have gone untouched before retention deletes it. Every
 * limit Gatehouse sets refills its whole capacity within a minute, so a bucket idle this long
 * is full, and a missing row is read as a full bucket: deleting it changes no answer.
 */
export const IDLE_BUCKET_SECONDS = 86_400;

/**
 * Deletes up to `batch` buckets idle for at least `idleSeconds`, skipping any a take holds
 * right now; resolves to how many it deleted. A take that finds its bucket deleted under it
 * counts it full, as it would a bucket it creates.
 *
 * @example
 * const deleted = await purgeIdleRateLimits(ctx.tx, 1_000);
 */
export async function purgeIdleRateLimits(
  db: Queryable,
  batch: number,
  idleSeconds = IDLE_BUCKET_SECONDS,
): Promise<number> {
  const deleted = await db.query(
    `with doomed as (
       select key from public.rate_limits
        where updated_at < now() - $2 * interval '1 second'
        limit $1 for update skip locked
     )
     delete from public.rate_limits r using doomed d where r.key = d.key
     returning 1`,
    [typed(batch, 'int4'), typed(idleSeconds, 'int4')],
  );
  return deleted.length;
}
