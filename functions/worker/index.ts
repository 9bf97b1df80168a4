import type { ProcessMetrics } from '../_shared/metrics/process.ts';
import type { Hono } from 'hono';
import { z } from 'zod';
import { requireServiceKey } from '../_shared/auth/service-key.ts';
import type { Clock } from '../_shared/clock.ts';
import type { Config } from '../_shared/config/index.ts';
import type { Db } from '../_shared/db/types.ts';
import {
  type AppEnv,
  createFunctionApp,
  invalidInput,
  ProblemError,
} from '../_shared/http/index.ts';
import { createJobRunner, type JobRunner } from '../_shared/jobs/index.ts';
import type { GatehouseApp } from '../_shared/app.ts';
import type { Logger } from '../_shared/log/index.ts';
import type { Runtime } from '../_shared/runtime/index.ts';

export interface WorkerDeps {
  /** The process's metrics (requests counted and timed); none: nothing recorded. */
  readonly metrics?: ProcessMetrics;
  readonly config: Config;
  readonly db: Db;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The app whose processors the default runner runs (`functions/_app`'s as deployed). */
  readonly app?: GatehouseApp;
  /** Defaults to the platform's runner (every registered job kind, the app's included). */
  readonly runner?: JobRunner;
}

/** Optional JSON body: a shorter budget, or only some queues. */
const runRequest = z.object({
  budget_ms: z.number().int().min(100).optional(),
  queues: z.array(z.string().min(1).max(200)).min(1).max(100).optional(),
}).strict();

/**
 * The `worker` function: `POST /worker` with a service key runs due jobs for a bounded
 * time (GATEHOUSE_WORKER_BUDGET_MS, default 25 s, in small batches) and answers what it
 * did: `{claimed, completed, retried, dead, slow, lost, duration_ms, worker}`.
 * pg_cron calls it every 10 s on Supabase; the local server's scheduler every second.
 *
 * @example
 * curl -X POST -H "Authorization: Bearer $GATEHOUSE_SERVICE_KEY" \
 *   http://127.0.0.1:54321/functions/v1/worker
 */
export function createWorkerApp(deps: WorkerDeps): Hono<AppEnv> {
  const runner = deps.runner ?? createJobRunner(deps);
  const app = createFunctionApp('worker', {
    metrics: deps.metrics,
    logger: deps.logger,
    corsOrigins: [],
    bodyLimitBytes: 16 * 1024,
    now: () => deps.clock.now(),
  });

  app.use('*', requireServiceKey(deps.config.serviceKeys));

  app.post('/', async (c) => {
    const text = await c.req.text();
    let body: unknown = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        throw new ProblemError(400, { detail: 'body must be JSON (or empty)' });
      }
    }
    const parsed = runRequest.safeParse(body);
    if (!parsed.success) throw invalidInput(parsed.error.issues, 'body');
    const started = deps.clock.now();
    const report = await runner.pass({
      budgetMs: parsed.data.budget_ms,
      queues: parsed.data.queues ?? null,
      signal: c.req.raw.signal,
      maintenance: true,
    });
    const durationMs = deps.clock.now() - started;
    Object.assign(c.get('logFields'), report, { duration_ms: durationMs });
    return c.json({ ...report, duration_ms: durationMs, worker: runner.workerId });
  });

  return app;
}

/** The worker function as deployed. */
export function createWorkerFunction(runtime: Runtime): Hono<AppEnv> {
  return createWorkerApp({ ...runtime, runner: runtime.jobs });
}
