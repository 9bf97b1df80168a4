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
  /**
   * The registry to record into, when it had to exist first: the database pools record
   * into it (see {@link processRecorders}) and the flush needs one of them. A new one if absent.
   */
  readonly registry?: Metrics;
}

/**
 * The catalog's recorders on `registry`, or {@link NO_METRICS} when metrics are switched
 * off: what a part built before the process's metrics (a database pool) records into.
 *
 * @example
 * const registry = createMetrics();
 * const pools = openPools(url, config.database, { metrics: processRecorders(registry, true) });
 * const metrics = createProcessMetrics(pools.jobsDb, { ...options, registry });
 */
export function processRecorders(registry: Metrics, enabled: boolean): GatehouseMetrics {
  return enabled ? gatehouseMetrics(registry) : NO_METRICS;
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
  const registry = options.registry ?? createMetrics();
  const record = processRecorders(registry, options.enabled);
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
const unbound = { inc: nothing };

/** Recorders that record nothing: switched-off metrics, and parts built without any. */
export const NO_METRICS: GatehouseMetrics = Object.fromEntries(
  Object.entries(CATALOG).map(([key, definition]) => [
    key,
    {
      definition,
      inc: nothing,
      bind: () => unbound,
      set: nothing,
      setMax: nothing,
      observe: nothing,
    },
  ]),
) as unknown as GatehouseMetrics;
