import type { Queryable } from '../db/types.ts';
import type { HealthCheck } from '../health/index.ts';
import { type QueueStats, queueStats } from './store.ts';

export interface QueueThresholds {
  readonly depthWarning: number;
  readonly depthCritical: number;
}

export type QueueLevel = 'ok' | 'warning' | 'critical';

export interface QueueHealth {
  readonly level: QueueLevel;
  readonly queues: readonly (QueueStats & { readonly level: QueueLevel })[];
  readonly totals: { depth: number; scheduled: number; running: number; dead: number };
  readonly thresholds: QueueThresholds;
}

/** Rates each queue's depth (due jobs waiting) against the thresholds. */
export function rateQueues(stats: readonly QueueStats[], thresholds: QueueThresholds): QueueHealth {
  const rate = (depth: number): QueueLevel =>
    depth >= thresholds.depthCritical
      ? 'critical'
      : depth >= thresholds.depthWarning
      ? 'warning'
      : 'ok';
  const queues = stats.map((queue) => ({ ...queue, level: rate(queue.depth) }));
  const level: QueueLevel = queues.some((q) => q.level === 'critical')
    ? 'critical'
    : queues.some((q) => q.level === 'warning')
    ? 'warning'
    : 'ok';
  const totals = { depth: 0, scheduled: 0, running: 0, dead: 0 };
  for (const queue of queues) {
    totals.depth += queue.depth;
    totals.scheduled += queue.scheduled;
    totals.running += queue.running;
    totals.dead += queue.dead;
  }
  return { level, queues, totals, thresholds };
}

export async function queueHealth(
  db: Queryable,
  thresholds: QueueThresholds,
): Promise<QueueHealth> {
  return rateQueues(await queueStats(db), thresholds);
}

/** The `queue` check of `/health`: warning → degraded, critical → down. */
export function queueCheck(db: Queryable, thresholds: QueueThresholds): HealthCheck {
  return {
    name: 'queue',
    // A critical backlog makes /health `down` (503); /health/ready does not run this check,
    // since a backlog is no reason to stop routing traffic to an instance.
    critical: true,
    async run() {
      const health = await queueHealth(db, thresholds);
      return {
        status: health.level === 'critical'
          ? 'down'
          : health.level === 'warning'
          ? 'degraded'
          : 'ok',
        totals: health.totals,
        thresholds: health.thresholds,
        queues: health.queues,
      };
    },
  };
}
