import type { Hono } from 'hono';
import { createHealthApp } from '../functions/health/index.ts';
import { createWebhooksFunction } from '../functions/webhooks/index.ts';
import type { AppEnv } from '../functions/_shared/http/index.ts';
import type { Runtime } from '../functions/_shared/runtime/index.ts';

/**
 * Every edge function, by the name it is deployed under. The local server mounts each at
 * `/functions/v1/<name>`; `supabase/functions/<name>/index.ts` serves the same factory.
 */
export const FUNCTIONS: Readonly<Record<string, (runtime: Runtime) => Hono<AppEnv>>> = {
  health: (runtime) => createHealthApp(runtime),
  webhooks: (runtime) => createWebhooksFunction(runtime),
};
