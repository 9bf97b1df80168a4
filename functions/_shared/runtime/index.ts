import { type GatehouseApp, NO_APP } from '../app.ts';
import { type Clock, systemClock } from '../clock.ts';
import { type Config, ConfigError, type Env, parseConfig } from '../config/index.ts';
import type { Db } from '../db/types.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { type Admission, createAdmission } from '../http/admission.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { createProcessMetrics, type ProcessMetrics, processRecorders } from '../metrics/process.ts';
import { createMetrics } from '../metrics/registry.ts';
import { type FaultCounts, installCrashGuard } from './crash-guard.ts';
import { trackedOnce } from './background.ts';
import { openPools } from './pools.ts';

export { type CrashGuard, type FaultCounts, installCrashGuard } from './crash-guard.ts';
export { openPools, type Pools } from './pools.ts';

/** What every function factory receives: the outside world, built once per process. */
export interface Runtime {
  readonly config: Config;
  /** The requests' pool: every call bounded by GATEHOUSE_DB_TIMEOUT_MS. */
  readonly db: Db;
  /** The job engine's own pool (worker passes, the kick after an ack). */
  readonly jobsDb: Db;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly fetch: typeof fetch;
  /**
   * Keeps work going after the response: `EdgeRuntime.waitUntil` on Supabase, a tracked
   * promise locally (the server waits for them on shutdown).
   */
  readonly background: (task: Promise<unknown>) => void;
  /** The process's budget of requests in flight and body bytes, shared by its apps. */
  readonly admission: Admission;
  /** Faults the process survived (unhandled rejections, uncaught errors). */
  readonly faults: () => FaultCounts;
  /** The app built on the platform (`functions/_app`): its processors, its USSD menu. */
  readonly app: GatehouseApp;
  /** The process's metrics, flushed to `system_metrics` (metrics/process.ts). */
  readonly metrics: ProcessMetrics;
  /**
   * The process's job engine, when functions share a process (the local server mounts them
   * all): the scheduler's passes, the kicks after an ack and the worker function's passes
   * then share one set of slots (the job pool has one connection per slot) and one pace
   * while requests come first. Absent, a function makes its own: a deployed function is
   * alone in its isolate.
   */
  readonly jobs?: JobRunner;
}

/** Supabase's edge runtime global, present only there. */
declare const EdgeRuntime: { waitUntil(promise: Promise<unknown>): void } | undefined;

function edgeBackground(logger: Logger): (task: Promise<unknown>) => void {
  return trackedOnce((task) => {
    const guarded = task.catch((error) => logger.error('background task failed', { error }));
    if (typeof EdgeRuntime !== 'undefined') EdgeRuntime.waitUntil(guarded);
  });
}

/**
 * Builds the runtime of a deployed edge function from its environment and the app (the
 * entry passes `functions/_app`'s; `NO_APP` runs the platform alone): parses the config
 * (throwing {@link ConfigError} naming each bad variable), installs the crash guard and
 * opens the database pools (which connect on first use). On Supabase `SUPABASE_DB_URL` is
 * injected, so `DATABASE_URL` is optional there.
 *
 * @example
 * // supabase/functions/health/index.ts
 * Deno.serve(createHealthApp(createEdgeRuntime(Deno.env.toObject(), app)).fetch);
 */
export function createEdgeRuntime(env: Env, app: GatehouseApp = NO_APP): Runtime {
  const config = parseConfig(env);
  if (config.database.url === null) {
    throw new ConfigError([
      'DATABASE_URL: required for a deployed function (SUPABASE_DB_URL is used when set)',
    ]);
  }
  const logger = createLogger({ level: config.log.level });
  const guard = installCrashGuard({ logger });
  // The pools record into the registry before the metrics' flush, which needs one, exists.
  const registry = createMetrics();
  const pools = openPools(config.database.url, config.database, {
    metrics: processRecorders(registry, config.metrics.enabled),
  });
  const background = edgeBackground(logger);
  const metrics = createProcessMetrics(pools.jobsDb, {
    ...config.metrics,
    registry,
    clock: systemClock,
    logger,
    background,
    timeoutMs: config.database.timeoutMs,
  });
  // The edge runtime announces a worker's end; what it recorded since its last flush goes
  // out then (a flush also starts after any request once the interval has passed).
  if (config.metrics.enabled) {
    globalThis.addEventListener?.('beforeunload', () => background(metrics.flusher.flush()));
  }
  return {
    config,
    db: pools.db,
    jobsDb: pools.jobsDb,
    logger,
    clock: systemClock,
    fetch: globalThis.fetch.bind(globalThis),
    background,
    admission: createAdmission(config.http),
    faults: guard.counts,
    app,
    metrics,
  };
}
