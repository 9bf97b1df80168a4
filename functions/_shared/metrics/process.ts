import type { Clock } from '../clock.ts';
import type { Db } from '../db/types.ts';
import type { Logger } from '../log/index.ts';
import { CATALOG, type GatehouseMetrics, gatehouseMetrics } from './catalog.ts';
import { createMetrics, type Metrics } from './registry.ts';
import { createMetricsFlusher, type MetricsFlusher } from './store.ts';

/** A process's metrics: the registry, its recorders, and the flush to `system_metrics`. */
export interface ProcessMetrics {
  /** False when switched off (GATEHOUSE_METRICS=false): recorders then record nothing. */
  readonly enabled: boolean;
  readonly registry: Metrics;
  readonly record: GatehouseMetrics;
  readonly flusher: MetricsFlusher;
  /** After each answered request: starts a flush in the background when one is due. */
  readonly afterRequest: () => void;
}

export interface ProcessMetricsOptions {
  readonly enabled: boolean;
  readonly flushIntervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Keeps a started flush going after the response (waitUntil on Supabase). */
  readonly background: (task: Promise<unknown>) => void;
  /** Bound on one flush statement. */
  readonly timeoutMs?: number;
}

/**
 * Builds a process's metrics. `db` should be a pool requests do not wait on (the job
 * engine's): a flush is background work.
 *
 * @example
 * const metrics = createProcessMetrics(jobsDb, { enabled: true, flushIntervalMs: 10_000, clock, logger, background });
 * metrics.record.webhookRequests.inc({ provider: 'stripe' });
 */
export function createProcessMetrics(db: Db, options: ProcessMetricsOptions): ProcessMetrics {
  const registry = createMetrics();
  const record = options.enabled ? gatehouseMetrics(registry) : NO_METRICS;
  const flusher = createMetricsFlusher(registry, db, {
    clock: options.clock,
    logger: options.logger,
    intervalMs: options.flushIntervalMs,
    timeoutMs: options.timeoutMs,
  });
  return {
    enabled: options.enabled,
    registry,
    record,
    flusher,
    afterRequest: options.enabled
      ? () => {
        if (flusher.due()) options.background(flusher.flush());
      }
      : () => {},
  };
}

const nothing = () => {};

/** Recorders that record nothing: switched-off metrics, and parts built without any. */
export const NO_METRICS: GatehouseMetrics = Object.fromEntries(
  Object.entries(CATALOG).map(([key, definition]) => [
    key,
    { definition, inc: nothing, set: nothing, observe: nothing },
  ]),
) as unknown as GatehouseMetrics;
