import type { Hono } from 'hono';
import { createAdminFunction } from '../functions/admin/index.ts';
import { createApiFunction } from '../functions/api/index.ts';
import { createHealthFunction } from '../functions/health/index.ts';
import { createMetricsFunction } from '../functions/metrics/index.ts';
import { createWebhooksFunction } from '../functions/webhooks/index.ts';
import { createWorkerFunction } from '../functions/worker/index.ts';
import type { AppEnv } from '../functions/_shared/http/index.ts';
import type { Runtime } from '../functions/_shared/runtime/index.ts';

/**
 * Every edge function, by the name it is deployed under. The local server mounts each at
 * `/functions/v1/<name>`; `supabase/functions/<name>/index.ts` serves the same factory.
 */
export const FUNCTIONS: Readonly<Record<string, (runtime: Runtime) => Hono<AppEnv>>> = {
  admin: (runtime) => createAdminFunction(runtime),
  api: (runtime) => createApiFunction(runtime),
  health: (runtime) => createHealthFunction(runtime),
  metrics: (runtime) => createMetricsFunction(runtime),
  webhooks: (runtime) => createWebhooksFunction(runtime),
  worker: (runtime) => createWorkerFunction(runtime),
};
