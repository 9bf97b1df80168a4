import type { ProcessMetrics } from '../_shared/metrics/process.ts';
import type { Hono } from 'hono';
import type { Clock } from '../_shared/clock.ts';
import { systemClock } from '../_shared/clock.ts';
import type { Config } from '../_shared/config/index.ts';
import { MIGRATION_MANIFEST } from '../_shared/db/migration-manifest.ts';
import type { MigrationManifestEntry } from '../_shared/db/migrations.ts';
import type { Db } from '../_shared/db/types.ts';
import { type HealthCheck, runHealthChecks } from '../_shared/health/index.ts';
import { databaseCheck, migrationsCheck, PROBE_TIMEOUT_MS } from '../_shared/health/database.ts';
import { type AppEnv, createFunctionApp } from '../_shared/http/index.ts';
import type { Logger } from '../_shared/log/index.ts';
import { queueCheck } from '../_shared/queue/health.ts';
import { createSloReader, sloCheck } from '../_shared/slo/index.ts';
import { webhooksCheck } from '../_shared/webhooks/health.ts';
import { webhookEndpoints } from '../_shared/webhooks/providers.ts';
import type { FaultCounts, Runtime } from '../_shared/runtime/index.ts';
import type { Admission } from '../_shared/http/index.ts';

export interface HealthDeps {
  /** The process's metrics (requests counted and timed); none: nothing recorded. */
  readonly metrics?: ProcessMetrics;
  readonly config: Pick<Config, 'http'>;
  readonly db: Db;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Migrations this build expects; defaults to the generated manifest. */
  readonly manifest?: readonly MigrationManifestEntry[];
  /** Checks added by other modules (queue, webhooks...), shown in `/health`. */
  readonly checks?: readonly HealthCheck[];
  /** Bound on each check, so a hung database answers 503 rather than hanging the probe. */
  readonly checkTimeoutMs?: number;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 2_000;

/**
 * The `health` function: `/health/live` (no I/O), `/health/ready` (database reachable and
 * migrations current) and `/health` (every check, with details).
 *
 * @example
 * const app = createHealthApp({ config, db, logger });
 * const res = await app.request('/health/ready'); // 200 or 503
 */
export function createHealthApp(deps: HealthDeps): Hono<AppEnv> {
  const clock = deps.clock ?? systemClock;
  const manifest = deps.manifest ?? MIGRATION_MANIFEST;
  const timeoutMs = deps.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const readiness = [databaseCheck(deps.db, clock), migrationsCheck(deps.db, manifest, clock)];
  const all = [...readiness, ...(deps.checks ?? [])];

  const app = createFunctionApp('health', {
    metrics: deps.metrics,
    logger: deps.logger,
    corsOrigins: deps.config.http.corsOrigins,
    bodyLimitBytes: deps.config.http.bodyLimitBytes,
    now: () => clock.now(),
  });

  app.use(async function noStore(c, next) {
    await next();
    c.header('Cache-Control', 'no-store');
  });

  app.get('/live', (c) => c.json({ status: 'ok' }));

  app.get('/ready', async (c) => {
    const report = await runHealthChecks(readiness, {
      timeoutMs,
      onError: (check, error) => c.get('log').warn('readiness check failed', { check, error }),
    });
    if (report.status === 'down') {
      const reasons = Object.entries(report.checks)
        .filter(([, result]) => result.status === 'down')
        .map(([name]) => name);
      return c.json({ status: 'not_ready', failing: reasons, checks: report.checks }, 503);
    }
    // Still ready (200): the database answers, requests are only slowed (a saturated pool,
    // locks, timeouts). Taking the instance out would move the load, not remove it.
    if (report.status === 'degraded') return c.json({ status: 'degraded', checks: report.checks });
    return c.json({ status: 'ready' });
  });

  app.get('/', async (c) => {
    const report = await runHealthChecks(all, {
      timeoutMs,
      onError: (check, error) => c.get('log').warn('health check failed', { check, error }),
    });
    const critical = all.filter((check) => check.critical).map((check) => check.name);
    const criticalDown = critical.some((name) => report.checks[name]?.status === 'down');
    // 503 only when a critical check is down, so load balancers act on the same signal
    // as readiness; a down non-critical check reports `degraded` overall.
    const status = criticalDown ? 'down' : report.status === 'down' ? 'degraded' : report.status;
    return c.json(
      { status, time: new Date(clock.now()).toISOString(), checks: report.checks },
      criticalDown ? 503 : 200,
    );
  });

  return app;
}

/**
 * The health function as deployed: database and migrations, the job queue's depth against
 * GATEHOUSE_QUEUE_DEPTH_WARNING / _CRITICAL, the intake routes and what reached them (a
 * provider whose deliveries fail their signature), the SLOs (docs/slo-alerts.md) and this
 * process's faults and load.
 */
export function createHealthFunction(runtime: Runtime): Hono<AppEnv> {
  return createHealthApp({
    ...runtime,
    checks: [
      // On the probe connection, like the database checks: a busy pool is not a backlog.
      queueCheck(runtime.db.probe(PROBE_TIMEOUT_MS), runtime.config.queue),
      webhooksCheck(
        runtime.db.probe(PROBE_TIMEOUT_MS),
        webhookEndpoints(runtime.config),
        { metrics: runtime.config.metrics.enabled },
      ),
      sloCheck(createSloReader(runtime.db, { clock: runtime.clock })),
      processCheck(runtime.faults, runtime.admission),
    ],
  });
}

/**
 * This process: faults it survived (crash-guard.ts) and its request budget (admission.ts).
 * Informational: a past fault or a shed request does not make the process unhealthy now.
 */
export function processCheck(faults: () => FaultCounts, admission: Admission): HealthCheck {
  return {
    name: 'process',
    critical: false,
    run() {
      const counts = faults();
      const load = admission.stats();
      return Promise.resolve({
        status: 'ok',
        unhandled_rejections: counts.unhandledRejections,
        uncaught_errors: counts.uncaughtErrors,
        driver_faults: counts.driverFaults,
        in_flight: load.inFlight,
        in_flight_limit: load.limit,
        buffered_bytes: load.bufferedBytes,
        shed: load.shed.inFlight + load.shed.bytes,
      });
    },
  };
}
