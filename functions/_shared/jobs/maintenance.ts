import type { Queryable } from '../db/types.ts';
import { purgeExpiredIdempotencyKeys } from '../http/idempotency.ts';
import { enqueueJobs, purgeRetention } from '../queue/store.ts';
import { purgeIdleRateLimits } from '../ratelimit/retention.ts';
import { purgeMetricHours, rollUpMetrics } from '../metrics/store.ts';
import { purgeOutboundEvents } from '../outbound/emit.ts';
import type { JobHandler } from '../queue/types.ts';
import { ALERTS_EVALUATE_KIND, ALERTS_QUEUE, evaluationDedupeKey } from '../alerts/evaluate.ts';

export const MAINTENANCE_QUEUE = 'gatehouse';
export const RETENTION_KIND = 'gatehouse.retention';
/** Rows of each kind deleted per retention run; small, so no run holds locks for long. */
export const RETENTION_BATCH = 1_000;

/**
 * Enqueues the hourly retention job and, unless `alerts` is false, this minute's alert
 * evaluation, each unless it already exists (dedupe keys), so any number of workers calling
 * it at once schedule each once.
 */
export async function scheduleMaintenance(
  db: Queryable,
  now: Date,
  options: { alerts?: boolean } = {},
): Promise<void> {
  const hour = now.toISOString().slice(0, 13);
  await enqueueJobs(db, [
    {
      queue: MAINTENANCE_QUEUE,
      kind: RETENTION_KIND,
      payload: { hour },
      dedupeKey: `${RETENTION_KIND}:${hour}`,
    },
    ...(options.alerts === false ? [] : [{
      queue: ALERTS_QUEUE,
      kind: ALERTS_EVALUATE_KIND,
      payload: {},
      dedupeKey: evaluationDedupeKey(now),
    }]),
  ]);
}

/**
 * Purges one batch of completed jobs, settled inbound events and slow-job records older
 * than the retention period, of expired idempotency keys and of rate-limit buckets idle for
 * a day (full again, so a missing row answers the same); rolls old metric minutes into
 * hours and deletes hour rows past theirs; when a batch came back full,
 * enqueues the next run in the same commit.
 */
export function retentionHandler(
  retentionDays: number,
  batch = RETENTION_BATCH,
): JobHandler<{ hour?: string; round?: number }> {
  return async (payload, ctx) => {
    const purged = await purgeRetention(ctx.tx, retentionDays, batch);
    const keys = await purgeExpiredIdempotencyKeys(ctx.tx, batch);
    const buckets = await purgeIdleRateLimits(ctx.tx, batch);
    const metricRows = await rollUpMetrics(ctx.tx, batch);
    const metricHours = await purgeMetricHours(ctx.tx, batch);
    const outbound = await purgeOutboundEvents(ctx.tx, retentionDays, batch);
    ctx.logger.info('retention purge', {
      jobs_deleted: purged.jobs,
      events_deleted: purged.events,
      slow_jobs_deleted: purged.slowJobs,
      idempotency_keys_deleted: keys,
      rate_limit_buckets_deleted: buckets,
      metric_minutes_rolled_up: metricRows,
      metric_hours_deleted: metricHours,
      outbound_events_deleted: outbound,
    });
    const most = Math.max(purged.jobs, purged.events, purged.slowJobs, keys, buckets, metricRows);
    if (Math.max(most, metricHours, outbound) >= batch) {
      const round = (payload.round ?? 0) + 1;
      await enqueueJobs(ctx.tx, [{
        queue: MAINTENANCE_QUEUE,
        kind: RETENTION_KIND,
        payload: { hour: payload.hour, round },
        dedupeKey: `${RETENTION_KIND}:${payload.hour ?? 'manual'}:${round}`,
      }]);
    }
  };
}
