import { type Queryable, typed } from '../db/types.ts';

/** Due jobs waiting to start, by queue (and, without a `queue` label, in all). */
export const QUEUE_DEPTH_METRIC = 'gatehouse_queue_depth';
/** How long the oldest due job has waited, in seconds, by queue (and the oldest of all). */
export const QUEUE_OLDEST_METRIC = 'gatehouse_queue_oldest_due_seconds';

/** What `/metrics` says of the sampled gauges (the live ones are `gatehouse_queue_jobs`...). */
export const QUEUE_SAMPLE_DEFINITIONS = [
  {
    name: QUEUE_DEPTH_METRIC,
    help: 'Due jobs waiting to start, sampled once a minute, by queue (no label: all queues).',
  },
  {
    name: QUEUE_OLDEST_METRIC,
    help: 'Seconds the oldest due job had waited, sampled once a minute, by queue (no label: all).',
  },
] as const;

/**
 * Records where the queues stand as gauges of the minute (of `at`, default the database's
 * clock) in `system_metrics`: each
 * queue's due depth and the age of its oldest due job (`queue` label), and the same for all
 * queues together (no label: the total depth and the oldest age, written even when every
 * queue is empty, so a quiet minute reads 0, not a gap). Two samples in one minute keep
 * the higher value, as gauges flushed by several processes do. The once-a-minute alert
 * evaluation takes the sample, so the console can chart the queue over any range; the
 * hourly roll-up and retention treat these rows as every other gauge. Returns the rows
 * written.
 *
 * @example
 * await sampleQueues(tx); // gatehouse_queue_depth {queue: "whatsapp"} 12, {} 14, ...
 */
export async function sampleQueues(db: Queryable, options: { at?: Date } = {}): Promise<number> {
  const [row] = await db.query<{ written: number }>(
    `with health as (
       select h.queue, h.depth::float8 as depth, h.oldest_due_ms / 1000.0 as oldest
         from public.queue_health() h
     ),
     sample as (
       select jsonb_build_object('queue', h.queue) as labels, h.depth, h.oldest from health h
       union all
       select '{}'::jsonb, coalesce(sum(h.depth), 0), coalesce(max(h.oldest), 0) from health h
     ),
     written as (
       insert into public.system_metrics as m (name, labels, bucket, kind, value, count)
       select v.name, s.labels, date_trunc('minute', coalesce($3::timestamptz, now())), 'gauge',
              v.value, 1
         from sample s
        cross join lateral (values ($1::text, s.depth), ($2::text, s.oldest)) v(name, value)
       on conflict (name, labels, width, bucket) do update
         set value = greatest(m.value, excluded.value), count = m.count + 1, updated_at = now()
       returning 1
     )
     select count(*)::int as written from written`,
    [
      typed(QUEUE_DEPTH_METRIC, 'text'),
      typed(QUEUE_OLDEST_METRIC, 'text'),
      typed(options.at?.toISOString() ?? null, 'text'),
    ],
  );
  return row?.written ?? 0;
}
